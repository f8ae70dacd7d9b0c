"""Every verb migrates first; on a current store that must cost one query, not Alembic's start-up."""

import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from patrol_app.storage.migrate import alembic_config, head_revisions, is_current, upgrade

ROOT = Path(__file__).resolve().parents[2]


def test_heads_read_from_the_files_are_alembics():
    assert set(head_revisions()) == set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def test_upgrade_of_a_current_store_does_not_start_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'patrol.db'}"
    assert not is_current(url)  # empty: no alembic_version table
    upgrade(url)
    assert is_current(url)
    code = (
        "import sys; from patrol_app.storage.migrate import upgrade; "
        f"upgrade({url!r}); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def test_an_older_store_is_migrated(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path / 'patrol.db'}"
    command.upgrade(alembic_config(url), "0001")
    assert not is_current(url)
    upgrade(url)
    with create_engine(url).connect() as conn:
        assert set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()) == set(
            head_revisions()
        )
