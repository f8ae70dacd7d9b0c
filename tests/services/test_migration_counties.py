"""Migration 0010 moves an existing single-county store in place (SQLite and PostgreSQL): every record and account
gets the configured county, road settings are keyed by (adcode, code), the audit trail still verifies; and back."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic import command

from patrol_app.storage import db
from patrol_app.storage.migrate import alembic_config

TABLES = ("users", "personnel", "vehicles", "road_pieces", "import_batches", "patrols", "incidents")


def _columns(url: str, table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(db.get_engine(url)).get_columns(table)}


def _counties(url: str) -> dict[str, set[str]]:
    with db.get_engine(url).connect() as c:
        return {t: set(c.execute(sa.text(f"SELECT DISTINCT adcode FROM {t}")).scalars()) for t in TABLES}


def _verify(url: str) -> bool:
    from patrol_app.services import audit

    with db.read_session(url) as s:
        return audit.verify(s).ok


def _move_back_and_forth(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from patrol_app.services.roads import set_half_width
    from patrol_app.services.users import get_user

    with db.session_scope(url) as s:
        set_half_width(s, get_user(s, "admin"), "X001", 15.0)  # a road setting to carry over
    assert _counties(url)["incidents"] == {"530302"}
    assert _verify(url)
    cfg = alembic_config(url)
    with db.get_engine(url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    db.get_engine(url).dispose()
    assert all("adcode" not in _columns(url, t) for t in TABLES)
    with db.get_engine(url).connect() as c:  # the downgrade recorded each record's state without its county
        assert c.execute(
            sa.text("SELECT count(*) FROM audit_log WHERE action = 'county.removed'")
        ).scalar_one()
    # an existing single-county store of another county, moved in place
    monkeypatch.setenv("PATROL_COUNTY", "530303")
    with db.get_engine(url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    db.get_engine(url).dispose()
    assert _counties(url) == {t: {"530303"} for t in TABLES if t != "import_batches"} | {
        "import_batches": set()
    }
    with db.get_engine(url).connect() as c:
        assert c.execute(sa.text("SELECT adcode, code, half_road_land_m FROM road_settings")).all() == [
            ("530303", "X001", 15.0)
        ]
        n = c.execute(sa.text("SELECT count(*) FROM audit_log WHERE action = 'county.assigned'")).scalar_one()
        assert n > 100  # one entry per record, holding its county
    assert _verify(url)
    # the moved store works: its county's network with the road setting, its records in its reports
    from patrol_app.reports.report import build_report
    from patrol_app.reports.rollup import Period
    from patrol_app.services.roads import network

    with db.read_session(url) as s:
        assert network(s, "530303").routes["X001"].half_road_land_m == 15.0
        manager = get_user(s, "manager")
        assert manager.adcode == "530303"
        year = dt.date.today().year - 1
        assert build_report(s, manager, Period.year(year)).current.incidents_total > 0


def test_move_a_store_in_place_on_sqlite(store, monkeypatch):
    _move_back_and_forth(store.url, monkeypatch)


def test_downgrade_refuses_a_store_of_several_counties(store):
    with db.get_engine(store.url).begin() as c:
        c.execute(sa.text("UPDATE vehicles SET adcode = '530303' WHERE id = (SELECT min(id) FROM vehicles)"))
    cfg = alembic_config(store.url)
    with pytest.raises(SystemExit, match="several counties"), db.get_engine(store.url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    assert "adcode" in _columns(store.url, "vehicles")


def test_move_a_store_in_place_on_postgres(monkeypatch):
    from tests.conftest import postgres_demo_store

    with postgres_demo_store("county_mig", dt.date.today()) as url:
        _move_back_and_forth(url, monkeypatch)
