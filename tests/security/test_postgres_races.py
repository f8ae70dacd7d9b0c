"""Races on a real PostgreSQL (scripts/pgtest.sh): 48 parallel wrong passwords lock the account (an atomic
counter), and one ledger file imported twice at the same moment is stored once (a unique index)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from patrol_app.services import auth, records
from patrol_app.services.errors import ServiceError
from patrol_app.services.users import get_user
from patrol_app.storage import db
from patrol_app.storage.models import ImportBatch, Patrol, User
from tests.conftest import postgres_demo_store

pytestmark = pytest.mark.postgres
N = 48


@pytest.fixture(scope="module")
def pg():
    with postgres_demo_store("races", dt.date(2026, 11, 1)) as url:
        yield url


def _reset(pg: str) -> None:
    with db.session_scope(pg) as s:  # a cheap hash (8 MiB) so 48 verifications fit in memory at once
        u = get_user(s, "officer")
        u.password_hash = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(
            "right-password"
        )
        u.failed_logins, u.locked_until = 0, None


def _parallel_wrong(pg: str) -> list[str]:
    start = threading.Barrier(N)

    def wrong(_: int) -> str:
        start.wait()
        try:
            with db.session_scope(pg) as s:
                auth.sign_in(s, "officer", "wrong-password")
        except ServiceError as exc:
            return exc.key
        return "signed in"

    with ThreadPoolExecutor(N) as pool:
        return list(pool.map(wrong, range(N)))


def test_every_parallel_failure_counts(pg, monkeypatch):
    """No lost update: 48 failures at once leave the counter at 48 (lockout raised out of reach here)."""
    _reset(pg)
    monkeypatch.setattr(auth, "MAX_FAILED", 1000)
    assert set(_parallel_wrong(pg)) == {"auth.bad_credentials"}
    with db.read_session(pg) as s:
        assert s.execute(select(User.failed_logins).where(User.username == "officer")).scalar_one() == N


def test_48_parallel_wrong_passwords_lock_the_account(pg):
    _reset(pg)
    start = threading.Barrier(N)

    def wrong(_: int) -> str:
        start.wait()
        try:
            with db.session_scope(pg) as s:
                auth.sign_in(s, "officer", "wrong-password")
        except ServiceError as exc:
            return exc.key
        return "signed in"

    with ThreadPoolExecutor(N) as pool:
        keys = list(pool.map(wrong, range(N)))
    assert "signed in" not in keys and "auth.locked" in keys, keys
    with db.read_session(pg) as s:
        u = s.execute(select(User).where(User.username == "officer")).scalar_one()
        assert u.locked_until is not None and u.locked_until > dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with pytest.raises(ServiceError) as exc, db.session_scope(pg) as s:
        auth.sign_in(s, "officer", "right-password")
    assert exc.value.key == "auth.locked"


def test_one_ledger_imported_twice_at_once_is_stored_once(pg, tmp_path):
    path = tmp_path / "patrols.csv"
    path.write_text(
        "日期,巡查路线,出动车辆,出动人员\n2020-03-05,X001,1,2\n2020-03-06,X002,1,3\n", encoding="utf-8"
    )
    with db.read_session(pg) as s:
        leader = get_user(s, "leader")
        before = s.execute(select(func.count()).select_from(Patrol)).scalar_one()
    start = threading.Barrier(4, timeout=60)
    original = records._refuse_duplicate

    def check_then_wait(*a, **kw):  # all four pass the duplicate check before any of them inserts
        original(*a, **kw)
        if (
            a[0].get_bind().url.render_as_string(hide_password=False) == pg
            and calls.setdefault(threading.get_ident(), 0) == 1
        ):
            start.wait()
        calls[threading.get_ident()] = calls.get(threading.get_ident(), 0) + 1

    calls: dict[int, int] = {}

    def run(_: int) -> str:
        try:
            with db.session_scope(pg) as s:
                res = records.import_ledger(s, leader, path)
                return "ok" if res.ok else "errors"
        except ServiceError as exc:
            return exc.key

    records._refuse_duplicate = check_then_wait
    try:
        with ThreadPoolExecutor(4) as pool:
            outcomes = list(pool.map(run, range(4)))
    finally:
        records._refuse_duplicate = original
    assert sorted(outcomes) == ["error.already_imported"] * 3 + ["ok"], outcomes
    with db.read_session(pg) as s:
        assert s.execute(select(func.count()).select_from(Patrol)).scalar_one() == before + 2
        assert s.execute(select(func.count()).select_from(ImportBatch)).scalar_one() == 1
