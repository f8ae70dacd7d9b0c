"""``patrol backup --out FILE`` and ``patrol restore FILE``: the database and the photo store in one archive.

The archive is a gzipped tar holding ``manifest.json`` (engine, schema revision, and the SHA-256 and size of every
other member), the database and every file under ``$PATROL_DATA_DIR/photos``:

* SQLite: ``database.sqlite3``, a consistent copy taken with SQLite's online backup API while the app runs;
* PostgreSQL: ``database.pgdump``, ``pg_dump --format=custom`` (restored with ``pg_restore``), from Debian's
  PostgreSQL client. The password goes to the tools in their environment (``PGPASSWORD``), never on a command line.

The database is copied first and the photos after it: a photo is stored before the row that names it, so every
photo the copied database names is in the archive. Restoring checks every member against the manifest before
it touches the store, refuses a store that holds data unless ``--force``, then migrates the restored database to
the current schema. The audit key is not in the archive: back it up separately (a store restored without its
key cannot be verified). No Streamlit here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from patrol_app.clock import utc_now
from patrol_app.config import get_settings
from patrol_app.production import ConfigError, scrub


def make_url(url: str) -> Any:
    """SQLAlchemy's URL parser, imported on first use (``patrol --help`` loads this module: it must stay cheap)."""
    from sqlalchemy.engine import make_url as parse

    return parse(url)


FORMAT = "patrol-backup"
VERSION = 1
PHOTOS = "photos"
DB_MEMBER = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
CHUNK = 1 << 20


@dataclass(frozen=True)
class Summary:
    path: str
    engine: str
    files: int
    size: int


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _engine_name(url: str) -> str:
    return make_url(url).get_backend_name()


def _sqlite_path(url: str) -> Path:
    db = make_url(url).database
    if not db or db == ":memory:":
        raise ConfigError("config.bad_db_url")
    return Path(db).expanduser().resolve()


# --- PostgreSQL tools -----------------------------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    """The newest Debian PostgreSQL binary (``/usr/lib/postgresql/N/bin``), else the one on PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if candidates:
        return str(candidates[-1])
    found = shutil.which(name)
    if not found:
        raise ConfigError("backup.tool_missing", tool=name)
    return found


def _pg_env(url: str) -> dict[str, str]:
    u = make_url(url)
    env = {**os.environ}
    for var, value in (
        ("PGHOST", u.host),
        ("PGPORT", u.port),
        ("PGUSER", u.username),
        ("PGPASSWORD", u.password),
        ("PGDATABASE", u.database),
    ):
        if value is not None:
            env[var] = str(value)
    for key, value in (u.query or {}).items():  # e.g. ?sslmode=require
        if key in ("sslmode", "sslrootcert", "sslcert", "sslkey"):
            env["PG" + key.upper()] = str(value if isinstance(value, str) else value[0])
    return env


