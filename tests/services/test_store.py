"""The store itself: migrations from empty, SQLite settings, the audit chain, all-or-nothing writes."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from patrol_app.services import audit
from patrol_app.services.users import cli_actor
from patrol_app.storage.db import get_engine, session_scope
from patrol_app.storage.migrate import upgrade
from patrol_app.storage.models import AuditEntry, Base
from patrol_app.storage.spatial import include_object
from tests.tamper import tamper


@pytest.fixture
def empty_db(tmp_path, monkeypatch):
    monkeypatch.setenv("PATROL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PATROL_DB_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'patrol.db'}"
    upgrade(url)
    return url


def test_migrations_from_empty_match_the_models(empty_db):
    engine = get_engine(empty_db)
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"include_object": include_object}), Base.metadata
        )
        assert diff == []
        from alembic.script import ScriptDirectory

        from patrol_app.storage.migrate import alembic_config

        head = ScriptDirectory.from_config(alembic_config(empty_db)).get_current_head()
        assert conn.execute(text("select version_num from alembic_version")).scalar() == head
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    upgrade(empty_db)  # idempotent


def test_every_migration_downgrades_and_upgrades_again(empty_db):
    from alembic import command

    from patrol_app.storage.migrate import alembic_config

    cfg = alembic_config(empty_db)
    command.downgrade(cfg, "base")
    assert set(inspect(get_engine(empty_db)).get_table_names()) <= {"alembic_version"}
    command.upgrade(cfg, "head")
    with get_engine(empty_db).connect() as conn:
        assert (
            compare_metadata(
                MigrationContext.configure(conn, opts={"include_object": include_object}), Base.metadata
            )
            == []
        )


def test_sqlite_settings(empty_db, tmp_path):
    engine = get_engine(empty_db)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    assert (tmp_path / "patrol.db").exists()


def test_audit_chain_detects_edit_delete_and_truncation(empty_db, tmp_path):
    with session_scope(empty_db) as s:
        actor = cli_actor(s)
        for i in range(5):
            audit.record(
                s, actor, "test.write", "thing", i, before={"n": i}, after={"n": i + 1, "名": "张三"}
            )
    with session_scope(empty_db) as s:
        res = audit.verify(s)
        assert res.ok and res.entries == 6  # creating the command line's account, then the five

    db = tamper(tmp_path / "patrol.db")
    db.execute("""update audit_log set after = '{"n": 99}' where id = 3""")
    db.commit()
    with session_scope(empty_db) as s:
        res = audit.verify(s)
        assert (res.ok, res.first_bad_id, res.reason) == (False, 3, "altered")

    db.execute("""update audit_log set after = '{"n": 3, "名": "张三"}' where id = 3""")
    db.execute("delete from audit_log where id = 2")
    db.commit()
    with session_scope(empty_db) as s:
        assert audit.verify(s).first_bad_id == 2

    db.execute("delete from audit_log where id >= 2")
    db.commit()
    with session_scope(empty_db) as s:
        res = audit.verify(s)
        assert (res.ok, res.reason) == (False, "truncated")
    db.close()


def test_a_failed_transaction_leaves_no_audit_entry(empty_db):
    with pytest.raises(RuntimeError):
        with session_scope(empty_db) as s:
            audit.record(s, cli_actor(s), "test.write", "thing", 1)
            raise RuntimeError("crash mid-write")
    with session_scope(empty_db) as s:
        assert s.execute(select(func.count()).select_from(AuditEntry)).scalar() == 0
        assert audit.verify(s).ok
