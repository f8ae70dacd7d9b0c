"""Shared fixtures: a demo store per test (copied from one template built per session) and the CLI runner.

Each test gets its own data directory (``tmp_path``) and therefore its own SQLite file and engine URL
(engines are cached per URL in :func:`patrol_app.storage.db.get_engine`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DB_NAME = "patrol.db"
CLI_TIMEOUT_S = 120

#: Tables that hold records (what an import or a refused command must or must not touch).
RECORD_TABLES = ("road_pieces", "patrols", "patrol_roads", "incidents", "import_batches", "audit_log")

#: The audit key of every test store (kept outside the database, as in production; see services.audit_key).
#: Set for the whole session so that the demo template and its copies, and subprocesses, share it.
TEST_AUDIT_KEY = "5e" * 32
os.environ["PATROL_AUDIT_KEY"] = TEST_AUDIT_KEY
os.environ.pop("PATROL_AUDIT_KEY_FILE", None)

#: Settings read from the environment (patrol_app.config) that a test must not inherit from the shell.
_SETTING_VARS = ("PATROL_DATA_DIR", "PATROL_DB_URL", "PATROL_LANG", "PATROL_MAX_DISTANCE_M")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    """``make test`` (and so CI) sets PATROL_NO_SKIP=1: a test that would be skipped (a missing PostgreSQL, a
    missing browser, …) fails the run instead, naming why; expected failures (xfail) are not skips."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") and os.environ.get("PATROL_NO_SKIP"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in a run that allows no skip (PATROL_NO_SKIP): {reason}"


def pg_admin_url() -> str:
    """The throwaway PostgreSQL that `make test` starts (PATROL_TEST_PG_URL). Without it the test is skipped
    with the reason, which fails a `make test` run (PATROL_NO_SKIP) or a CI run."""
    url = os.environ.get("PATROL_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("PATROL_TEST_PG_URL is not set: `make test` starts a PostgreSQL for these tests")
        pytest.skip("PATROL_TEST_PG_URL not set (run `make test`, which starts a throwaway PostgreSQL)")
    return url


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class Store:
    """A demo store in a test's own data directory."""

    data_dir: Path
    url: str
    env: dict[str, str] = field(repr=False)  # os.environ plus PATROL_DATA_DIR, for subprocesses

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_NAME

    def network(self):  # type: ignore[no-untyped-def]
        """The store's road network as it is now (read in-process, e.g. after a subprocess changed it)."""
        from patrol_app.services.roads import network
        from patrol_app.storage.db import read_session

        with read_session(self.url) as session:
            return network(session)

    def counts(self, tables: Sequence[str] = RECORD_TABLES) -> dict[str, int]:
        """Row counts read straight from the SQLite file (sees what other processes committed)."""
        con = sqlite3.connect(self.db_path)
        try:
            return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        finally:
            con.close()


@pytest.fixture(scope="session")
def demo_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo store built once per session; returns the path of its checkpointed SQLite file."""
    from patrol_app.demo import build_demo
    from patrol_app.services.users import cli_actor
    from patrol_app.storage.db import get_engine, session_scope
    from patrol_app.storage.migrate import upgrade

    path = tmp_path_factory.mktemp("demo-template") / DB_NAME
    url = sqlite_url(path)
    upgrade(url)
    with session_scope(url) as session:
        build_demo(session, cli_actor(session))
    # Fold the WAL into the main file so that copying patrol.db alone copies everything.
    raw = get_engine(url).raw_connection()
    try:
        busy, _, _ = raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        raw.close()
    get_engine(url).dispose()
    assert busy == 0, "could not checkpoint the demo template"
    return path


@pytest.fixture
def store(demo_db_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A fresh copy of the demo store in ``tmp_path``; PATROL_DATA_DIR points there, for in-process calls
    too (``session_scope()`` without a URL opens this store)."""
    from patrol_app.storage.migrate import upgrade

    data_dir = tmp_path
    shutil.copyfile(demo_db_template, data_dir / DB_NAME)
    wal = demo_db_template.with_name(DB_NAME + "-wal")  # empty after the checkpoint; -shm is rebuilt on open
    if wal.exists() and wal.stat().st_size:
        shutil.copyfile(wal, data_dir / wal.name)
    for var in _SETTING_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATROL_DATA_DIR", str(data_dir))
    url = sqlite_url(data_dir / DB_NAME)
    upgrade(url)  # a no-op on the current schema; what every CLI verb does first
    env = {k: v for k, v in os.environ.items() if k not in _SETTING_VARS}
    env.update(PATROL_DATA_DIR=str(data_dir), PYTHONIOENCODING="utf-8")
    return Store(data_dir=data_dir, url=url, env=env)


def run_patrol_process(
    args: Sequence[str], env: dict[str, str], input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``patrol ARGS`` (as ``python -m patrol_app.cli``) in a subprocess; text output captured."""
    return subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", *map(str, args)],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=CLI_TIMEOUT_S,
    )


def run_patrol_processes(
    calls: Sequence[Sequence[str]], env: dict[str, str]
) -> list[subprocess.CompletedProcess[str]]:
    """Run several independent ``patrol`` commands at once (results in call order): each command spends
    most of its time importing, so running them side by side keeps the suite fast on a few cores."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        return list(pool.map(lambda args: run_patrol_process(args, env), calls))


@pytest.fixture(scope="session")
def run_patrol():
    """``run_patrol(args, env, input=None) -> subprocess.CompletedProcess``."""
    return run_patrol_process


@pytest.fixture(scope="session")
def run_patrol_many():
    """``run_patrol_many([args, ...], env) -> [subprocess.CompletedProcess, ...]``, run concurrently."""
    return run_patrol_processes


@contextlib.contextmanager
def postgres_demo_store(prefix: str, today):  # type: ignore[no-untyped-def]
    """A fresh database holding the demo, on the throwaway PostgreSQL that `make test` starts
    (PATROL_TEST_PG_URL). In CI a missing server fails the test; elsewhere it is skipped with the reason."""
    import uuid

    from sqlalchemy import create_engine, text

    from patrol_app.demo import build_demo
    from patrol_app.services.users import cli_actor
    from patrol_app.storage import db
    from patrol_app.storage.migrate import upgrade

    admin_url = pg_admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        upgrade(url)
        with db.session_scope(url) as s:
            build_demo(s, cli_actor(s), today=today)
        yield url
    finally:
        db.get_engine(url).dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
