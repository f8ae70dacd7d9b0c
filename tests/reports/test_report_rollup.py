"""The rollup on hand-built records: counts, closure rate, year boundaries in local time, previous-year change,
date ranges; and that it is SQL aggregates (a constant number of queries, whatever the number of rows)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event

from patrol_app.reports.report import STABLE_KEYS, build_report, report_json, resolve_period
from patrol_app.reports.rollup import Period, change, rollup
from patrol_app.services.errors import PermissionDenied
from patrol_app.storage.db import get_engine, read_session, session_scope
from tests.reports.conftest import Y, add_incidents, user


def year(y: int):  # type: ignore[no-untyped-def]
    with read_session() as s:
        return rollup(s, Period.year(y))


def test_patrol_figures(hand_built):
    r = year(Y)
    assert (r.patrols, r.vehicle_trips, r.person_trips) == (4, 8, 17)
    assert r.km_patrolled == pytest.approx(70.7)
    assert r.joint_operations == 3
    assert r.joint_by_unit == {"交警大队": 2, "镇人民政府": 1}
    assert r.patrols_by_road == {"X001": 2, "Y002": 2, "X002": 1}
    assert r.roads_covered == ["X001", "X002", "Y002"]
    assert r.classes_patrolled == ["county", "township"]
    months = {k: m.patrols for k, m in r.months.items()}
    assert list(months) == [f"{m:02d}" for m in range(1, 13)]
    assert months == {**{f"{m:02d}": 0 for m in range(1, 13)}, "01": 1, "03": 1, "07": 1, "12": 1}


def test_incident_figures_and_closure_rate(hand_built):
    r = year(Y)
    assert r.incidents_total == 10
    assert (r.incidents_closed, r.incidents_open) == (8, 2)
    assert r.closure_rate == pytest.approx(0.8)
    assert r.incidents_by_type == {
        "materials": 4,
        "stall": 2,
        "dumping": 1,
        "digging": 0,
        "building": 1,
        "trees": 1,
        "over_limit": 1,
        "other": 0,
    }
    assert r.closed_by_type["materials"] == 3 and r.closed_by_type["building"] == 0
    assert r.incidents_by_road == {"X002": 4, "X001": 3, "Y002": 3}
    assert r.incidents_by_town == {"越州镇": 5, "东山镇": 3, "茨营镇": 2}
    assert r.incidents_by_measure == {"persuasion": 6, "order_correct": 1, "case": 1, "transfer": 1, "": 1}
    assert (r.incidents_on_road_land, r.incidents_in_control_zone) == (9, 0)  # road land is not the zone
    assert {k: n for k, n in r.incidents_by_month.items() if n} == {"01": 2, "03": 3, "07": 2, "12": 3}


def test_year_boundaries_are_local_dates(hand_built):
    """31 Dec 23:59:59 belongs to the year; 1 Jan 00:00 to the next; a patrol on 31 Dec to its year."""
    prev, nxt = year(Y - 1), year(Y + 1)
    assert (prev.patrols, prev.vehicle_trips, prev.person_trips, prev.incidents_total) == (2, 5, 11, 4)
    assert (nxt.patrols, nxt.incidents_total) == (1, 1)
    assert year(Y).incidents_by_month["12"] == 3  # 12:00, 23:59 and 23:59:59 on 31 December
    assert year(Y).incidents_by_month["01"] == 2  # 00:00 on 1 January counts in January


def test_a_utc_timestamp_lands_in_the_local_year(hand_built, monkeypatch):
    """16:30 UTC on 31 Dec is 00:30 on 1 Jan in Qilin (UTC+8): the next year's incident."""
    from patrol_app.services.records import parse_datetime

    utc = dt.datetime(Y + 1, 12, 31, 16, 30, tzinfo=ZoneInfo("UTC"))
    local = parse_datetime(utc)
    assert local == dt.datetime(Y + 2, 1, 1, 0, 30)
    monkeypatch.setenv("PATROL_TZ", "UTC")
    as_utc = parse_datetime(utc)
    assert as_utc == dt.datetime(Y + 1, 12, 31, 16, 30)
    with session_scope() as s:
        add_incidents(s, [{"found_at": local}])
    assert year(Y + 2).incidents_total == 1
    assert year(Y + 1).incidents_total == 1  # only the hand-built one of 1 January


def test_previous_year_and_change(hand_built):
    with read_session() as s:
        cur, prev = rollup(s, Period.year(Y)), rollup(s, Period.year(Y).previous())
    assert prev.period == Period.year(Y - 1)
    ch = change(cur, prev)
    assert ch["patrols"] == {"current": 4, "previous": 2, "change": 2, "change_pct": 1.0}
    assert ch["person_trips"]["change"] == 6
    assert ch["incidents_total"] == {"current": 10, "previous": 4, "change": 6, "change_pct": 1.5}
    assert ch["closure_rate"]["previous"] == pytest.approx(0.75)
    assert ch["closure_rate"]["change"] == pytest.approx(0.05)
    assert ch["closure_rate"]["change_pct"] is None


def test_date_range_and_its_previous_period(hand_built):
    with read_session() as s:
        r = rollup(s, Period(dt.date(Y, 3, 1), dt.date(Y, 7, 1)))
    assert (r.patrols, r.incidents_total) == (2, 4)  # 15 Mar and 1 Jul patrols; incidents up to 1 Jul 23:59
    assert list(r.months) == ["03", "04", "05", "06", "07"]
    assert Period(dt.date(Y, 2, 29), dt.date(Y, 3, 31)).previous() == Period(
        dt.date(Y - 1, 2, 28), dt.date(Y - 1, 3, 31)
    )
    across = Period(dt.date(Y, 12, 1), dt.date(Y + 1, 1, 31))
    with read_session() as s:
        r = rollup(s, across)
    assert list(r.months) == [f"{Y}-12", f"{Y + 1}-01"]
    assert r.incidents_by_month == {f"{Y}-12": 3, f"{Y + 1}-01": 1}
    with pytest.raises(ValueError):
        Period(dt.date(Y, 3, 1), dt.date(Y, 2, 1))


