"""Attacks on the audit trail and the records by someone with write access to the SQLite file (issue 10 §1):
each one is detected by ``audit.verify``, with a message naming what was touched.

(The same attacks on PostgreSQL: ``test_postgres.py``.)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import stat

import pytest
from sqlalchemy import select, text

from patrol_app.services import audit, auth
from patrol_app.services.audit_state import RecordProblem
from patrol_app.services.errors import ServiceError
from patrol_app.services.users import cli_actor, get_user
from patrol_app.storage.db import get_engine, read_session, session_scope
from patrol_app.storage.models import AuditEntry
from tests.tamper import tamper


def verdict(url=None, **kw):  # type: ignore[no-untyped-def]
    with read_session(url) as s:
        return audit.verify(s, **kw)


def rehash_from(con: sqlite3.Connection, first_id: int) -> None:
    """Recompute every unkeyed hash from ``first_id`` on and the head, as the old scheme allowed."""
    rows = con.execute(
        "SELECT id, ts, actor_id, actor, action, entity, entity_id, before, after, state "
        "FROM audit_log WHERE id >= ? ORDER BY id",
        (first_id,),
    ).fetchall()
    prev = con.execute("SELECT hash FROM audit_log WHERE id = ?", (first_id - 1,)).fetchone()[0]
    for id_, ts, actor_id, actor, action, entity, entity_id, before, after, state in rows:
        h = audit.entry_hash(
            prev,
            id_,
            dt.datetime.fromisoformat(ts),
            actor_id,
            actor,
            action,
            entity,
            entity_id,
            None if before is None else json.loads(before),
            None if after is None else json.loads(after),
            None if state is None else json.loads(state),
        )
        con.execute("UPDATE audit_log SET prev_hash = ?, hash = ? WHERE id = ?", (prev, h, id_))
        prev = h
    con.execute("UPDATE audit_head SET last_hash = ? WHERE id = 1", (prev,))
    con.commit()


def test_the_demo_store_verifies_with_its_records(store):
    res = verdict()
    assert res.ok and res.records == [] and res.entries > 500


def test_an_edit_with_every_hash_recomputed_by_the_old_unkeyed_scheme_is_detected(store):
    with read_session() as s:
        target = (
            s.execute(
                select(AuditEntry.id).where(AuditEntry.action == "incident.create").order_by(AuditEntry.id)
            ).scalar()
            or s.execute(
                select(AuditEntry.id).where(AuditEntry.entity == "incident").order_by(AuditEntry.id)
            ).scalar()
        )
    con = tamper(store.db_path)
    con.execute("UPDATE audit_log SET actor = 'someone_else' WHERE id = ?", (target,))
    rehash_from(con, target)
    con.close()
    with read_session() as s:  # the unkeyed chain alone would say "intact" now
        assert s.execute(text("SELECT count(*) FROM audit_log")).scalar() > target
    res = verdict()
    assert (res.ok, res.first_bad_id, res.reason) == (False, target, "sealed")


def test_a_wiped_trail_on_a_store_with_records_is_a_failure(store, run_patrol):
    con = tamper(store.db_path)
    con.execute("DELETE FROM audit_log")
    con.execute("DELETE FROM audit_head")
    con.commit()
    con.close()
    res = verdict()
    assert (res.ok, res.reason, res.entries) == (False, "empty", 0)
    p = run_patrol(["audit", "verify"], store.env)
    assert p.returncode == 1
    assert "审计记录被清空" in p.stderr


def test_a_missing_head_row_is_a_failure(store):
    con = tamper(store.db_path)
    con.execute("DELETE FROM audit_head")
    con.commit()
    con.close()
    res = verdict()
    assert (res.ok, res.reason) == (False, "no_head")


def test_records_changed_behind_the_app_are_named_table_id_field(store, run_patrol):
    with read_session() as s:
        inc_id, status = s.execute(text("SELECT id, status FROM incidents ORDER BY id LIMIT 1")).one()
        vid = s.execute(text("SELECT min(id) FROM vehicles")).scalar()
    con = sqlite3.connect(store.db_path)  # no trigger guards records: the trail catches it afterwards
    con.execute(
        "UPDATE incidents SET status = ?, description = 'x' WHERE id = ?",
        ("closed" if status == "open" else "open", inc_id),
    )
    con.execute("UPDATE vehicles SET plate = '云D·X9999' WHERE id = ?", (vid,))
    con.execute("UPDATE users SET role = 'admin' WHERE username = 'officer'")
    con.commit()
    con.close()
    res = verdict()
    assert (res.ok, res.reason) == (False, "records")
    officer_id = str(get_user_id("officer"))
    assert res.records == [
        RecordProblem("incidents", str(inc_id), "changed", ["description", "status"]),
        RecordProblem("users", officer_id, "changed", ["role"]),
        RecordProblem("vehicles", str(vid), "changed", ["plate"]),
    ]
    p = run_patrol(["audit", "verify"], store.env)
    assert p.returncode == 1
    assert f"问题记录 第 {inc_id} 号：在系统之外被修改（字段：description, status）" in p.stderr
    assert f"账户 第 {officer_id} 号：在系统之外被修改（字段：role）" in p.stderr


def get_user_id(name: str) -> int:
    with read_session() as s:
        return get_user(s, name).id


def test_deleted_and_added_rows_are_named(store):
    with read_session() as s:
        inc_id = s.execute(text("SELECT max(id) FROM incidents")).scalar()
        pid = s.execute(text("SELECT min(id) FROM patrols")).scalar()
    con = sqlite3.connect(store.db_path)
    con.execute("PRAGMA foreign_keys=OFF")
    con.execute("DELETE FROM incidents WHERE id = ?", (inc_id,))
    con.execute("DELETE FROM patrol_roads WHERE patrol_id = ? AND seq = 0", (pid,))
    con.execute("INSERT INTO vehicles (plate, kind, active) VALUES ('云D·Z0001', '皮卡', 1)")
    new_vid = con.execute("SELECT max(id) FROM vehicles").fetchone()[0]
    con.commit()
    con.close()
    res = verdict()
    assert not res.ok
    assert res.records == [
        RecordProblem("incidents", str(inc_id), "deleted"),
        RecordProblem("patrols", str(pid), "changed", ["road_rows"]),
        RecordProblem("vehicles", str(new_vid), "unrecorded"),
    ]


def test_the_app_s_own_changes_keep_records_and_trail_in_step(store):
    from patrol_app.services import field, registry

    with session_scope() as s:
        admin = get_user(s, "admin")
        leader = get_user(s, "leader")
        registry.add_vehicle(s, admin, "云D·L0399", "皮卡")
        inc = s.execute(text("SELECT id FROM incidents WHERE status = 'open' ORDER BY id LIMIT 1")).scalar()
        field.update_status(s, leader, inc, "closed", note="已整改")
        field.add_follow_up(s, leader, inc, "复查无反弹")
        auth.reset_password(s, admin, "officer", "a-new-long-password")
    with session_scope() as s:
        auth.sign_in(s, "officer", "a-new-long-password")
    assert verdict().ok


def test_a_truncated_tail_passes_the_chain_but_not_the_checkpoint(store, run_patrol):
    for _ in range(3):
        with session_scope() as s:
            auth.sign_in(s, "admin", "patrol-demo")
    p = run_patrol(["audit", "checkpoint"], store.env)
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip()
    with read_session() as s:
        cp = audit.checkpoint(s)
    assert line == f"#{cp.id} {cp.mac}" and len(cp.mac) == 64
    # the last two entries removed, the head rewound onto what is left: every remaining link is genuine
    con = tamper(store.db_path)
    con.execute("DELETE FROM audit_log WHERE id > ?", (cp.id - 2,))
    con.execute(
        "UPDATE audit_head SET last_id = id_, last_hash = h, last_mac = m FROM "
        "(SELECT id AS id_, hash AS h, mac AS m FROM audit_log WHERE id = ?)",
        (cp.id - 2,),
    )
    con.commit()
    con.close()
    assert verdict().ok  # what a checkpoint is for: a cut at the end leaves a consistent trail
    res = verdict(checkpoint=audit.Checkpoint.parse(f"{cp.id}:{cp.mac[:16]}"))
    assert (res.ok, res.reason, res.first_bad_id) == (False, "checkpoint", cp.id)
    p = run_patrol(["audit", "verify", "--checkpoint", f"{cp.id}:{cp.mac}"], store.env)
    assert p.returncode == 1 and "与检查点不符" in p.stderr
    earlier = f"{cp.id - 3}:" + verdict_mac(cp.id - 3)
    p = run_patrol(["audit", "verify", "--checkpoint", earlier], store.env)
    assert p.returncode == 0, p.stderr
    assert f"检查点 #{cp.id - 3} 及其之前" in p.stdout


def verdict_mac(id_: int) -> str:
    with read_session() as s:
        return s.execute(select(AuditEntry.mac).where(AuditEntry.id == id_)).scalar_one()


def test_a_rewritten_entry_before_the_checkpoint_fails_it(store):
    with read_session() as s:
        cp = audit.checkpoint(s)
    assert verdict(checkpoint=audit.Checkpoint(cp.id, "0" * 16)).reason == "checkpoint"
    with pytest.raises(ServiceError):
        audit.Checkpoint.parse("12:abc")


def test_sqlite_triggers_refuse_to_change_or_delete_audit_rows(store):
    engine = get_engine(store.url)
    for sql in (
        "UPDATE audit_log SET actor = 'x' WHERE id = 1",
        "DELETE FROM audit_log WHERE id = 1",
        "DELETE FROM audit_log",
        "DELETE FROM audit_head",
        "UPDATE audit_head SET last_id = 1",
        "INSERT INTO audit_log (id, ts, actor, action, entity, entity_id, prev_hash, hash, mac) "
        "VALUES (999999, '2020-01-01', 'x', 'x', 'x', '', 'x', 'x', 'x')",
    ):
        with pytest.raises(Exception) as e:
            with engine.begin() as c:
                c.exec_driver_sql(sql)
        assert "audit" in str(e.value), sql
    assert verdict().ok


def test_demo_reset_keeps_the_trail_and_records_in_step(store, run_patrol):
    p = run_patrol(["demo", "--reset"], store.env)
    assert p.returncode == 0, p.stderr
    p = run_patrol(["audit", "verify"], store.env)
    assert p.returncode == 0, p.stderr


def test_user_on_the_command_line_records_the_os_user(store, run_patrol):
    from patrol_app.cli import os_user

    p = run_patrol(["--user", "admin", "users", "disable", "officer2"], store.env)
    assert p.returncode == 0, p.stderr
    p = run_patrol(["users", "enable", "officer2"], store.env)
    assert p.returncode == 0, p.stderr
    with read_session() as s:
        rows = (
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.action.in_(["user.disable", "user.enable"]))
                .order_by(AuditEntry.id)
            )
            .scalars()
            .all()
        )
        admin_id = get_user(s, "admin").id
    me = os_user()
    assert [(r.actor, r.actor_id == admin_id) for r in rows] == [
        (f"cli({me}) as admin", True),
        (f"cli({me})", False),
    ]


def test_the_cli_account_can_never_sign_in_or_get_a_password(store):
    with session_scope() as s:
        admin = get_user(s, "admin")
        cli_actor(s)
        with pytest.raises(ServiceError):
            auth.reset_password(s, admin, "cli", "long-enough-password")
        with pytest.raises(ServiceError):
            auth.add_user(s, admin, "cli", "admin", "long-enough-password")
    con = sqlite3.connect(store.db_path)  # even with a hash planted in the database
    con.execute(
        "UPDATE users SET password_hash = (SELECT password_hash FROM users WHERE username = 'admin') "
        "WHERE username = 'cli'"
    )
    con.commit()
    con.close()
    with session_scope() as s, pytest.raises(ServiceError) as e:
        auth.sign_in(s, "cli", "patrol-demo")
    assert e.value.key == "auth.bad_credentials"


def test_refused_sign_ins_are_audited(store):
    for name, password in (("nobody", "whatever-password"), ("officer", "wrong-password"), ("cli", "x")):
        with session_scope() as s, pytest.raises(ServiceError):
            auth.sign_in(s, name, password)
    with read_session() as s:
        rows = (
            s.execute(
                select(AuditEntry).where(AuditEntry.action == "user.sign_in_failed").order_by(AuditEntry.id)
            )
            .scalars()
            .all()
        )
    assert [r.after.get("username") or r.actor for r in rows] == ["nobody", "officer", "cli"]
    assert rows[0].after == {"username": "nobody", "reason": "unknown_user"}
    assert "wrong-password" not in json.dumps([r.after for r in rows])


def test_the_key_file_is_created_0600_and_a_wrong_key_fails_every_seal(tmp_path, monkeypatch):
    from patrol_app.services.audit_key import key_file, load_key
    from patrol_app.storage.migrate import upgrade

    monkeypatch.delenv("PATROL_AUDIT_KEY")
    monkeypatch.setenv("PATROL_DATA_DIR", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'patrol.db'}"
    upgrade(url)
    with session_scope(url) as s:
        cli_actor(s)
    path = key_file()
    assert path == tmp_path / "audit.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_key() == bytes.fromhex(path.read_text().strip())
    assert verdict(url).ok
    monkeypatch.setenv("PATROL_AUDIT_KEY", "ab" * 32)  # a store restored without its key
    res = verdict(url)
    assert (res.ok, res.first_bad_id, res.reason) == (False, 1, "sealed")
    monkeypatch.setenv("PATROL_AUDIT_KEY", "too short")
    from patrol_app.services.audit_key import AuditKeyError

    with pytest.raises(AuditKeyError):
        verdict(url)


def test_an_old_unkeyed_store_is_sealed_at_upgrade_and_stays_verifiable(tmp_path, monkeypatch):
    """A store written before the key existed: the upgrade keeps every entry as it was, adds the seals, records
    the sealing and a baseline of every record; an old-scheme rewrite of a legacy entry is then caught."""
    from alembic import command

    from patrol_app.storage.migrate import alembic_config

    monkeypatch.setenv("PATROL_DATA_DIR", str(tmp_path))
    path = tmp_path / "patrol.db"
    url = f"sqlite:///{path}"
    cfg = alembic_config(url)
    with get_engine(url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    con = sqlite3.connect(path)
    con.execute("INSERT INTO vehicles (id, plate, kind, active) VALUES (1, '云D·L0301', '皮卡', 1)")
    prev = audit.GENESIS
    for i in range(1, 6):  # the old code's entries: unkeyed hashes, no seal
        ts = dt.datetime(2025, 1, 1, 8, i)
        after = {"plate": "云D·L0301", "n": i}
        h = audit.entry_hash(prev, i, ts, None, "cli", "registry.vehicle.create", "vehicle", "1", None, after)
        con.execute(
            "INSERT INTO audit_log (id, ts, actor_id, actor, action, entity, entity_id, before, after, "
            "prev_hash, hash) VALUES (?, ?, NULL, 'cli', 'registry.vehicle.create', 'vehicle', '1', NULL, ?,"
            " ?, ?)",
            (
                i,
                ts.strftime("%Y-%m-%d %H:%M:%S.%f"),
                json.dumps(after, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
                prev,
                h,
            ),
        )
        prev = h
    con.execute("INSERT INTO audit_head (id, last_id, last_hash) VALUES (1, 5, ?)", (prev,))
    con.commit()
    legacy = con.execute("SELECT id, prev_hash, hash, after FROM audit_log ORDER BY id").fetchall()
    con.close()

    with get_engine(url).begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    con = sqlite3.connect(path)
    assert (
        con.execute("SELECT id, prev_hash, hash, after FROM audit_log WHERE id <= 5 ORDER BY id").fetchall()
        == legacy
    )
    sealed = con.execute("SELECT action, after FROM audit_log WHERE id = 6").fetchone()
    assert sealed[0] == "audit.sealed"
    assert json.loads(sealed[1])["legacy_last_hash"] == prev and json.loads(sealed[1])["legacy_entries"] == 5
    assert con.execute("SELECT action, entity, entity_id FROM audit_log WHERE id = 7").fetchone() == (
        "audit.baseline",
        "vehicle",
        "1",
    )
    con.close()
    assert verdict(url).ok

    con = tamper(path)  # rewrite legacy entry 2 and recompute the whole unkeyed chain
    con.execute("""UPDATE audit_log SET after = '{"n":2,"plate":"云D·L9999"}' WHERE id = 2""")
    rehash_from(con, 2)
    con.close()
    res = verdict(url)
    assert (res.ok, res.first_bad_id, res.reason) == (False, 2, "sealed")


def test_each_entry_hashes_as_entry_hash_says_whatever_it_holds(store):
    """The append path encodes each value once and builds the hash payload from those texts: it must be the very
    hash ``entry_hash`` gives for the entry as read back (Chinese text, nested states, None, numbers, a shared
    ``after``), and the stored columns must read back as the values given."""
    state = {"名称": "沾益·X001", "n": 3, "x": 1.25, "ok": True, "list": [{"b": 2, "a": "甲"}], "none": None}
    after = {"file": "问题台账.csv", "rows": [1, 2]}
    with session_scope() as s:
        admin = get_user(s, "admin")
        audit.append_entries(
            s.connection(),
            b"k" * 32,
            admin.id,
            "cli(root) as 管理员",
            "测试.append",
            [("incident", "甲1", None, after, state), ("incident", "2", {"前": 1}, after, None)],
        )
    with read_session() as s:
        rows = s.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(2)).scalars().all()
        for e in rows:
            assert e.hash == audit.entry_hash(
                e.prev_hash,
                e.id,
                e.ts,
                e.actor_id,
                e.actor,
                e.action,
                e.entity,
                e.entity_id,
                e.before,
                e.after,
                e.state,
            )
        second, first = rows
        assert (first.entity_id, first.state, first.after, first.before) == ("甲1", state, after, None)
        assert (second.before, second.state) == ({"前": 1}, None)
