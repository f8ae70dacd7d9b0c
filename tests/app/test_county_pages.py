"""A city account (曲靖市, 530300) in the app: the report rolls up both of its counties (or the one it picks), it
sees its scope's name, and it has no page to log an incident — and the service refuses if it tries."""

from __future__ import annotations

import datetime as dt

import pytest
from shapely.geometry import LineString
from streamlit.testing.v1 import AppTest

from tests.apptest_helpers import run_page

REPORT = "patrol_app/ui/pages/report.py"
DAY = dt.datetime(2026, 3, 2, 9, 0)


@pytest.fixture
def city(store):  # type: ignore[no-untyped-def]
    """The demo (530302) plus Zhanyi (530303) with its own X001 and two incidents on it; a city manager and a
    city officer."""
    from gis.roads import RoadPiece
    from patrol_app.services import auth, field, roads
    from patrol_app.services.users import cli_actor, get_user
    from patrol_app.storage.db import session_scope

    with session_scope() as s:
        cli = cli_actor(s)
        line = LineString([(103.80, 25.66), (103.84, 25.67), (103.88, 25.68)])
        roads.import_roads(
            s, cli, [RoadPiece("X001", line, "沾益测试公路", "county")], "zy.geojson", county="530303"
        )
        auth.add_user(s, cli, "zy_officer", "officer", "pw-zy-officer-1", scope="530303")
        auth.add_user(s, cli, "city_manager", "manager", "pw-city-manager-1", scope="530300")
        auth.add_user(s, cli, "city_officer", "officer", "pw-city-officer-1", scope="530300")
    with session_scope() as s:
        for lon, lat in ((103.84, 25.6702), (103.86, 25.6752)):  # on Zhanyi's X001
            field.log_incident(
                s, get_user(s, "zy_officer"), {"found_at": DAY, "type": "stall", "lon": lon, "lat": lat}
            )
    return store


def run(username: str, page: str | None = None) -> AppTest:
    return run_page(page, as_user=username)


def incidents_metric(at: AppTest) -> int:
    return int({m.label: m.value for m in at.metric}["发现问题（起）"])


def test_city_account_sees_both_counties_in_the_report(city):
    county = run("manager", REPORT)
    county.selectbox(key="report_year").set_value(DAY.year).run()
    assert "report_county" not in county.session_state  # a county account has no county choice
    qilin = incidents_metric(county)

    at = run("city_manager", REPORT)
    assert any("曲靖市汇总账号" in c.value for c in at.caption)  # the scope's name, from the division table
    at.selectbox(key="report_year").set_value(DAY.year).run()
    assert incidents_metric(at) == qilin + 2  # 全部: both counties
    box = at.selectbox(key="report_county")
    assert box.options[:3] == ["全部", "麒麟区", "沾益区"]
    box.set_value("530303").run()
    assert not at.exception, at.exception
    assert incidents_metric(at) == 2


def test_city_account_cannot_log_an_incident(city):
    from patrol_app.domain.rules import Perm
    from patrol_app.services import field
    from patrol_app.services.errors import PermissionDenied
    from patrol_app.services.users import get_user, may
    from patrol_app.storage.db import session_scope

    at = run("city_officer")
    assert not at.exception
    with session_scope() as s:
        officer = get_user(s, "city_officer")
        assert not may(officer, Perm.LOG_INCIDENT) and may(officer, Perm.VIEW)  # no incident page in its menu
        with pytest.raises(PermissionDenied):
            field.log_incident(s, officer, {"found_at": DAY, "type": "stall", "lon": 103.84, "lat": 25.6702})


def test_a_city_administrator_makes_accounts_for_its_counties(city):
    """The administrator page offers a city's administrator its own scope and each of its counties; a county's
    administrator gets no choice (its accounts are its county's)."""
    from patrol_app.services import auth
    from patrol_app.services.users import cli_actor, get_user
    from patrol_app.storage.db import read_session, session_scope

    with session_scope() as s:
        auth.add_user(s, cli_actor(s), "city_admin", "admin", "pw-city-admin-12", scope="530300")
    assert "au_scope" not in run("admin", "patrol_app/ui/pages/admin.py").session_state
    at = run("city_admin", "patrol_app/ui/pages/admin.py")
    box = at.selectbox(key="au_scope")
    assert box.options[:3] == ["曲靖市（530300）", "麒麟区（530302）", "沾益区（530303）"]
    at.text_input(key="au_username").input("zy_leader")
    at.text_input(key="au_display").input("沾益中队长")
    at.selectbox(key="au_role").set_value("squad_leader")
    box.set_value("530303")
    at.text_input(key="au_pw").input("pw-zy-leader-123")
    at.text_input(key="au_pw2").input("pw-zy-leader-123")
    at.button(key="FormSubmitter:admin_add_user-创建账号").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with read_session() as s:
        assert get_user(s, "zy_leader").adcode == "530303"