def test_resolve_period():
    assert resolve_period(2021) == Period.year(2021)
    assert resolve_period(today=dt.date(2022, 2, 21)) == Period.year(2021)
    assert resolve_period(None, dt.date(2021, 3, 1), None) == Period(
        dt.date(2021, 3, 1), dt.date(2021, 12, 31)
    )
    assert resolve_period(None, None, dt.date(2021, 6, 30)) == Period(
        dt.date(2021, 1, 1), dt.date(2021, 6, 30)
    )
    assert resolve_period(2021, None, dt.date(2021, 6, 30)) == Period(
        dt.date(2021, 1, 1), dt.date(2021, 6, 30)
    )


def test_no_incidents_gives_a_null_closure_rate(store):
    with read_session() as s:
        rep = build_report(s, user(s, "manager"), Period.year(1999))
    data = report_json(rep)
    assert data["incidents_total"] == 0 and data["closure_rate"] is None
    assert data["narrative_zh"] == "1999年暂无巡查和问题记录。"


def test_json_contract(hand_built):
    with read_session() as s:
        data = report_json(build_report(s, user(s, "reviewer"), Period.year(Y)))
    assert tuple(data)[: len(STABLE_KEYS)] == STABLE_KEYS
    assert data["year"] == Y
    assert (data["patrols"], data["vehicle_trips"], data["person_trips"]) == (4, 8, 17)
    assert data["incidents_by_type"]["materials"] == 4
    assert data["incidents_by_road"] == {"X001": 3, "X002": 4, "Y002": 3}
    assert list(data["incidents_by_month"]) == [f"{m:02d}" for m in range(1, 13)]
    assert (data["incidents_closed"], data["incidents_open"], data["closure_rate"]) == (8, 2, 0.8)
    assert data["previous"]["patrols"] == 2 and data["change"]["patrols"]["change"] == 2
    assert (data["roads_covered"], data["roads_patrolled"]) == (3, ["X001", "X002", "Y002"])
    assert data["road_classes_patrolled"] == ["county", "township"]
    assert data["change"]["closure_rate"] == {
        "current": 0.8,
        "previous": 0.75,
        "change": 0.05,
        "change_pct": None,
    }
    assert data["narrative_zh"].startswith(f"{Y}年共出动车辆8台次，出动人员17人次")


def test_the_report_needs_the_export_permission(store):
    with read_session() as s, pytest.raises(PermissionDenied):
        build_report(s, user(s, "officer"), Period.year(Y))


def test_rollup_is_a_fixed_number_of_aggregate_queries(hand_built):
    """GROUP BY in the database: the demo year (hundreds of records) takes as many queries as an empty year."""
    from sqlalchemy.engine import Engine

    seen: list[str] = []

    def count(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)  # every engine: the session's is built elsewhere
    try:
        with read_session() as s:
            demo_year = dt.date.today().year - 1
            seen.clear()
            r = rollup(s, Period.year(demo_year))
            n_busy = len(seen)
            seen.clear()
            rollup(s, Period.year(1990))
            n_empty = len(seen)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert r.incidents_total > 100
    assert 0 < n_empty <= n_busy <= 15


def test_sqlite_incident_scans_read_the_covering_index_alone(hand_built):
    """On SQLite both incident scans of a period read the report's covering index and never the table, for a
    period holding a good part of the incidents (a demo year: about half the store) and a small one (year Y:
    ten of them)."""
    from sqlalchemy.engine import Engine

    engine = get_engine()
    if engine.dialect.name != "sqlite":
        pytest.fail("this test needs the SQLite store")
    demo_year = dt.date.today().year - 1
    plans: list[str] = []

    def explain(conn, cursor, statement, parameters, *args):  # type: ignore[no-untyped-def]
        if "FROM incidents" in statement and "GROUP BY" in statement:
            rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            plans.append(" / ".join(str(r[-1]) for r in rows))

    event.listen(Engine, "before_cursor_execute", explain)  # every engine: the session's is built elsewhere
    try:
        with read_session() as s:  # as every report reads: within a county (or a city's counties)
            big = rollup(s, Period.year(demo_year), county="530302")
            small = rollup(s, Period.year(Y), county="5303")
    finally:
        event.remove(Engine, "before_cursor_execute", explain)
    assert big.incidents_total > 100 and small.incidents_total == 10
    assert len(plans) == 4, plans
    assert all("USING COVERING INDEX ix_incidents_report" in p for p in plans), plans


def test_sqlite_joins_patrols_to_their_roads_by_key(hand_built):
    """The patrols-by-road count reads the roads of each patrol once and finds the patrol by its key: grouping by
    the bare county column once made SQLite scan every patrol's roads for every patrol (24 s at 100,000)."""
    from sqlalchemy.engine import Engine

    plans: list[str] = []

    def explain(conn, cursor, statement, parameters, *args):  # type: ignore[no-untyped-def]
        if "patrol_road_pairs" in statement and "GROUP BY" in statement:
            rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
            plans.append(" / ".join(str(r[-1]) for r in rows))

    event.listen(Engine, "before_cursor_execute", explain)
    try:
        with read_session() as s:
            rollup(s, Period.year(Y), county="530302")
            rollup(s, Period.year(Y), county="5303")
    finally:
        event.remove(Engine, "before_cursor_execute", explain)
    assert len(plans) == 2, plans
    assert all("SEARCH patrols USING INTEGER PRIMARY KEY" in p for p in plans), plans
