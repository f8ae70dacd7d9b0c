"""The write lock: a ledger import validates without it and holds it only to insert; a store too busy to write
says "busy, try again" (a ServiceError in both languages) and writes nothing. Store files: readable by the
service user only."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest
from sqlalchemy import func, select

from patrol_app.i18n import error_text
from patrol_app.services import field, records
from patrol_app.services.errors import ServiceError
from patrol_app.services.users import get_user
from patrol_app.storage import db
from patrol_app.storage.db import session_scope
from patrol_app.storage.models import Draft, Patrol

CSV = "日期,巡查路线,出动车辆,出动人员\n" + "".join(f"2025-03-{d:02d},X001,1,2\n" for d in range(1, 29))


def test_ledger_import_validates_without_the_write_lock(store, tmp_path, monkeypatch):
    path = tmp_path / "patrols.csv"
    path.write_text(CSV, encoding="utf-8")
    seen: list[str] = []
    real = records._validate_sheet

    def validate_while_someone_writes(*a, **kw):  # type: ignore[no-untyped-def]
        other = sqlite3.connect(store.db_path, timeout=0)  # fails at once if the import held the lock
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("INSERT INTO settings (key, value) VALUES ('probe', 'x')")
            other.commit()
            seen.append("wrote")
        finally:
            other.close()
        return real(*a, **kw)

    monkeypatch.setattr(records, "_validate_sheet", validate_while_someone_writes)
    with db.read_session() as s:
        leader = get_user(s, "leader")
    with session_scope() as s:
        res = records.import_ledger(s, leader, path)
    assert res.ok and res.patrols == 28 and seen == ["wrote"]


def test_a_locked_store_says_busy_and_writes_nothing(store, monkeypatch):
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 100)
    db.get_engine(store.url).dispose()  # new connections take the short timeout
    with session_scope() as s:
        officer = get_user(s, "officer")
    holder = sqlite3.connect(store.db_path)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(ServiceError) as exc, session_scope() as s:
            field.save_draft(s, officer, "incident", {"x": 1})
        assert exc.value.key == "error.busy"
        assert "稍后重试" in error_text(exc.value, "zh") and "try again" in error_text(exc.value, "en")
    finally:
        holder.rollback()
        holder.close()
    with session_scope() as s:
        assert s.execute(select(func.count()).select_from(Draft)).scalar_one() == 0
    db.get_engine(store.url).dispose()


def test_store_files_are_private(tmp_path, monkeypatch):
    """A new store: data directory 0700, database and photo files 0600, whatever the umask."""
    from patrol_app.photos import store_photo
    from patrol_app.storage.migrate import upgrade

    old = os.umask(0o022)
    try:
        data = tmp_path / "store"
        monkeypatch.setenv("PATROL_DATA_DIR", str(data))
        url = f"sqlite:///{data / 'patrol.db'}"
        upgrade(url)
        with session_scope(url) as s:
            s.execute(select(func.count()).select_from(Patrol)).scalar_one()
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", (64, 48), (1, 2, 3)).save(buf, "JPEG")
        sp = store_photo(buf.getvalue(), "a.jpg", data)
        db.get_engine(url).dispose()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    assert (data / "patrol.db") in files and (data / sp.path) in files
    for p in files:
        assert stat.S_IMODE(os.stat(p).st_mode) & 0o077 == 0, (p, oct(os.stat(p).st_mode))
    for p in [p for p in data.rglob("*") if p.is_dir()]:
        assert stat.S_IMODE(os.stat(p).st_mode) & 0o077 == 0, (p, oct(os.stat(p).st_mode))
