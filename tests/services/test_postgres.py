"""The same store on a real PostgreSQL: migrations, demo, ledger import, locating, field logging, audit.

`make test` starts a throwaway server (scripts/pgtest.sh) and sets PATROL_TEST_PG_URL. In CI a missing server
is a failure, not a skip.
"""

import csv
import datetime as dt
import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from gis.linref import offset_point
from patrol_app.services import audit, field
from patrol_app.services.records import import_ledger
from patrol_app.services.roads import network
from patrol_app.services.stats import year_totals
from patrol_app.services.users import cli_actor, get_user
from patrol_app.storage import db
from patrol_app.storage.models import Base, Incident, Patrol
from patrol_app.storage.spatial import include_object
from tests.conftest import postgres_demo_store

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    with postgres_demo_store("patrol", dt.date(2026, 11, 1)) as url:
        old = {k: os.environ.get(k) for k in ("PATROL_DB_URL", "PATROL_DATA_DIR")}
        os.environ["PATROL_DB_URL"] = url
        os.environ["PATROL_DATA_DIR"] = str(tmp_path_factory.mktemp("pgdata"))
        yield url
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_migrations_match_models_on_postgres(pg):
    with db.get_engine(pg).connect() as conn:
        assert conn.dialect.name == "postgresql"
        assert (
            compare_metadata(
                MigrationContext.configure(conn, opts={"include_object": include_object}), Base.metadata
            )
            == []
        )


def test_demo_figures_and_audit_chain(pg):
    with db.read_session(pg) as s:
        t = year_totals(s, cli_actor(s), 2025)
        assert (t.patrols, t.vehicle_trips, t.person_trips) == (130, 263, 734)
        assert audit.verify(s).ok


def test_ledger_import_and_field_logging(pg, tmp_path):
    with db.read_session(pg) as s:
        net = network(s)
    lon, lat = offset_point(net, "X002", 2500, 8, "left")
    path = tmp_path / "问题台账.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["发现时间", "违法类型", "路线编号", "桩号", "经度", "纬度", "办结情况"])
        w.writerow(["2025年3月5日", "堆放物品", "", "", f"{lon:.7f}", f"{lat:.7f}", "已办结"])
        w.writerow(["2025/3/6", "超限运输", "X001", "K3+250", "", "", "办理中"])
    with db.session_scope(pg) as s:
        res = import_ledger(s, cli_actor(s), path)
        assert res.ok and res.incidents == 2
    with db.session_scope(pg) as s:
        user = get_user(s, "officer")
        p = field.start_patrol(
            s,
            user,
            field.PatrolStart(
                date=dt.date(2026, 10, 30),
                start_time="08:00",
                roads=["X002"],
                crew_ids=[2, 3],
                vehicle_ids=[1],
            ),
            client_token="pg-1",
        )
        inc = field.log_incident(
            s,
            user,
            {
                "found_at": dt.datetime(2026, 10, 30, 9, 0),
                "type": "stall",
                "lon": lon,
                "lat": lat,
                "patrol_id": p.id,
            },
            client_token="pg-2",
        )
        assert (inc.road_code, inc.stake, inc.side) == ("X002", "K2+500", "left")
        field.end_patrol(s, user, p.id, "11:00", method="roads")
    with db.session_scope(pg) as s:
        assert (
            s.execute(
                select(func.count()).select_from(Incident).where(Incident.client_token == "pg-2")
            ).scalar()
            == 1
        )
        assert s.execute(select(Patrol.status).where(Patrol.client_token == "pg-1")).scalar() == "closed"
        assert audit.verify(s).ok
