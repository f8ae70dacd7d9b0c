"""A safe start: the checks every ``patrol`` command makes first, and the production start of ``patrol serve``.

``PATROL_PRODUCTION=1`` (or ``patrol serve --production``)  the bureau's server: the demo is never loaded, the
    secrets come from the environment or from files, and the server says where the store, photos and keys are.
``PATROL_BEHIND_PROXY=1`` (or ``--behind-proxy``)  an HTTPS reverse proxy in front talks plain HTTP to the app:
    the session cookie is marked Secure and a non-loopback address is allowed without ``--tls-cert``.
``PATROL_SESSION_KEY`` / ``PATROL_SESSION_KEY_FILE``  the key that signs the web server's own cookies (Streamlit's
    ``server.cookieSecret``); default file ``$PATROL_DATA_DIR/session.key``, made (0600) when missing. Several app
    servers behind one proxy must share it.
``PATROL_AUDIT_KEY`` / ``PATROL_AUDIT_KEY_FILE``  the audit trail's key (default ``$PATROL_DATA_DIR/audit.key``).

A configuration error is a :class:`ConfigError` with a catalog key: the command prints one line and exits 1.
No message ever holds a database password. No Streamlit here.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from patrol_app.config import Settings, get_settings

KEY_BYTES = 32
TRUE = ("1", "true", "yes", "on")


class ConfigError(Exception):
    """A configuration the app cannot run with; ``key`` is a catalog key, ``params`` its parameters."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def _flag(name: str) -> bool:
    return (os.environ.get(name) or "").strip().lower() in TRUE


def production_mode() -> bool:
    return _flag("PATROL_PRODUCTION")


def behind_proxy() -> bool:
    return _flag("PATROL_BEHIND_PROXY")


# --- database URL and data directory --------------------------------------------------------------------------


