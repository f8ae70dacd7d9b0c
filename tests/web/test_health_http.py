"""/healthz, /readyz and /metrics of a real `patrol serve`, over plain HTTP (no browser)."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import urllib.error
import urllib.request

import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.http


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


@pytest.fixture(scope="module")
def served(tmp_path_factory, demo_db_template):
    data = tmp_path_factory.mktemp("health")
    shutil.copyfile(demo_db_template, data / "patrol.db")
    srv = Server(data).start()
    yield srv
    srv.stop()


def test_healthz(served):
    assert get(served.url + "/healthz")[::2] == (200, "ok")


def test_readyz_ready_then_not_when_migrations_are_behind(served):
    assert get(served.url + "/readyz")[::2] == (200, "ready")

    con = sqlite3.connect(served.data / "patrol.db")
    (head,) = con.execute("SELECT version_num FROM alembic_version").fetchone()
    con.execute("UPDATE alembic_version SET version_num = '0001'")
    con.commit()
    try:
        status, _, body = get(served.url + "/readyz")
        assert status == 503
        assert body == f"migrations not current: database at 0001, code at {head}"
    finally:
        con.execute("UPDATE alembic_version SET version_num = ?", (head,))
        con.commit()
        con.close()
    assert get(served.url + "/readyz")[0] == 200


def test_metrics_count_requests_by_route_and_status(served):
    for _ in range(3):
        get(served.url + "/healthz")
    get(served.url + "/auth/sign-out")  # a redirect, 303

    status, ctype, body = get(served.url + "/metrics")

    assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
    n = int(
        re.search(
            r'^patrol_http_requests_total\{method="GET",route="/healthz",status="200"\} (\d+)$', body, re.M
        ).group(1)
    )
    assert n >= 3
    assert re.search(
        r'^patrol_http_requests_total\{method="GET",route="/auth/sign-out",status="303"\} 1$', body, re.M
    )
    buckets = re.findall(
        r'^patrol_http_request_duration_seconds_bucket\{route="/healthz",le="([^"]+)"\} (\d+)$', body, re.M
    )
    assert buckets[-1] == ("+Inf", str(n))
    assert [int(c) for _, c in buckets] == sorted(int(c) for _, c in buckets)  # cumulative
    assert re.search(r'^patrol_http_request_duration_seconds_count\{route="/healthz"\} \d+$', body, re.M)
    assert re.search(r'^patrol_db_pool_checkedout\{engine="write"\} \d+$', body, re.M)
    assert re.search(r"^patrol_drafts_pending \d+$", body, re.M)
    assert re.search(r"^patrol_websockets_open \d+$", body, re.M)
    # every sample line is well-formed Prometheus text
    for line in body.splitlines():
        assert line.startswith("#") or re.match(r"^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$", line), line


def test_production_server_on_an_empty_store_says_where_things_are(tmp_path):
    """`patrol serve --production` on a new server: no demo, keys made 0600, store and photos named, ready."""
    data = tmp_path / "data"
    srv = Server(data, {"PATROL_PRODUCTION": "1", "PATROL_AUDIT_KEY": None}).start()
    try:
        log = (data / "server.log").read_text()
        assert str(data / "photos") in log and str(data / "patrol.db") in log
        assert (data / "audit.key").stat().st_mode & 0o777 == 0o600
        assert (data / "session.key").stat().st_mode & 0o777 == 0o600
        assert str(data / "audit.key") in log
        assert get(srv.url + "/readyz")[::2] == (200, "ready")
        con = sqlite3.connect(data / "patrol.db")
        users = [u for (u,) in con.execute("SELECT username FROM users")]
        con.close()
        assert set(users) <= {"cli"}  # no demo account: the first page asks for the first administrator
    finally:
        srv.stop()


@pytest.mark.postgres
def test_readyz_says_when_the_database_is_gone(tmp_path):
    import datetime as dt

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from tests.conftest import postgres_demo_store

    with postgres_demo_store("readyz", dt.date(2025, 3, 8)) as url:
        srv = Server(tmp_path / "data", {"PATROL_DB_URL": url}).start()
        try:
            assert get(srv.url + "/readyz")[::2] == (200, "ready")
            admin = create_engine(os.environ["PATROL_TEST_PG_URL"], isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)'))
            admin.dispose()

            status, _, body = get(srv.url + "/readyz")
            assert status == 503
            assert body.startswith("database unreachable: ") and make_url(url).database in body
            assert get(srv.url + "/healthz")[::2] == (200, "ok")  # alive all the same
        finally:
            srv.stop()