def _run(tool: str, args: list[str], url: str) -> None:
    proc = subprocess.run([_pg_tool(tool), *args], env=_pg_env(url), capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise ConfigError(
            "backup.tool_failed", tool=tool, reason=scrub(lines[0] if lines else str(proc.returncode), url)
        )


# --- backup ---------------------------------------------------------------------------------------------------


def _dump_database(url: str, into: Path) -> None:
    if _engine_name(url) == "sqlite":
        src = sqlite3.connect(_sqlite_path(url))
        dst = sqlite3.connect(into)
        try:
            src.backup(dst)  # a consistent copy, page by page, while the app keeps writing
        finally:
            dst.close()
            src.close()
    else:
        _run("pg_dump", ["--format=custom", "--no-owner", "--no-privileges", f"--file={into}"], url)


def _photo_files(data_dir: Path) -> Iterator[tuple[str, Path]]:
    root = data_dir / PHOTOS
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and not path.name.startswith("."):
            yield path.relative_to(data_dir).as_posix(), path


def _schema_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from patrol_app.storage.db import get_engine

    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def backup(out: Path, url: str | None = None, data_dir: Path | None = None) -> Summary:
    """Write the archive to ``out`` (atomically: a temporary file beside it, then renamed)."""
    settings = get_settings()
    url = url or settings.db_url
    data_dir = data_dir or settings.data_dir
    engine = _engine_name(url)
    out = out.expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".patrol-backup-", dir=out.parent) as tmp:
        db_file = Path(tmp) / DB_MEMBER[engine]
        _dump_database(url, db_file)
        members: list[tuple[str, Path]] = [(DB_MEMBER[engine], db_file), *_photo_files(data_dir)]
        files = [
            {"path": name, "sha256": _sha256(path), "size": path.stat().st_size} for name, path in members
        ]
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "engine": engine,
            "schema": _schema_revision(url),
            "created_at": utc_now().replace(tzinfo=dt.UTC).isoformat(timespec="seconds"),
            "database": DB_MEMBER[engine],
            "files": files,
        }
        partial = Path(tmp) / "archive.tar.gz"
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            data = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size, info.mode, info.mtime = len(data), 0o600, int(dt.datetime.now().timestamp())
            tar.addfile(info, io.BytesIO(data))
            for name, path in members:
                tar.add(path, arcname=name, recursive=False)
        os.chmod(partial, 0o600)  # it holds personal data (parties, phone numbers) and password hashes
        os.replace(partial, out)
    return Summary(str(out), engine, len(members) - 1, out.stat().st_size)


# --- restore --------------------------------------------------------------------------------------------------


def _bad(path: Path, reason: str) -> ConfigError:
    return ConfigError("backup.not_a_backup", path=str(path), reason=reason)


def _safe_member(name: str) -> bool:
    p = PurePosixPath(name)
    return (
        not p.is_absolute() and ".." not in p.parts and (name in DB_MEMBER.values() or p.parts[0] == PHOTOS)
    )