def safe_url(url: str) -> str:
    """A database URL fit to print: never its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is never echoed (it may hold a password)
        return "PATROL_DB_URL"


def scrub(text: str, url: str) -> str:
    """``text`` (e.g. a driver's error message) without the URL's password, on one line."""
    from sqlalchemy.engine import make_url

    line = " ".join(str(text).split())
    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001
        password = None
    if password:
        line = line.replace(str(password), "***")
    return line[:300]


def check_db_url(url: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError("config.bad_db_url") from None
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise ConfigError("config.bad_db_driver", scheme=parsed.drivername) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError("config.bad_db_driver", scheme=parsed.drivername)
    try:
        dialect.import_dbapi()
    except ImportError:  # psycopg is the ``postgres`` extra
        raise ConfigError("config.driver_missing", driver=dialect.driver) from None
    return parsed


def _writable_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-check-"):
            pass
    except OSError:
        raise ConfigError("config.dir_unwritable", path=str(path)) from None


def check_database(url: str, timeout_s: int = 5) -> None:
    """Connect once (a throwaway engine, a short timeout): an unreachable server is one clear error."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.pool import NullPool

    parsed = check_db_url(url)
    args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        args["connect_timeout"] = timeout_s
    engine = create_engine(url, poolclass=NullPool, connect_args=args)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        raise ConfigError(
            "config.db_unreachable",
            url=safe_url(url),
            reason=scrub(str(exc.orig).splitlines()[0] if exc.orig else "", url),
        ) from None
    finally:
        engine.dispose()


def preflight(settings: Settings | None = None) -> None:
    """What every command checks before it touches the store: a usable URL, a writable data directory (and the
    SQLite file's directory), a reachable database."""
    settings = settings or get_settings()
    parsed = check_db_url(settings.db_url)
    _writable_dir(settings.data_dir)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        _writable_dir(Path(parsed.database).expanduser().resolve().parent)
    check_database(settings.db_url)


# --- listening address ---------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(i[4][0]).split("%")[0]).is_loopback for i in infos)


def check_listen(host: str, cert: str | None, key: str | None, proxy: bool) -> None:
    """Plain HTTP only on loopback, unless an HTTPS reverse proxy in front is declared."""
    if bool(cert) != bool(key):
        raise ConfigError("config.tls_pair")
    for path in (cert, key):
        if path and not os.access(path, os.R_OK):
            raise ConfigError("config.unreadable", path=str(path))
    if not cert and not proxy and not is_loopback(host):
        raise ConfigError("config.public_without_tls", host=host)


# --- secrets --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Secret:
    value: str | None  # None: only checked (the audit key is read by the audit service itself)
    where: str  # the environment variable's name or the file's path
    created: bool = False


def _check_private(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        raise ConfigError("config.unreadable", path=str(path)) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError("config.key_file_open", path=str(path), mode=oct(stat.S_IMODE(mode))[2:])


def _read_key_file(path: Path) -> str:
    _check_private(path)
    try:
        value = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeError):
        raise ConfigError("config.unreadable", path=str(path)) from None
    if not value:
        raise ConfigError("config.key_file_empty", path=str(path))
    return value


def _create_key_file(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another server made it meanwhile: use theirs
        return _read_key_file(path)
    except OSError:
        raise ConfigError("config.dir_unwritable", path=str(path.parent)) from None
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(value + "\n")
    os.chmod(path, 0o600)
    return value


def _key_file(var: str, default_name: str, settings: Settings) -> Path:
    explicit = os.environ.get(var)
    return Path(explicit).expanduser() if explicit else settings.data_dir / default_name


def session_key(settings: Settings) -> Secret:
    """The web server's cookie-signing key: from the environment, else its file (made when missing: a new key
    only means that Streamlit's own cookies are issued afresh)."""
    env = os.environ.get("PATROL_SESSION_KEY")
    if env:
        return Secret(env, "PATROL_SESSION_KEY")
    path = _key_file("PATROL_SESSION_KEY_FILE", "session.key", settings)
    if path.exists():
        return Secret(_read_key_file(path), str(path))
    return Secret(_create_key_file(path), str(path), created=True)


def audit_key(settings: Settings, trail_entries: int) -> Secret:
    """The audit key must exist before the server starts. On a new store (an empty trail) a missing key file is
    made (0600), and the server says where, so that the administrator backs it up at once. On a store that
    already has a trail a missing key is refused: a new key could never verify the existing trail, so the key
    has to come back from its backup."""
    if os.environ.get("PATROL_AUDIT_KEY"):
        return Secret(None, "PATROL_AUDIT_KEY")
    path = _key_file("PATROL_AUDIT_KEY_FILE", "audit.key", settings)
    if path.exists():
        _read_key_file(path)
        return Secret(None, str(path))
    if trail_entries:
        raise ConfigError("config.audit_key_missing", path=str(path), entries=trail_entries)
    _create_key_file(path)
    return Secret(None, str(path), created=True)


# --- the production start -------------------------------------------------------------------------------------


def prepare(url: str, proxy: bool) -> list[tuple[str, dict[str, Any]]]:
    """Check a migrated store and the secrets for a production start; the lines (catalog key, parameters) the
    server prints about where things are. Sets the web server's cookie key in this process's environment."""
    from sqlalchemy import func, select

    from patrol_app.services.auth import needs_first_admin
    from patrol_app.storage.db import read_session
    from patrol_app.storage.models import AuditEntry, User

    settings = get_settings()
    with read_session(url) as s:
        demo = sorted(s.scalars(select(User.username).where(User.demo.is_(True), User.active.is_(True))))
        entries = s.scalar(select(func.count(AuditEntry.id))) or 0
        first_admin = needs_first_admin(s)
    if demo:
        raise ConfigError("config.demo_accounts", usernames=", ".join(demo))
    lines: list[tuple[str, dict[str, Any]]] = [
        ("production.store", {"db": safe_url(url)}),
        ("production.photos", {"path": str(settings.data_dir / "photos")}),
    ]
    akey = audit_key(settings, entries)
    lines.append(
        ("production.audit_key_created" if akey.created else "production.audit_key", {"where": akey.where})
    )
    skey = session_key(settings)
    os.environ["STREAMLIT_SERVER_COOKIE_SECRET"] = skey.value or ""
    lines.append(("production.session_key", {"where": skey.where}))
    if proxy:
        lines.append(
            ("production.behind_proxy", {"ips": os.environ.get("FORWARDED_ALLOW_IPS") or "127.0.0.1"})
        )
    if first_admin:
        lines.append(("production.first_admin", {}))
    return lines
