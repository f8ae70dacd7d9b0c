"""services.mapdata against a real SQLite store: filters in SQL, charts, road coverage, hotspots,
permissions."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from gis.linref import offset_point
from gis.stakes import format_stake
from patrol_app.services import mapdata
from patrol_app.services.errors import PermissionDenied, ServiceError
from patrol_app.services.mapdata import MapFilter
from patrol_app.services.users import cli_actor, get_user
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import Incident, Patrol, PatrolRoad, User

ROOT = Path(__file__).resolve().parents[2]


def all_incidents(url: str) -> list[Incident]:
    with read_session(url) as s:
        rows = list(s.execute(select(Incident)).scalars())
        for r in rows:
            s.expunge(r)
        return rows


def test_filters_are_applied_in_sql(store):
    rows = all_incidents(store.url)
    assert len(rows) > 100
    year = rows[0].found_at.year
    towns = sorted({r.town for r in rows})
    cases = [
        (MapFilter(), lambda r: True),
        (MapFilter.for_year(year), lambda r: r.found_at.year == year),
        (
            MapFilter(dt.date(year, 3, 1), dt.date(year, 3, 31)),
            lambda r: dt.date(year, 3, 1) <= r.found_at.date() <= dt.date(year, 3, 31),
        ),
        (MapFilter(types=("materials", "building")), lambda r: r.type_code in ("materials", "building")),
        (MapFilter(roads=("X001",)), lambda r: r.road_code == "X001"),
        (MapFilter(statuses=("open",)), lambda r: r.status == "open"),
        (MapFilter(towns=(towns[0],)), lambda r: r.town == towns[0]),
        (
            MapFilter.for_year(year, types=("materials",), roads=("X001", "X002"), statuses=("closed",)),
            lambda r: (
                r.found_at.year == year
                and r.type_code == "materials"
                and r.road_code in ("X001", "X002")
                and r.status == "closed"
            ),
        ),
    ]
    with read_session(store.url) as s:
        actor = cli_actor(s)
        for f, keep in cases:
            expected = sorted(r.id for r in rows if keep(r))
            assert mapdata.incident_count(s, actor, f) == len(expected), f
            pts = mapdata.incident_points(s, actor, f)
            assert list(pts.ids) == expected, f
        one = mapdata.incident_points(s, actor, MapFilter(roads=("X001",)))
    first = next(r for r in rows if r.id == one.ids[0])
    assert (one.lon[0], one.lat[0], one.type_code[0], one.status[0], one.side[0], one.town[0]) == (
        first.lon,
        first.lat,
        first.type_code,
        first.status,
        first.side,
        first.town,
    )
    assert one.day[0] == first.found_at.date() and one.chainage_m[0] == first.chainage_m
    assert one.description[0] == first.description and one.thumbnails == {}  # photo hook: none yet


def test_filter_sql_names_every_filter():
    f = MapFilter(dt.date(2025, 1, 1), dt.date(2025, 12, 31), ("stall",), ("X001",), ("open",), ("越州镇",))
    sql = " AND ".join(str(c) for c in f.incident_conditions())
    for column in ("found_at", "type_code", "road_code", "status", "town"):
        assert f"incidents.{column}" in sql


def test_charts_add_up(store):
    with read_session(store.url) as s:
        actor = cli_actor(s)
        year = max(p.date.year for p in s.execute(select(Patrol)).scalars())
        f = MapFilter.for_year(year)
        ch = mapdata.charts(s, actor, f)
        total = mapdata.incident_count(s, actor, f)
        patrols = list(s.execute(select(Patrol).where(Patrol.date >= dt.date(year, 1, 1))).scalars())
    assert ch.total == total > 0
    for series in (ch.incidents_per_month, ch.by_road, ch.by_town, ch.by_status):
        assert sum(n for _, n in series) == total
    assert [m for m, _ in ch.incidents_per_month] == sorted(m for m, _ in ch.incidents_per_month)
    assert all(m.startswith(f"{year}-") for m, _ in ch.incidents_per_month)
    assert [n for _, n in ch.by_type] == sorted((n for _, n in ch.by_type), reverse=True)
    assert sum(p for _, p, _, _ in ch.patrols_per_month) == len(patrols)
    assert sum(v for _, _, v, _ in ch.patrols_per_month) == sum(p.vehicles for p in patrols)
    assert sum(pp for _, _, _, pp in ch.patrols_per_month) == sum(p.personnel for p in patrols)
    assert mapdata.top([("a", 5), ("b", 3), ("c", 2), ("d", 1)], 2) == [("a", 5), ("b", 3), ("", 3)]


@pytest.fixture
def hand_built(store):
    """The demo network with its records replaced by a few hand-built patrols and incidents."""
    net = store.network()
    with session_scope(store.url) as s:
        actor = cli_actor(s)
        for t in (Incident, PatrolRoad, Patrol):
            s.execute(delete(t))
        now = dt.datetime(2025, 12, 31)

        def patrol(day: dt.date, *roads: str) -> None:
            p = Patrol(date=day, vehicles=2, personnel=5, created_by=actor.id, created_at=now)
            p.roads = [PatrolRoad(seq=i, road_code=c) for i, c in enumerate(roads)]
            s.add(p)

        patrol(dt.date(2025, 3, 1), "X001", "X002")
        patrol(dt.date(2025, 3, 9), "X001")
        patrol(dt.date(2025, 6, 30), "X001", "Y002")
        patrol(dt.date(2024, 12, 31), "X003")  # outside 2025

        def incident(
            code: str,
            chainage: float,
            type_code: str = "materials",
            status: str = "closed",
            day: dt.date = dt.date(2025, 5, 1),
        ) -> None:
            lon, lat = offset_point(net, code, chainage, 6.0, "left")
            s.add(
                Incident(
                    found_at=dt.datetime.combine(day, dt.time(9)),
                    type_code=type_code,
                    road_code=code,
                    chainage_m=chainage,
                    stake=format_stake(chainage),
                    side="left",
                    offset_m=6.0,
                    lon=lon,
                    lat=lat,
                    zone="road_land",
                    town="越州镇",
                    status=status,
                    created_by=actor.id,
                    created_at=now,
                )
            )

        for ch, ty, st in (
            (120, "materials", "open"),
            (260, "stall", "closed"),
            (499.9, "materials", "open"),
            (730, "materials", "closed"),
        ):
            incident("X001", ch, ty, st)  # K0+000–K0+500: 3, K0+500–K1+000: 1
        for ch in (3010, 3200, 3300, 3450, 3499):
            incident("X002", ch, "building")  # K3+000–K3+500: 5
        incident("X002", 3100, "building", day=dt.date(2024, 6, 1))  # outside 2025
        incident("Y002", 40, "trees")
    return net


def test_road_coverage_counts_patrols_per_road(store, hand_built):
    with read_session(store.url) as s:
        cov = mapdata.road_coverage(s, cli_actor(s), hand_built, MapFilter.for_year(2025))
        by = {c.code: c for c in cov}
        assert set(by) == set(hand_built.codes)
        assert (by["X001"].times, by["X001"].last_date) == (3, dt.date(2025, 6, 30))
        assert (by["X002"].times, by["Y002"].times, by["X003"].times) == (1, 1, 0)
        never = [c.code for c in cov if c.times == 0]
        assert never == sorted(set(hand_built.codes) - {"X001", "X002", "Y002"})
        assert cov[: len(never)] == [by[c] for c in never]  # the neglected roads come first
        assert cov[-1].code == "X001"
        whole = {c.code: c.times for c in mapdata.road_coverage(s, cli_actor(s), hand_built, MapFilter())}
        assert whole["X003"] == 1 and whole["X001"] == 3
        march = mapdata.road_coverage(
            s, cli_actor(s), hand_built, MapFilter(dt.date(2025, 3, 1), dt.date(2025, 3, 9), roads=("X001",))
        )
        assert [(c.code, c.times) for c in march] == [("X001", 2)]


def test_hotspots_group_stake_segments_in_sql(store, hand_built):
    with read_session(store.url) as s:
        actor = cli_actor(s)
        spots = mapdata.hotspots(s, actor, MapFilter.for_year(2025), network=hand_built)
        assert [(h.code, h.stakes, h.count, h.open_count, h.top_type) for h in spots] == [
            ("X002", "K3+000–K3+500", 5, 0, "building"),
            ("X001", "K0+000–K0+500", 3, 2, "materials"),
        ]
        # the 2024 incident joins in when the period does
        assert mapdata.hotspots(s, actor, MapFilter(), network=hand_built)[0].count == 6
        # one kilometre segments: X001 K0+000–K1+000 holds all four
        km = mapdata.hotspots(s, actor, MapFilter.for_year(2025), segment_m=1000, min_count=4)
        assert [(h.code, h.from_m, h.to_m, h.count) for h in km] == [
            ("X002", 3000, 4000, 5),
            ("X001", 0, 1000, 4),
        ]
        assert (
            mapdata.hotspots(s, actor, MapFilter.for_year(2025, statuses=("open",)), min_count=2)[0].count
            == 2
        )
        assert mapdata.hotspots(s, actor, MapFilter.for_year(2025), min_count=6) == []
        # clipped to the road's stake range
        r = hand_built.routes["Y002"]
        (y,) = mapdata.hotspots(
            s, actor, MapFilter(roads=("Y002",)), segment_m=1e6, min_count=1, network=hand_built
        )
        assert (y.from_m, y.to_m) == (max(0.0, r.start_m), r.end_m)
        with pytest.raises(ValueError):
            mapdata.hotspots(s, actor, MapFilter(), segment_m=0)


def test_reading_needs_the_view_permission(store):
    net = store.network()
    ghost = User(username="ghost", display_name="ghost", role="officer", active=False)  # a disabled account
    with read_session(store.url) as s:
        for call in (
            lambda: mapdata.incident_points(s, ghost, MapFilter()),
            lambda: mapdata.incident_count(s, ghost, MapFilter()),
            lambda: mapdata.charts(s, ghost, MapFilter()),
            lambda: mapdata.road_coverage(s, ghost, net, MapFilter()),
            lambda: mapdata.hotspots(s, ghost, MapFilter()),
        ):
            with pytest.raises(PermissionDenied):
                call()
        mapdata.incident_count(s, get_user(s, "manager"), MapFilter())  # a manager may look


def test_basemap_from_env():
    assert mapdata.basemap_from_env({}).kind == "none"
    assert mapdata.basemap_from_env({"PATROL_BASEMAP": "amap"}).gcj02
    t = mapdata.basemap_from_env({"PATROL_BASEMAP": "tianditu", "PATROL_TIANDITU_KEY": "k1"})
    assert "tk=k1" in t.tiles[0]
    c = mapdata.basemap_from_env(
        {"PATROL_BASEMAP": "http://tiles.lan/{z}/{x}/{y}.png", "PATROL_BASEMAP_GCJ02": "1"}
    )
    assert c.kind == "custom" and c.gcj02
    for bad in ({"PATROL_BASEMAP": "tianditu"}, {"PATROL_BASEMAP": "bing"}):
        with pytest.raises(ServiceError) as e:
            mapdata.basemap_from_env(bad)
        assert e.value.key == "map.error.basemap"


def test_data_stamp_changes_with_records(store, hand_built):
    with read_session(store.url) as s:
        before = mapdata.data_stamp(s, cli_actor(s))
        assert mapdata.data_stamp(s, cli_actor(s)) == before
    with session_scope(store.url) as s:
        s.execute(delete(Incident).where(Incident.road_code == "Y002"))
        s.add(
            Patrol(
                date=dt.date(2025, 7, 1),
                vehicles=1,
                personnel=2,
                created_by=cli_actor(s).id,
                created_at=dt.datetime(2025, 7, 1),
            )
        )
    with read_session(store.url) as s:
        assert mapdata.data_stamp(s, cli_actor(s)) != before


def test_labels_and_summary_come_from_the_catalogs():
    zh, en = mapdata.map_labels("zh"), mapdata.map_labels("en")
    assert (
        zh["type.materials"] == "堆放物品"
        and en["type.materials"] == "Goods or materials stacked on the road or road land"
    )
    assert zh["class.county"] == "县道" and en["side.left"]
    f = MapFilter(
        dt.date(2025, 1, 1), dt.date(2025, 12, 31), ("materials",), ("X001",), ("open",), ("越州镇",)
    )
    assert mapdata.filter_summary(f, "zh") == (
        "2025-01-01 至 2025-12-31 · 违法类型：堆放物品 · 路线：X001 · 状态：未办结 · 乡镇（街道）：越州镇"
    )
    assert mapdata.filter_summary(MapFilter(), "en") == "All time"


def test_map_modules_never_import_streamlit():
    code = (
        "import sys, gis.maps, gis.mapassets, patrol_app.services.mapdata, patrol_app.maps_cli; "
        "print('streamlit' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "False"