def _read_manifest(tar: tarfile.TarFile, path: Path) -> dict[str, Any]:
    try:
        f = tar.extractfile("manifest.json")
        manifest = json.loads(f.read()) if f else None
    except (KeyError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _bad(path, "manifest.json")
    if manifest.get("version") != VERSION or manifest.get("engine") not in DB_MEMBER:
        raise _bad(path, f"version {manifest.get('version')}, engine {manifest.get('engine')}")
    for entry in manifest.get("files", []):
        if not _safe_member(str(entry.get("path", ""))):
            raise _bad(path, str(entry.get("path")))
    return manifest


def store_holdings(url: str) -> dict[str, int]:
    """What the store holds that a restore would overwrite (empty for a new or never-used store)."""
    from sqlalchemy import inspect, text

    from patrol_app.storage.db import get_engine

    engine = get_engine(url)
    found: dict[str, int] = {}
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        for kind, table, where in (
            ("accounts", "users", "WHERE username <> 'cli'"),
            ("roads", "road_pieces", ""),
            ("patrols", "patrols", ""),
            ("incidents", "incidents", ""),
            ("personnel", "personnel", ""),
            ("vehicles", "vehicles", ""),
            ("photos", "photos", ""),
        ):
            if table in tables:
                n = conn.execute(text(f"SELECT count(*) FROM {table} {where}")).scalar_one()
                if n:
                    found[kind] = n
    return found


def _extract_checked(tar: tarfile.TarFile, manifest: dict[str, Any], into: Path, path: Path) -> None:
    """Every manifest member into ``into``, each checked against its SHA-256 and size before anything is used."""
    for entry in manifest["files"]:
        name = entry["path"]
        try:
            info = tar.getmember(name)
        except KeyError:
            raise _bad(path, name) from None
        if not info.isfile():
            raise _bad(path, name)
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        src = tar.extractfile(info)
        assert src is not None
        with open(target, "wb") as dst:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                dst.write(chunk)
        if h.hexdigest() != entry["sha256"] or target.stat().st_size != entry["size"]:
            raise ConfigError("backup.checksum", path=str(path), member=name)
        os.chmod(target, info.mode & 0o777 or 0o644)


def _restore_database(url: str, dump: Path) -> None:
    from patrol_app.storage.db import get_engine

    get_engine(url).dispose()
    get_engine(url, True).dispose()
    if _engine_name(url) == "sqlite":
        src = sqlite3.connect(dump)
        dst = sqlite3.connect(_sqlite_path(url), timeout=30)
        try:
            src.backup(dst)  # replaces the whole database, WAL mode or not, under SQLite's own lock
        finally:
            dst.close()
            src.close()
    else:
        _run(
            "pg_restore",
            [
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                f"--dbname={make_url(url).database}",
                str(dump),
            ],
            url,
        )


def _move_photos(staged: Path, data_dir: Path) -> int:
    n = 0
    root = staged / PHOTOS
    if not root.is_dir():
        return 0
    for path in sorted(root.rglob("*")):
        if path.is_file():
            target = data_dir / path.relative_to(staged)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            n += 1
    return n


def restore(
    archive: Path, force: bool = False, url: str | None = None, data_dir: Path | None = None
) -> Summary:
    settings = get_settings()
    url = url or settings.db_url
    data_dir = data_dir or settings.data_dir
    archive = archive.expanduser().resolve()
    try:
        tar = tarfile.open(archive, "r:*")
    except (OSError, tarfile.TarError) as exc:
        raise _bad(archive, type(exc).__name__) from None
    with tar:
        manifest = _read_manifest(tar, archive)
        engine = _engine_name(url)
        if manifest["engine"] != engine:
            raise ConfigError("backup.engine_mismatch", source=manifest["engine"], target=engine)
        if not force:
            held = store_holdings(url)
            if held:
                from patrol_app.i18n import t

                lang = settings.lang
                what = t("demo.kind_separator", lang).join(
                    t("demo.kind." + k, lang, n=n) for k, n in held.items()
                )
                raise ConfigError("backup.refused_non_empty", what=what)
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".patrol-restore-", dir=data_dir) as tmp:
            staged = Path(tmp)
            _extract_checked(tar, manifest, staged, archive)  # nothing touched until every member checks out
            _restore_database(url, staged / manifest["database"])
            files = _move_photos(staged, data_dir)
    from patrol_app.storage.migrate import upgrade

    upgrade(url)
    return Summary(str(archive), engine, files, archive.stat().st_size)


# --- the command line -----------------------------------------------------------------------------------------


def _audit(action: str, after: dict[str, Any]) -> None:
    from patrol_app.services import audit
    from patrol_app.services.users import cli_actor
    from patrol_app.storage.db import session_scope

    with session_scope() as s:
        audit.record(s, cli_actor(s), action, "store", "", after=after)


def cmd_backup(cli: Any) -> int:
    from patrol_app.i18n import t
    from patrol_app.storage.migrate import upgrade

    upgrade()
    out = Path(cli.args.out)
    _audit("store.backup", {"file": out.name})
    res = backup(out)
    cli.out(
        t(
            "backup.done",
            cli.lang,
            path=res.path,
            engine=res.engine,
            files=res.files,
            size=f"{res.size / 1e6:.1f}",
        )
    )
    return 0


def cmd_restore(cli: Any) -> int:
    from patrol_app.i18n import t

    res = restore(Path(cli.args.path), force=cli.args.force)
    _audit("store.restore", {"file": Path(res.path).name, "forced": bool(cli.args.force)})
    cli.out(t("backup.restored", cli.lang, path=res.path, engine=res.engine, files=res.files))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, h: Any) -> None:
    b = sub.add_parser("backup", help=h("backup"), parents=[common])
    b.add_argument("--out", required=True, metavar="FILE", help=h("backup.out"))
    b.set_defaults(fn=cmd_backup)
    r = sub.add_parser("restore", help=h("restore"), parents=[common])
    r.add_argument("path", metavar="FILE", help=h("restore.path"))
    r.add_argument("--force", action="store_true", help=h("restore.force"))
    r.set_defaults(fn=cmd_restore)
