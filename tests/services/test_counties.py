"""Several counties in one store: two counties that both have a road X001, their records kept apart, and a city
account that reads the roll-up of both but writes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from shapely.geometry import LineString
from sqlalchemy import func, select

from gis.roads import RoadPiece
from patrol_app.io.exports import ExportFilter
from patrol_app.io.exports import count as export_count
from patrol_app.reports.report import build_report
from patrol_app.reports.rollup import Period
from patrol_app.services import auth, field, mapdata, registry, roads, stats
from patrol_app.services.errors import PermissionDenied, ServiceError
from patrol_app.services.users import cli_actor, get_user
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import Incident, RoadPieceRow

QILIN, ZHANYI, CITY = "530302", "530303", "530300"
DAY = dt.datetime(2026, 3, 2, 9, 0)
#: Zhanyi's own X001, north of Qilin's network (invented for the test, like the demo roads)
ZHANYI_X001 = LineString([(103.80, 25.66), (103.84, 25.67), (103.88, 25.68)])


@pytest.fixture
def two_counties(store):  # type: ignore[no-untyped-def]
    """The demo (Qilin, 530302) plus Zhanyi (530303) with its own X001, an officer and a manager each, and
    a city (曲靖市, 530300) manager and officer."""
    with session_scope() as s:
        cli = cli_actor(s)
        roads.import_roads(
            s,
            cli,
            [RoadPiece("X001", ZHANYI_X001, "沾益测试公路", "county")],
            "zhanyi.geojson",
            county=ZHANYI,
        )
        for name, role, scope in (
            ("zy_officer", "officer", ZHANYI),
            ("zy_manager", "manager", ZHANYI),
            ("city_manager", "manager", CITY),
            ("city_officer", "officer", CITY),
        ):
            auth.add_user(s, cli, name, role, "pw-" + name + "-123456", scope=scope)
    return store


def log(s, username: str, lon: float, lat: float) -> Incident:  # type: ignore[no-untyped-def]
    raw = {"found_at": DAY, "type": "stall", "lon": lon, "lat": lat}
    return field.log_incident(s, get_user(s, username), raw)


def test_same_code_in_two_counties_is_located_and_kept_per_county(two_counties):
    qilin_net = two_counties.network()
    with read_session() as s:
        zhanyi_net = roads.network(s, ZHANYI)
    assert "X001" in qilin_net.routes and zhanyi_net.codes == ["X001"]
    assert zhanyi_net.routes["X001"].name == "沾益测试公路" != qilin_net.routes["X001"].name
    with session_scope() as s:
        inc = log(s, "zy_officer", 103.84, 25.6702)  # on Zhanyi's X001
        assert (inc.adcode, inc.road_code) == (ZHANYI, "X001")
        zy_id = inc.id
        # the same point is nowhere near the network a Qilin officer locates on
        with pytest.raises(ServiceError):
            log(s, "officer", 103.84, 25.6702)
    with read_session() as s:
        rows = s.execute(select(RoadPieceRow.adcode, func.count()).group_by(RoadPieceRow.adcode)).all()
        assert dict(rows)[ZHANYI] == 1 and dict(rows)[QILIN] > 1
        qilin_mgr, zy_mgr = get_user(s, "manager"), get_user(s, "zy_manager")
        year = RecordFilter_year()
        qilin_n = mapdata.incident_count(s, qilin_mgr, year)
        assert mapdata.incident_count(s, zy_mgr, year) == 1
        # the roll-up: the city sees both counties, or one it chooses
        city = get_user(s, "city_manager")
        assert mapdata.incident_count(s, city, year) == qilin_n + 1
        assert mapdata.incident_count(s, city, year.replace(county=ZHANYI)) == 1
        assert mapdata.incident_count(s, city, year.replace(county=QILIN)) == qilin_n
        # a county account cannot read another county, not even by asking for it
        with pytest.raises(PermissionDenied):
            mapdata.incident_count(s, qilin_mgr, year.replace(county=ZHANYI))
        with pytest.raises(PermissionDenied):
            mapdata.incident_count(s, city, year.replace(county="530402"))  # outside the city
        with pytest.raises(PermissionDenied):
            field.get_incident(s, qilin_mgr, zy_id)
        assert field.get_incident(s, city, zy_id).id == zy_id
        assert [row[0].id for row in field.open_incidents(s, zy_mgr)] == [zy_id]
        assert zy_id not in {row[0].id for row in field.open_incidents(s, qilin_mgr)}


def RecordFilter_year():  # type: ignore[no-untyped-def]
    return mapdata.MapFilter.for_year(DAY.year)


def test_reports_exports_and_overview_roll_up_for_the_city(two_counties):
    with session_scope() as s:
        log(s, "zy_officer", 103.84, 25.6702)
        log(s, "zy_officer", 103.86, 25.6752)
    period = Period.year(DAY.year)
    with read_session() as s:
        qilin = build_report(s, get_user(s, "manager"), period).current
        zhanyi = build_report(s, get_user(s, "zy_manager"), period).current
        city = build_report(s, get_user(s, "city_manager"), period).current
        one = build_report(s, get_user(s, "city_manager"), period, county=ZHANYI).current
        assert zhanyi.incidents_total == 2 and zhanyi.patrols == 0
        assert city.incidents_total == qilin.incidents_total + 2 and city.patrols == qilin.patrols
        assert one.incidents_total == 2 and one.network_roads == ["X001"]
        # the roll-up keeps each county's X001 apart (every county has one): a row per road and county
        assert city.incidents_by_road["X001（沾益区）"] == 2 and "X001" not in city.incidents_by_road
        assert city.incidents_by_road.get("X001（麒麟区）", 0) == qilin.incidents_by_road.get("X001", 0)
        assert "X001（沾益区）" in city.network_roads and "X001（麒麟区）" in city.network_roads
        assert (
            city.road_names["X001（沾益区）"] == "沾益测试公路"
            and city.road_classes["X001（沾益区）"] == "county"
        )
        with pytest.raises(PermissionDenied):
            build_report(s, get_user(s, "manager"), period, county=ZHANYI)
        flt = ExportFilter.year(DAY.year)
        assert export_count(s, get_user(s, "zy_manager"), "incidents", flt) == 2
        assert (
            export_count(s, get_user(s, "city_manager"), "incidents", flt)
            == export_count(s, get_user(s, "manager"), "incidents", flt) + 2
        )
        tot = stats.year_totals(s, get_user(s, "city_manager"), DAY.year)
        assert tot.incidents == city.incidents_total
        assert stats.county_choices(s, get_user(s, "city_manager"))[:2] == [QILIN, ZHANYI]
        assert stats.county_choices(s, get_user(s, "manager")) == []


def test_city_accounts_write_nothing_and_county_accounts_only_their_own(two_counties):
    with session_scope() as s:
        with pytest.raises(PermissionDenied):
            log(s, "city_officer", 103.84, 25.6702)
        with pytest.raises(PermissionDenied):
            registry.add_vehicle(s, get_user(s, "city_manager"), "云D12345")
        zy = log(s, "zy_officer", 103.84, 25.6702)
        zy_id = zy.id
        # another county's officer cannot change it; the city cannot either
        for who in ("officer", "city_officer"):
            with pytest.raises(PermissionDenied):
                field.update_status(s, get_user(s, who), zy_id, "closed", "x")
    with read_session() as s:
        assert s.get(Incident, zy_id).status == "open"
        # accounts: a county sees only its own; a city's admin may not create accounts outside the city
        names = {u.username for u in auth.list_users(s, cli_actor(s))}
        assert "zy_officer" not in names and "officer" in names
    with session_scope() as s:
        cli = cli_actor(s)
        with pytest.raises(ServiceError):
            auth.add_user(s, cli, "bad_scope", "officer", "pw-123456789", scope="5303")
        # Zhanyi's personnel and vehicles are stamped with its county; Qilin's registry does not list them
        zy_admin = auth.add_user(s, cli, "zy_admin", "admin", "pw-zy-admin-123", scope=ZHANYI)
        registry.add_vehicle(s, zy_admin, "云D54321")
        assert [v.plate for v in registry.list_vehicles(s, zy_admin)] == ["云D54321"]
        assert "云D54321" not in {v.plate for v in registry.list_vehicles(s, get_user(s, "admin"))}


def test_audit_stays_verifiable(two_counties):
    from patrol_app.services import audit

    with session_scope() as s:
        log(s, "zy_officer", 103.84, 25.6702)
    with read_session() as s:
        assert audit.verify(s).ok


def test_devices_exports_and_documents_draw_each_countys_own_roads(two_counties):
    """Route codes repeat between counties: the network a device downloads, a patrol's exported line and the
    map are those of the record's (or the user's) county, never the configured county's road of that code."""
    import json

    from patrol_app.io.export_writers import Geometry
    from patrol_app.services.users import home_county

    with read_session() as s:
        zy, city, qilin = get_user(s, "zy_officer"), get_user(s, "city_manager"), get_user(s, "officer")
        assert (home_county(zy), home_county(city), home_county(qilin)) == (ZHANYI, None, QILIN)
        doc = json.loads(roads.device_geojson(s, home_county(zy))[0])
        assert [(f["properties"]["code"], f["properties"]["name"]) for f in doc["features"]] == [
            ("X001", "沾益测试公路")
        ]
        qilin_doc = json.loads(roads.device_geojson(s, home_county(qilin))[0])
        assert len(qilin_doc["features"]) > 1 and "沾益测试公路" not in json.dumps(
            qilin_doc, ensure_ascii=False
        )
        geo = Geometry(s, "patrols")
        zy_line, qilin_line = geo.shape((ZHANYI, ("X001",))), geo.shape((QILIN, ("X001",)))
        assert zy_line.distance(ZHANYI_X001) < 1e-9 and qilin_line.distance(ZHANYI_X001) > 0.01
