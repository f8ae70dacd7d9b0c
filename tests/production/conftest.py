"""Fixtures for the production path: an empty store (what a bureau's server starts from)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import _SETTING_VARS, DB_NAME, sqlite_url


@dataclass(frozen=True)
class EmptyStore:
    data_dir: Path
    url: str
    env: dict[str, str]

    @property
    def db_path(self) -> Path:
        return self.data_dir / DB_NAME


@pytest.fixture
def empty_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EmptyStore:
    """A migrated store with no account, road or record; PATROL_DATA_DIR points there."""
    from patrol_app.storage.migrate import upgrade

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    for var in (
        *_SETTING_VARS,
        "PATROL_PRODUCTION",
        "PATROL_BEHIND_PROXY",
        "PATROL_COOKIE_SECURE",
        "PATROL_AUDIT_KEY",
        "PATROL_AUDIT_KEY_FILE",
        "PATROL_SESSION_KEY",
        "PATROL_SESSION_KEY_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PATROL_DATA_DIR", str(data_dir))
    url = sqlite_url(data_dir / DB_NAME)
    upgrade(url)
    env = {k: v for k, v in os.environ.items() if k not in _SETTING_VARS}
    env.update(PATROL_DATA_DIR=str(data_dir), PYTHONIOENCODING="utf-8")
    return EmptyStore(data_dir, url, env)
