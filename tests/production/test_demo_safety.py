"""`patrol demo` never touches a bureau's own data: refused on a store with accounts or real records, `--reset`
refused on real data and audited, `--if-empty` never re-passwords an account, nothing at all in production."""

from __future__ import annotations

import sqlite3

from patrol_app.i18n import t
from patrol_app.services import auth
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import AuditEntry, User

BUREAU_PASSWORD = "bureau-secret-42"


def _first_admin(url: str, username: str = "admin") -> None:
    with session_scope(url) as s:
        auth.create_first_admin(s, username, BUREAU_PASSWORD, "信息科")


def _password_ok(url: str, username: str, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import VerifyMismatchError

    with read_session(url) as s:
        h = s.query(User).filter_by(username=username).one().password_hash
    try:
        return PasswordHasher().verify(h, password)
    except VerifyMismatchError:
        return False


def _count(path, table: str, where: str = "") -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute(f"SELECT count(*) FROM {table} {where}").fetchone()[0]
    finally:
        con.close()


def test_if_empty_never_resets_an_existing_admin_password(empty_store, run_patrol):
    _first_admin(empty_store.url)  # the first administrator, created on the first page

    p = run_patrol(["demo", "--if-empty"], empty_store.env)

    assert p.returncode == 0, p.stderr
    assert _password_ok(empty_store.url, "admin", BUREAU_PASSWORD)
    assert not _password_ok(empty_store.url, "admin", "patrol-demo")
    assert _count(empty_store.db_path, "road_pieces") == 0  # and the demo was not loaded beside it


def test_demo_refused_on_a_store_with_an_account(empty_store, run_patrol):
    _first_admin(empty_store.url, "zhangsan")
    p = run_patrol(["demo"], empty_store.env)

    assert p.returncode == 1
    assert p.stderr.strip() == t("demo.refused_real_data", what=t("demo.kind.accounts", n=1))
    assert _count(empty_store.db_path, "users", "WHERE username <> 'cli'") == 1
    assert _count(empty_store.db_path, "road_pieces") == 0


def test_reset_refused_on_a_demo_store_with_a_real_account(store, run_patrol):
    p = run_patrol(
        ["users", "add", "zhaoliu", "--role", "officer", "--password-stdin"],
        store.env,
        input=BUREAU_PASSWORD + "\n",
    )
    assert p.returncode == 0, p.stderr
    before = store.counts()

    p = run_patrol(["demo", "--reset"], store.env)

    assert p.returncode == 1
    assert p.stderr.strip() == t("demo.refused_real_data", what=t("demo.kind.accounts", n=1))
    assert store.counts() == before
    assert _password_ok(store.url, "zhaoliu", BUREAU_PASSWORD)


def test_reset_refused_on_a_demo_store_with_a_ledger_import(store, run_patrol, tmp_path):
    ledger = tmp_path / "巡查台账.csv"
    ledger.write_text(
        "日期,巡查路线,出动车辆,出动人员,巡查里程\n2021-03-05,X001,1,2,12.5\n", encoding="utf-8"
    )
    p = run_patrol(["import", str(ledger)], store.env)
    assert p.returncode == 0, p.stderr
    before = store.counts()

    p = run_patrol(["demo", "--reset"], store.env)

    assert p.returncode == 1
    assert t("demo.kind.patrols", n=1) in p.stderr
    assert store.counts() == before


def test_reset_of_a_played_with_demo_is_audited(store, run_patrol):
    from patrol_app.services import sessions

    with session_scope(store.url) as s:  # a demo officer signed in (a web session hangs on the account)
        officer = s.query(User).filter_by(username="officer").one()
        sessions.start(s, officer)

    p = run_patrol(["demo", "--reset"], store.env)

    assert p.returncode == 0, p.stderr
    with read_session(store.url) as s:
        actions = [a for (a,) in s.query(AuditEntry.action).order_by(AuditEntry.id)]
    # what was removed is recorded as deleted (entry per kind of record), then the new demo as loaded
    last_reset = max(i for i, a in enumerate(actions) if a == "demo.reset")
    assert actions[last_reset + 1] == "roads.import" and actions[-1] == "demo.load"
    assert run_patrol(["audit", "verify"], store.env).returncode == 0


def test_demo_refused_in_production(empty_store, run_patrol):
    p = run_patrol(["demo", "--if-empty"], {**empty_store.env, "PATROL_PRODUCTION": "1"})

    assert p.returncode == 1
    assert p.stderr.strip() == t("demo.refused_production")
    assert _count(empty_store.db_path, "users", "WHERE username <> 'cli'") == 0


def test_build_demo_never_takes_over_an_existing_account(empty_store):
    import pytest

    from patrol_app.demo import build_demo
    from patrol_app.services.errors import ServiceError
    from patrol_app.services.users import cli_actor

    _first_admin(empty_store.url)
    with pytest.raises(ServiceError) as exc, session_scope(empty_store.url) as s:
        build_demo(s, cli_actor(s))
    assert exc.value.key == "demo.account_exists"
    assert _password_ok(empty_store.url, "admin", BUREAU_PASSWORD)
