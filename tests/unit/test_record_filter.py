"""The one record filter (patrol_app.services.record_filter): its WHERE terms, run on a real SQLite file."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from patrol_app.clock import BadDate
from patrol_app.io.exports import ExportFilter
from patrol_app.reports.rollup import Period
from patrol_app.services.mapdata import MapFilter
from patrol_app.services.record_filter import RecordFilter
from patrol_app.storage.models import Base, Incident, Patrol, PatrolRoad, User


def _incident(found: dt.datetime, **kw) -> Incident:  # type: ignore[no-untyped-def]
    base = dict(
        found_at=found,
        type_code="materials",
        road_code="X001",
        chainage_m=1000.0,
        stake="K1+000",
        side="left",
        lon=103.8,
        lat=25.5,
        zone="road_land",
        status="open",
        town="越州镇",
        created_by=1,
        created_at=dt.datetime(2020, 1, 1),
    )
    base.update(kw)
    return Incident(**base)


@pytest.fixture
def session(tmp_path):  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite:///{tmp_path / 'f.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        s.add(User(id=1, username="u", role="manager", created_at=dt.datetime(2020, 1, 1)))
        s.add_all(
            [
                _incident(dt.datetime(2021, 3, 1, 0, 0)),
                _incident(dt.datetime(2021, 3, 31, 23, 59), type_code="stall", status="closed"),
                _incident(dt.datetime(2021, 4, 1, 0, 0), road_code="Y002", town="东山镇"),
                _incident(dt.datetime(2022, 1, 1, 8, 0), import_batch_id=None),
            ]
        )
        for day, roads in ((dt.date(2021, 3, 1), ["X001"]), (dt.date(2021, 4, 1), ["Y002", "X001"])):
            p = Patrol(date=day, vehicles=1, personnel=2, created_by=1, created_at=dt.datetime(2020, 1, 1))
            p.roads = [PatrolRoad(seq=i, road_code=c) for i, c in enumerate(roads)]
            s.add(p)
        s.add(
            Patrol(
                date=dt.date(2022, 1, 2),
                vehicles=1,
                personnel=2,
                created_by=1,
                created_at=dt.datetime(2020, 1, 1),
            )
        )
        s.commit()
        yield s
    engine.dispose()


def n_incidents(s: Session, f: RecordFilter) -> int:
    return s.execute(select(func.count()).select_from(Incident).where(*f.incident_conditions())).scalar_one()


def n_patrols(s: Session, f: RecordFilter) -> int:
    return s.execute(select(func.count()).select_from(Patrol).where(*f.patrol_conditions())).scalar_one()


def test_where_terms(session):  # type: ignore[no-untyped-def]
    s = session
    assert n_incidents(s, RecordFilter()) == 4 and n_patrols(s, RecordFilter()) == 3
    march = RecordFilter(
        dt.date(2021, 3, 1), dt.date(2021, 3, 31)
    )  # both ends included, to 23:59 of the last
    assert n_incidents(s, march) == 2 and n_patrols(s, march) == 1
    assert n_incidents(s, RecordFilter.for_year(2021)) == 3 and n_patrols(s, RecordFilter.year(2021)) == 2
    assert n_incidents(s, RecordFilter(types=("stall",))) == 1
    assert n_incidents(s, RecordFilter(statuses=("open",))) == 3
    assert n_incidents(s, RecordFilter(towns=("东山镇",))) == 1
    assert n_incidents(s, RecordFilter(roads=("Y002",))) == 1
    assert n_patrols(s, RecordFilter(roads=("Y002",))) == 1  # a patrol on any of the chosen roads
    assert n_patrols(s, RecordFilter(roads=("Y002",)).dates_only()) == 3
    # types, statuses and towns do not apply to patrols
    assert (
        n_patrols(s, RecordFilter.for_year(2021, types=("stall",), statuses=("closed",), towns=("x",))) == 2
    )


def test_text_dates_go_through_the_one_parser():
    f = RecordFilter("2021年3月1日", "２０２１/3/31")
    assert (f.date_from, f.date_to) == (dt.date(2021, 3, 1), dt.date(2021, 3, 31))
    with pytest.raises(BadDate):
        RecordFilter("1.3.2021")
    with pytest.raises(ValueError, match="ends before"):
        RecordFilter(dt.date(2021, 3, 2), dt.date(2021, 3, 1))


def test_every_read_path_uses_it(session):  # type: ignore[no-untyped-def]
    assert MapFilter is RecordFilter and issubclass(ExportFilter, RecordFilter)
    # the command line's one --status is the same filter as statuses=(status,)
    e = ExportFilter.year(2021, status="closed")
    assert e.statuses == ("closed",) and n_incidents(session, e) == 1
    assert e.audit_dict() == {"date_from": "2021-01-01", "date_to": "2021-12-31", "status": "closed"}
    p = Period(dt.date(2021, 3, 1), dt.date(2021, 3, 31)).filter(batch=7)
    assert p == RecordFilter(dt.date(2021, 3, 1), dt.date(2021, 3, 31), batch=7)
