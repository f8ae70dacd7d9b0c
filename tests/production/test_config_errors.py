"""Configuration errors print one clear line and exit 1, for every verb; no command prints a database password."""

from __future__ import annotations

import socket

import pytest

from patrol_app.i18n import t
from tests.conftest import pg_admin_url

SECRET = "s3cr3t-Pa55"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket goes: nothing listens there


def _one_line(p) -> str:  # type: ignore[no-untyped-def]
    assert p.returncode == 1, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    return lines[0]


@pytest.mark.parametrize(
    "verb",
    [
        ["db", "upgrade"],
        ["roads", "list"],
        ["audit", "verify"],
        ["users", "list"],
        ["demo", "--if-empty"],
        ["backup", "--out", "x.tar.gz"],
        ["serve"],
    ],
)
def test_unreachable_database_one_line_without_the_password(empty_store, run_patrol, verb):
    port = _closed_port()
    url = f"postgresql+psycopg://patrol:{SECRET}@127.0.0.1:{port}/bureau"

    p = run_patrol(verb, {**empty_store.env, "PATROL_DB_URL": url})

    line = _one_line(p)
    assert SECRET not in p.stderr + p.stdout
    prefix = t(
        "config.db_unreachable", url=f"postgresql+psycopg://patrol:***@127.0.0.1:{port}/bureau", reason="\0"
    ).split("\0")[0]
    assert line.startswith(prefix), line
    assert "refused" in line[len(prefix) :].lower()  # the driver's reason follows


def test_bad_database_url(empty_store, run_patrol):
    p = run_patrol(["roads", "list"], {**empty_store.env, "PATROL_DB_URL": f"not a url :{SECRET}@"})

    assert _one_line(p) == t("config.bad_db_url")
    assert SECRET not in p.stderr + p.stdout


def test_unknown_database_driver(empty_store, run_patrol):
    p = run_patrol(["roads", "list"], {**empty_store.env, "PATROL_DB_URL": f"oracle://u:{SECRET}@h/db"})

    assert _one_line(p) == t("config.bad_db_driver", scheme="oracle")
    assert SECRET not in p.stderr + p.stdout


def test_unwritable_data_dir(empty_store, run_patrol):
    # /proc/sys exists and nobody, root included, can create a file in it
    p = run_patrol(["roads", "list"], {**empty_store.env, "PATROL_DATA_DIR": "/proc/sys"})

    assert _one_line(p) == t("config.dir_unwritable", path="/proc/sys")


def test_data_dir_that_is_a_file(empty_store, run_patrol, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")  # a file where the data directory should be: cannot be created, even as root

    p = run_patrol(["users", "list"], {**empty_store.env, "PATROL_DATA_DIR": str(blocker / "data")})

    assert _one_line(p) == t("config.dir_unwritable", path=str(blocker / "data"))


def test_db_upgrade_never_prints_the_password(run_patrol, empty_store):
    admin = pg_admin_url()
    from sqlalchemy.engine import make_url

    url = make_url(admin).set(password=SECRET).render_as_string(hide_password=False)  # trust auth ignores it

    p = run_patrol(["db", "upgrade"], {**empty_store.env, "PATROL_DB_URL": url})

    assert p.returncode == 0, p.stderr
    assert SECRET not in p.stdout + p.stderr
    assert "***" in p.stdout


# --- patrol serve: where it may listen ---------------------------------------------------------------------


def test_serve_refuses_plain_http_on_a_public_address(empty_store, run_patrol):
    p = run_patrol(["serve", "--host", "0.0.0.0", "--port", "1"], empty_store.env)

    assert _one_line(p) == t("config.public_without_tls", host="0.0.0.0")


def test_serve_needs_both_tls_files(empty_store, run_patrol, tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    p = run_patrol(["serve", "--host", "0.0.0.0", "--tls-cert", str(cert)], empty_store.env)

    assert _one_line(p) == t("config.tls_pair")


def test_production_refuses_a_store_with_demo_accounts(store, run_patrol):
    p = run_patrol(["serve", "--production", "--port", "1"], store.env)

    line = _one_line(p)
    assert line == t("config.demo_accounts", usernames="admin, leader, manager, officer, officer2, reviewer")


def test_production_refuses_a_trail_without_its_key(empty_store, run_patrol):
    from patrol_app.services import auth
    from patrol_app.storage.db import session_scope

    with session_scope(empty_store.url) as s:  # a store in use: its trail has entries
        auth.create_first_admin(s, "admin", "bureau-secret-42")
    key = empty_store.data_dir / "audit.key"
    key.unlink()  # the key was not copied along with the store (or was lost)

    p = run_patrol(["serve", "--production", "--port", "1"], empty_store.env)

    assert _one_line(p) == t("config.audit_key_missing", path=str(key), entries=1)
    assert not key.exists()  # not replaced by a new key that could never verify the trail


def test_production_refuses_a_key_file_others_can_read(empty_store, run_patrol):
    key = empty_store.data_dir / "audit.key"
    key.write_text("ab" * 32 + "\n")
    key.chmod(0o644)

    p = run_patrol(["serve", "--production", "--port", "1"], empty_store.env)

    assert _one_line(p) == t("config.key_file_open", path=str(key), mode="644")
