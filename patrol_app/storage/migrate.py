"""Alembic migrations, run programmatically (``patrol db upgrade``, ``make run`` and tests).

Every ``patrol`` verb calls :func:`upgrade` first. When the store is already at the newest revision (nearly
always) that is one query against ``alembic_version``, compared with the heads read from the migration files'
``revision``/``down_revision`` lines: Alembic itself (≈ 0.5 s of imports and script loading) runs only when there
is something to migrate.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from patrol_app.config import get_settings
from patrol_app.storage.db import get_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_REVISION = re.compile(r"^revision\s*(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


def alembic_config(url: str | None = None) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", (url or get_settings().db_url).replace("%", "%%"))
    return cfg


@functools.cache
def head_revisions() -> frozenset[str]:
    """The newest revision(s): every revision no other one names as its ``down_revision``."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for py in (MIGRATIONS / "versions").glob("*.py"):
        text = py.read_text(encoding="utf-8")
        rev = _REVISION.search(text)
        if rev:
            revisions.add(rev.group(1))
        down = _DOWN.search(text)
        if down:
            downs.update(re.findall(r"['\"]([^'\"]+)['\"]", down.group(1)))
    return frozenset(revisions - downs)


def is_current(url: str | None = None) -> bool:
    """The store's schema is at the newest revision (False for an empty or older store, or on any doubt)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    engine = get_engine(url or get_settings().db_url)
    try:
        with engine.connect() as conn:
            stored = set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except DBAPIError:
        return False
    return bool(stored) and stored == set(head_revisions())


def upgrade(url: str | None = None) -> None:
    """Create or migrate the database to the newest schema."""
    url = url or get_settings().db_url
    if is_current(url):
        return
    from alembic import command

    engine = get_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
