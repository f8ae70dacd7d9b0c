"""A local cluster of its own on free loopback ports (scripts/cluster.py): PostgreSQL primary + streaming hot
standby, two app servers, nginx with sticky routing by cookie, the demo loaded.

- reads marked ``stale_ok`` (reports, maps, exports) go to the standby, everything else to the primary, and to the
  primary while the standby is down;
- GET /api/v1/report reads the replica: with the standby's replay paused, a new incident is in the primary's list
  and not yet in the report; once replay resumes it is;
- the short load + fault test (scripts/loadtest.py): 50 users log patrols and incidents through nginx while
  managers load reports, app1 is SIGKILLed and restarted, the standby stopped and restarted; every acknowledged
  record is in the primary exactly once, the standby catches up, the audit chain verifies;
- ``cluster.py down`` leaves nothing running.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from cluster import NAMES, Cluster, _alive, pg_bin  # noqa: E402  (scripts/ is not a package)

pytestmark = pytest.mark.cluster
LOAD_SECONDS = 45


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _free_ports() -> tuple[int, int]:
    """A base port with the next three free too (primary, standby, app1, app2), and a free proxy port."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000)
        if all(_free(base + i) for i in range(5)):
            return base, base + 4
    pytest.fail("no free loopback ports")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    try:
        pg_bin()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"{exc}: `make system-deps` installs it")
    if not shutil.which("nginx") and not Path("/usr/sbin/nginx").exists():
        pytest.fail("nginx not found: `make system-deps` installs Debian's nginx-light")
    base, proxy = _free_ports()
    c = Cluster(tmp_path_factory.mktemp("cluster") / "c")
    c.up(base, proxy)
    yield Cluster(c.dir)
    Cluster(c.dir).down()


@pytest.fixture
def on_cluster(cluster, monkeypatch):
    """This process configured as an app server of the cluster (primary + replica URLs, shared data dir)."""
    monkeypatch.setenv("PATROL_DB_URL", cluster.url("primary"))
    monkeypatch.setenv("PATROL_DB_READ_URL", cluster.url("standby"))
    monkeypatch.setenv("PATROL_DATA_DIR", str(cluster.data_dir))
    return cluster


def _in_recovery(session) -> bool:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    return bool(session.execute(text("SELECT pg_is_in_recovery()")).scalar())


def test_stale_ok_reads_go_to_the_standby_and_writes_to_the_primary(on_cluster):
    from patrol_app.storage.db import read_session, session_scope

    with read_session(stale_ok=True) as s:
        assert _in_recovery(s)  # the hot standby
    with read_session() as s:
        assert not _in_recovery(s)  # read-your-own-writes: the primary
    with session_scope() as s:
        assert not _in_recovery(s)
    url = on_cluster.url("primary")
    with read_session(
        url, stale_ok=True
    ) as s:  # the pages pass the primary's URL (a cache key): still the replica
        assert _in_recovery(s)


def test_stale_ok_reads_fall_back_to_the_primary_while_the_standby_is_down(on_cluster):
    from patrol_app.storage.db import read_session

    with read_session(stale_ok=True) as s:
        assert _in_recovery(s)  # a pooled connection to the standby exists now
    on_cluster.stop("standby")
    try:
        with read_session(stale_ok=True) as s:
            assert not _in_recovery(s)
    finally:
        on_cluster.start("standby")
    on_cluster.wait_caught_up(60)
    with read_session(stale_ok=True) as s:
        assert _in_recovery(s)


def test_a_replica_cut_off_in_the_middle_of_a_read_is_read_again_on_the_primary(on_cluster):
    """The standby stops (or restarts) while a report reads it: the read runs again on the primary instead of
    failing (the load test saw a 500 on GET /report when the standby stopped under a running report)."""
    from sqlalchemy import text

    from patrol_app.storage.db import read_stale

    calls: list[bool] = []

    def read(s):  # type: ignore[no-untyped-def]
        calls.append(_in_recovery(s))
        if calls[-1]:  # on the standby: the connection is cut, as a stopping server cuts it
            s.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            s.execute(text("SELECT 1"))
        return s.execute(text("SELECT count(*) FROM incidents")).scalar()

    n = read_stale(read)
    assert calls == [True, False]  # the standby first, then the primary
    assert n > 0


def test_without_a_replica_stale_ok_reads_the_primary(on_cluster, monkeypatch):
    from patrol_app.storage.db import read_session

    monkeypatch.delenv("PATROL_DB_READ_URL")
    with read_session(stale_ok=True) as s:
        assert not _in_recovery(s)


