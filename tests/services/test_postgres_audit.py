"""Issue 10 §1 on a real PostgreSQL: the triggers refuse to change or delete audit rows, the app's role may
only read and append them, and every attack by someone who gets past that (a superuser disabling triggers) is
detected by ``audit.verify``: an edit rehashed with the old unkeyed scheme, a wiped trail, records changed or
deleted behind the app, a tail cut below a checkpoint."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import create_engine, select, text

from patrol_app.services import audit, auth
from patrol_app.services.audit_state import RecordProblem
from patrol_app.storage import db
from patrol_app.storage.models import AuditEntry
from tests.conftest import pg_admin_url, postgres_demo_store

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(tmp_path, monkeypatch):
    monkeypatch.setenv("PATROL_DATA_DIR", str(tmp_path))
    with postgres_demo_store("audit", dt.date(2026, 11, 1)) as url:
        monkeypatch.setenv("PATROL_DB_URL", url)
        yield url


def verdict(url, **kw):  # type: ignore[no-untyped-def]
    with db.read_session(url) as s:
        return audit.verify(s, **kw)


def attacker(url: str, *sql: str, params: dict | None = None) -> None:  # type: ignore[type-arg]
    """A superuser who switches the guards off first (the keyed seal is what still stands)."""
    eng = create_engine(url)
    try:
        with eng.begin() as c:
            c.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
            c.exec_driver_sql("ALTER TABLE audit_head DISABLE TRIGGER USER")
            for q in sql:
                c.execute(text(q), params or {})
            c.exec_driver_sql("ALTER TABLE audit_log ENABLE TRIGGER USER")
            c.exec_driver_sql("ALTER TABLE audit_head ENABLE TRIGGER USER")
    finally:
        eng.dispose()


def test_triggers_refuse_changes_to_the_trail_even_for_the_owner(pg):
    eng = db.get_engine(pg)
    for sql in (
        "UPDATE audit_log SET actor = 'x' WHERE id = 1",
        "DELETE FROM audit_log WHERE id = 1",
        "TRUNCATE audit_log",
        "DELETE FROM audit_head",
        "UPDATE audit_head SET last_id = 1",
        "UPDATE audit_head SET last_mac = repeat('0', 64)",
    ):
        with pytest.raises(Exception) as e:
            with eng.begin() as c:
                c.exec_driver_sql(sql)
        assert "audit" in str(e.value), sql
    with db.session_scope(pg) as s:  # the app's own path still appends
        auth.sign_in(s, "officer", "patrol-demo")
    assert verdict(pg).ok


def test_edit_rehashed_with_the_old_scheme_wipe_and_records_are_detected(pg):
    with db.read_session(pg) as s:
        rows = s.execute(
            select(
                AuditEntry.id,
                AuditEntry.ts,
                AuditEntry.actor_id,
                AuditEntry.actor,
                AuditEntry.action,
                AuditEntry.entity,
                AuditEntry.entity_id,
                AuditEntry.before,
                AuditEntry.after,
                AuditEntry.prev_hash,
                AuditEntry.state,
            ).order_by(AuditEntry.id)
        ).all()
    target = rows[len(rows) // 2].id
    updates = []
    prev = next(r for r in rows if r.id == target).prev_hash
    for r in rows:
        if r.id < target:
            continue
        actor = "someone_else" if r.id == target else r.actor
        h = audit.entry_hash(
            prev, r.id, r.ts, r.actor_id, actor, r.action, r.entity, r.entity_id, r.before, r.after, r.state
        )
        updates.append(
            f"UPDATE audit_log SET actor = '{actor}', prev_hash = '{prev}', hash = '{h}' WHERE id = {r.id}"
        )
        prev = h
    attacker(pg, *updates, f"UPDATE audit_head SET last_hash = '{prev}'")
    res = verdict(pg)
    assert (res.ok, res.first_bad_id, res.reason) == (False, target, "sealed")


def test_wiped_trail_is_a_failure(pg):
    attacker(pg, "DELETE FROM audit_log", "DELETE FROM audit_head")
    res = verdict(pg)
    assert (res.ok, res.reason) == (False, "empty")


def test_records_changed_or_deleted_behind_the_app_are_named(pg):
    eng = create_engine(pg)
    with eng.begin() as c:
        inc = c.execute(text("SELECT id FROM incidents WHERE status = 'open' ORDER BY id LIMIT 1")).scalar()
        gone = c.execute(text("SELECT max(id) FROM incidents")).scalar()
        c.execute(text("UPDATE incidents SET status = 'closed' WHERE id = :i"), {"i": inc})
        c.execute(text("DELETE FROM incidents WHERE id = :i"), {"i": gone})
    eng.dispose()
    res = verdict(pg)
    assert (res.ok, res.reason) == (False, "records")
    assert res.records == [
        RecordProblem("incidents", str(inc), "changed", ["status"]),
        RecordProblem("incidents", str(gone), "deleted"),
    ]


def test_a_tail_cut_below_the_checkpoint(pg):
    with db.read_session(pg) as s:
        cp = audit.checkpoint(s)
    keep = cp.id - 2
    attacker(
        pg,
        "DELETE FROM audit_log WHERE id > :k",
        "UPDATE audit_head SET last_id = a.id, last_hash = a.hash, last_mac = a.mac FROM audit_log a "
        "WHERE a.id = :k",
        params={"k": keep},
    )
    res = verdict(pg, checkpoint=cp, records=False)
    assert (res.ok, res.reason, res.first_bad_id) == (False, "checkpoint", cp.id)


def test_the_app_role_may_only_read_and_append_audit_rows(tmp_path, monkeypatch):
    admin_url = pg_admin_url()
    role = f"patrol_app_{uuid.uuid4().hex[:8]}"
    name = f"approle_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    owner_url = admin_url.rsplit("/", 1)[0] + "/" + name
    from sqlalchemy.engine import make_url

    app_url = make_url(owner_url).set(username=role).render_as_string(hide_password=False)
    monkeypatch.setenv("PATROL_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PATROL_DB_APP_ROLE", role)
    try:
        from patrol_app.demo import build_demo
        from patrol_app.services.users import cli_actor
        from patrol_app.storage.migrate import upgrade

        upgrade(owner_url)  # the owner migrates; the app runs as its own role
        with db.session_scope(app_url) as s:
            build_demo(s, cli_actor(s), today=dt.date(2026, 11, 1))
        with db.session_scope(app_url) as s:
            auth.sign_in(s, "officer", "patrol-demo")
        eng = create_engine(app_url)
        for sql in (
            "UPDATE audit_log SET actor = 'x' WHERE id = 1",
            "DELETE FROM audit_log WHERE id = 1",
            "TRUNCATE audit_log",
            "DELETE FROM audit_head",
            "ALTER TABLE audit_log DISABLE TRIGGER USER",
        ):
            with pytest.raises(Exception) as e:
                with eng.begin() as c:
                    c.exec_driver_sql(sql)
            assert "permission denied" in str(e.value) or "must be owner" in str(e.value), sql
        eng.dispose()
        assert verdict(app_url).ok
    finally:
        db.get_engine(app_url).dispose()
        db.get_engine(owner_url).dispose()
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()
