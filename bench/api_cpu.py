"""CPU per API incident create: one ``patrol serve`` on a PostgreSQL demo store, N creates one after another.

Prints the app server's and PostgreSQL's CPU time per create (from /proc, so the figure does not depend on what
else the machine runs), the statements behind a create being counted by tests/api/test_ingest_path.py.

    PATROL_TEST_PG_URL=$(scripts/pgtest.sh) .venv/bin/python bench/api_cpu.py [N]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def postgres_cpu() -> float:
    total = 0.0
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if (p / "comm").read_text().strip() in ("postgres", "postmaster"):
                    total += cpu_seconds(int(p.name))
            except OSError:
                pass
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(base: str, path: str, body: dict, csrf: str = "", cookie: str = "") -> tuple[int, dict, str]:
    req = urllib.request.Request(
        base + "/api/v1" + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-CSRF-Token": csrf, "Cookie": cookie},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, json.loads(r.read()), r.headers.get("Set-Cookie", "")


def main() -> int:
    from sqlalchemy import create_engine, text

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    admin = os.environ["PATROL_TEST_PG_URL"]
    name = f"apicpu_{uuid.uuid4().hex[:8]}"
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.rsplit("/", 1)[0] + "/" + name
    data = tempfile.mkdtemp(prefix="apicpu-")
    env = {**os.environ, "PATROL_DB_URL": url, "PATROL_DATA_DIR": data, "PYTHONPATH": str(ROOT)}
    patrol = [sys.executable, "-m", "patrol_app.cli"]
    server = None
    try:
        subprocess.run([*patrol, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run([*patrol, "demo"], env=env, check=True, capture_output=True)
        port = free_port()
        server = subprocess.Popen(
            [*patrol, "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        _, me, cookie = call(base, "/session", {"username": "officer", "password": "patrol-demo"})
        csrf, cookie = me["csrf_token"], cookie.split(";", 1)[0]
        found = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()

        def create(i: int) -> None:
            status, _, _ = call(
                base,
                "/incidents",
                {
                    "client_id": str(uuid.uuid4()),
                    "type": "materials",
                    "found_at": found,
                    "road": "X001",
                    "stake": 1000 + (i * 37) % 4000,
                    "side": "left",
                    "offset_m": 5,
                    "description": "CPU benchmark",
                },
                csrf,
                cookie,
            )
            assert status == 201, status

        for i in range(20):  # warm: caches, the pool's connections
            create(i)
        app0, pg0, t0 = cpu_seconds(server.pid), postgres_cpu(), time.perf_counter()
        for i in range(n):
            create(i)
        app1, pg1, t1 = cpu_seconds(server.pid), postgres_cpu(), time.perf_counter()
        print(
            f"{n} creates in {t1 - t0:.1f} s: app server {1000 * (app1 - app0) / n:.1f} ms CPU per create, "
            f"PostgreSQL {1000 * (pg1 - pg0) / n:.1f} ms, wall {1000 * (t1 - t0) / n:.1f} ms "
            f"(load average {os.getloadavg()[0]:.2f})"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        eng.dispose()
        with create_engine(admin, isolation_level="AUTOCOMMIT").connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