def test_report_endpoint_reads_the_replica(on_cluster):
    import httpx

    http = httpx.Client(base_url=on_cluster.proxy_url, timeout=60)
    officer = http.post("/api/v1/session", json={"username": "officer", "password": "patrol-demo"})
    assert officer.status_code == 200, officer.text
    manager = httpx.Client(base_url=on_cluster.proxy_url, timeout=60)
    m = manager.post("/api/v1/session", json={"username": "manager", "password": "patrol-demo"})
    assert m.status_code == 200, m.text
    year = dt.date.today().year

    def reported() -> int:
        r = manager.get(f"/api/v1/report?year={year}")
        assert r.status_code == 200, r.text
        return r.json()["incidents_total"]

    before = reported()
    on_cluster._sql("standby", "SELECT pg_wal_replay_pause()")
    try:
        cid = str(uuid.uuid4())
        r = http.post(
            "/api/v1/incidents",
            headers={"X-CSRF-Token": officer.json()["csrf_token"]},
            json={
                "client_id": cid,
                "type": "materials",
                "found_at": dt.datetime.now(dt.UTC).isoformat(),
                "road": "X001",
                "stake": "K1+200",
                "side": "left",
                "offset_m": 5,
            },
        )
        assert r.status_code == 201, r.text
        mine = http.get(f"/api/v1/incidents/{cid}")  # read-your-own-write: from the primary
        assert mine.status_code == 200 and mine.json()["client_id"] == cid
        assert reported() == before  # the replica has not replayed it yet
    finally:
        on_cluster._sql("standby", "SELECT pg_wal_replay_resume()")
    on_cluster.wait_caught_up(60)
    assert reported() == before + 1


def test_report_endpoint_needs_the_export_permission(on_cluster):
    import httpx

    http = httpx.Client(base_url=on_cluster.proxy_url, timeout=60)
    assert http.get("/api/v1/report").status_code == 401
    assert (
        http.post("/api/v1/session", json={"username": "officer", "password": "patrol-demo"}).status_code
        == 200
    )
    r = http.get("/api/v1/report")
    assert r.status_code == 403 and r.json()["code"] == "error.permission_denied", r.text
    manager = httpx.Client(base_url=on_cluster.proxy_url, timeout=60)
    assert (
        manager.post("/api/v1/session", json={"username": "manager", "password": "patrol-demo"}).status_code
        == 200
    )
    r = manager.get("/api/v1/report?year=abc")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "year", r.text


def test_proxy_routes_by_cookie_to_both_app_servers(on_cluster):
    """A routing cookie on the first answer; the same cookie always reaches the same server; many browsers
    spread over both."""
    import httpx

    def metrics_count(name: str) -> int:
        text = httpx.get(f"http://127.0.0.1:{on_cluster.ports[name]}/metrics").text
        return sum(
            int(float(line.rsplit(" ", 1)[1]))
            for line in text.splitlines()
            if line.startswith('patrol_http_requests_total{method="GET",route="/healthz"')
        )

    before = {a: metrics_count(a) for a in ("app1", "app2")}
    cookies = set()
    for _ in range(20):
        r = httpx.get(on_cluster.proxy_url + "/healthz")
        assert r.status_code == 200
        cookies.add(r.cookies["patrol_route"])
    assert len(cookies) == 20
    after = {a: metrics_count(a) for a in ("app1", "app2")}
    assert all(after[a] > before[a] for a in after), (before, after)  # both servers got browsers

    route = cookies.pop()
    before = {a: metrics_count(a) for a in ("app1", "app2")}
    for _ in range(10):
        r = httpx.get(on_cluster.proxy_url + "/healthz", cookies={"patrol_route": route})
        assert "patrol_route" not in r.cookies  # the browser keeps its route
    after = {a: metrics_count(a) - before[a] for a in ("app1", "app2")}
    assert sorted(after.values()) == [0, 10], after  # sticky: one server got them all


def test_load_with_a_server_killed_and_the_standby_restarted(cluster):
    """The short load + fault test; the figures go to the test's output (pytest -s) and DIR/result.json."""
    t0 = time.time()
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "loadtest.py"),
            "--dir",
            str(cluster.dir),
            "--reuse",
            "--keep",
            "--seconds",
            str(LOAD_SECONDS),
            "--users",
            "50",
            "--managers",
            "3",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=LOAD_SECONDS + 240,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    print(res.stdout[-4000:])
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    result = json.loads((cluster.dir / "result.json").read_text())
    assert not result["failures"]
    primary = result["records"]["primary"]
    assert primary["incident"]["acknowledged"] > 0 and primary["patrol"]["acknowledged"] > 0
    for kind in ("incident", "patrol"):
        assert primary[kind]["missing"] == 0 and primary[kind]["duplicated"] == 0
        assert result["records"]["standby"][kind]["rows"] == primary[kind]["rows"]
    assert result["lsn"]["primary"] == result["lsn"]["standby_replayed"]
    assert result["audit_verify"]["exit"] == 0
    assert [f.split(": ", 1)[1] for f in result["faults"]] == [
        "app1 killed (SIGKILL)",
        "app1 restarted and ready",
        "standby stopped",
        "standby started",
    ]
    assert all(n > 0 for n in result["served_since_start"].values())  # both servers served load
    assert time.time() - t0 < LOAD_SECONDS + 120


def test_cluster_down_leaves_nothing_running(cluster):
    pids = {name: cluster.pid(name) for name in NAMES}
    assert all(pids.values()), pids
    res = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cluster.py"), "down", "--dir", str(cluster.dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert not [name for name, pid in pids.items() if _alive(pid)]
    assert not [p for p in cluster.ports.values() if _listening(p)]
    assert not list(cluster.dir.glob("*.pid"))
