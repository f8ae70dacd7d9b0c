"""Hand-built records for the report tests, written into a copy of the demo store in years the demo never
touches (2015–2017), so that every figure is known exactly."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import insert, select

#: Years with no demo data (the demo covers the last two years).
Y = 2016


def user(session, username: str):  # type: ignore[no-untyped-def]
    from patrol_app.services.users import get_user

    return get_user(session, username)


def add_patrol(
    session,
    date: dt.date,
    roads: list[str],
    vehicles: int = 2,
    personnel: int = 5,
    km: float = 10.0,
    joint: str = "",
) -> int:  # type: ignore[no-untyped-def]
    from patrol_app.storage.models import Patrol, PatrolRoad

    p = Patrol(
        date=date,
        vehicles=vehicles,
        personnel=personnel,
        km=km,
        crew="张建华、李明",
        joint=joint,
        created_by=user(session, "cli").id,
        created_at=dt.datetime(2020, 1, 1),
        source="test",
    )
    p.roads = [PatrolRoad(seq=i, road_code=c) for i, c in enumerate(roads)]
    session.add(p)
    session.flush()
    return p.id


def add_incidents(session, rows: list[dict[str, Any]]) -> list[int]:  # type: ignore[no-untyped-def]
    """Insert incidents; each row gives at least ``found_at``; the rest has defaults."""
    from patrol_app.storage.models import Incident

    uid = user(session, "cli").id
    full = []
    for r in rows:
        base = {
            "type_code": "materials",
            "road_code": "X001",
            "chainage_m": 1000.0,
            "stake": "K1+000",
            "side": "left",
            "offset_m": 6.5,
            "lon": 103.81,
            "lat": 25.45,
            "zone": "road_land",
            "in_control_zone": False,
            "location_method": "gps",
            "town": "越州镇",
            "description": "路肩堆放砂石",
            "party": "王某某",
            "party_phone": "13812345678",
            "measure": "persuasion",
            "status": "closed",
            "closed_at": None,
            "source": "test",
            "created_by": uid,
            "created_at": dt.datetime(2020, 1, 1),
        }
        base.update(r)
        full.append(base)
    session.execute(insert(Incident), full)
    ids = (
        session.execute(select(Incident.id).where(Incident.source == "test").order_by(Incident.id))
        .scalars()
        .all()
    )
    return list(ids[-len(rows) :])


@pytest.fixture
def hand_built(store):  # type: ignore[no-untyped-def]
    """Year Y: 4 patrols and 10 incidents; year Y-1: 2 patrols and 4 incidents; edges around both year ends."""
    from patrol_app.storage.db import session_scope

    with session_scope() as s:
        add_patrol(s, dt.date(Y, 1, 1), ["X001"], vehicles=2, personnel=5, km=12.5)
        add_patrol(s, dt.date(Y, 3, 15), ["X001", "Y002"], vehicles=3, personnel=6, km=30.0, joint="交警大队")
        add_patrol(s, dt.date(Y, 7, 1), ["Y002"], vehicles=1, personnel=2, km=8.0, joint="交警大队")
        add_patrol(s, dt.date(Y, 12, 31), ["X002"], vehicles=2, personnel=4, km=20.2, joint="镇人民政府")
        add_patrol(s, dt.date(Y - 1, 12, 31), ["X001"], vehicles=4, personnel=8, km=50.0)
        add_patrol(s, dt.date(Y - 1, 6, 1), ["X001"], vehicles=1, personnel=3, km=5.0)
        add_patrol(s, dt.date(Y + 1, 1, 1), ["X001"], vehicles=9, personnel=9, km=99.0)
        add_incidents(
            s,
            [
                {"found_at": dt.datetime(Y, 1, 1, 0, 0), "type_code": "materials", "road_code": "X001"},
                {"found_at": dt.datetime(Y, 1, 20, 9, 30), "type_code": "materials", "road_code": "X001"},
                {
                    "found_at": dt.datetime(Y, 3, 15, 10, 0),
                    "type_code": "stall",
                    "road_code": "Y002",
                    "town": "茨营镇",
                    "measure": "order_correct",
                },
                {
                    "found_at": dt.datetime(Y, 3, 15, 11, 0),
                    "type_code": "building",
                    "road_code": "X001",
                    "measure": "case",
                    "status": "open",
                },
                {
                    "found_at": dt.datetime(Y, 3, 16, 11, 0),
                    "type_code": "trees",
                    "road_code": "Y002",
                    "town": "茨营镇",
                },
                {
                    "found_at": dt.datetime(Y, 7, 1, 15, 0),
                    "type_code": "over_limit",
                    "road_code": "Y002",
                    "measure": "transfer",
                },
                {
                    "found_at": dt.datetime(Y, 7, 2, 8, 0),
                    "type_code": "materials",
                    "road_code": "X002",
                    "status": "open",
                    "in_control_zone": None,
                    "zone": "unknown",
                    "offset_m": None,
                },
                {
                    "found_at": dt.datetime(Y, 12, 31, 23, 59),
                    "type_code": "dumping",
                    "road_code": "X002",
                    "town": "东山镇",
                },
                {
                    "found_at": dt.datetime(Y, 12, 31, 23, 59, 59),
                    "type_code": "stall",
                    "road_code": "X002",
                    "town": "东山镇",
                    "measure": "",
                },
                {
                    "found_at": dt.datetime(Y, 12, 31, 12, 0),
                    "type_code": "materials",
                    "road_code": "X002",
                    "town": "东山镇",
                },
                # the year before and the year after
                {"found_at": dt.datetime(Y - 1, 12, 31, 23, 59, 59), "type_code": "materials"},
                {"found_at": dt.datetime(Y - 1, 5, 1, 8, 0), "type_code": "materials"},
                {"found_at": dt.datetime(Y - 1, 5, 2, 8, 0), "type_code": "stall", "status": "open"},
                {"found_at": dt.datetime(Y - 1, 2, 28, 8, 0), "type_code": "trees"},
                {"found_at": dt.datetime(Y + 1, 1, 1, 0, 0), "type_code": "materials"},
            ],
        )
    return store
