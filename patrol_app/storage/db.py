"""The one place that builds engines and sessions."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event, insert
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from patrol_app.config import get_settings
from patrol_app.storage.canonical import canonical_json as _canonical

log = logging.getLogger(__name__)
T = TypeVar("T")


#: How long a writer waits for SQLite's write lock before giving up with "busy, try again".
BUSY_TIMEOUT_MS = 15000


def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_MS)}")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) readable by the service user only (0700); an existing directory
    is left as it is unless this process created it."""
    missing = []
    p = Path(path)
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            d.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(d, 0o700)  # mkdir's mode is masked by the umask


def private_file(path: Path) -> None:
    """Create an empty database file readable by the service user only (0600) before SQLite opens it; SQLite
    gives its -wal and -shm files the same permissions."""
    private_dir(path.parent)
    if not path.exists():
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return
        os.close(fd)
        os.chmod(path, 0o600)


def _sqlite_begin(conn: Connection) -> None:
    # BEGIN IMMEDIATE: a writing transaction takes the write lock up front, so two writers queue on the
    # busy timeout instead of failing half-way with "database is locked".
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@functools.lru_cache(maxsize=16)
def get_engine(url: str | None = None, reading: bool = False) -> Engine:
    """The engine of a database URL. On SQLite, writing transactions take the write lock up front (BEGIN
    IMMEDIATE); the ``reading`` engine begins plainly, so that readers never wait for or block writers (WAL)."""
    url = url or get_settings().db_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            private_file(Path(path))
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "isolation_level": None},
            json_serializer=canonical_json,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_read if reading else _sqlite_begin)
    elif reading:
        return get_engine(url)
    else:
        from patrol_app.storage import spatial

        engine = create_engine(url, pool_pre_ping=True, json_serializer=canonical_json)
        spatial.watch(engine)  # does the store have PostGIS's columns (migration 0012)?
    return engine


class CanonicalJSON(str):
    """A value already encoded by :func:`canonical_json` (the audit trail encodes each value once, for its hash
    and its column alike): written to a JSON column as it is."""


def canonical_json(value: object) -> str:
    """JSON columns are stored in the canonical form the audit hash uses (sorted keys, no spaces, UTF-8), so
    that checking the chain can hash the stored text as it is instead of parsing and re-encoding it."""
    if type(value) is CanonicalJSON:
        return str.__str__(value)
    return _canonical(value)


def insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys: bulk imports, audit entries) as one statement executed many
    times. On SQLite the values go to the driver through the columns' own bind processors, without SQLAlchemy's
    generic work for each row (a third of the time of a 100,000-row insert); elsewhere a Core insert."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(insert(table), rows)
        return
    dialect = conn.dialect
    keys = [k for k in rows[0] if k in table.c]
    cols = [table.c[k] for k in keys]
    procs = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in cols]
    names = ", ".join(dialect.identifier_preparer.format_column(c) for c in cols)
    marks = ", ".join("?" * len(keys))
    sql = f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({names}) VALUES ({marks})"
    # column by column: a value all the rows share (an import's time, its batch) is processed once
    columns: list[Sequence[Any]] = []
    for k, proc in zip(keys, procs):
        values = [r[k] for r in rows]
        if proc is not None:
            first = values[0]
            if all(v is first for v in values):
                values = [proc(first)] * len(values)
            else:
                values = [proc(v) for v in values]
        columns.append(values)
    params = list(zip(*columns))
    conn.exec_driver_sql(sql, params)


def _sqlite_begin_read(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN")


@functools.lru_cache(maxsize=16)
def _factory(url: str, reading: bool = False) -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(url, reading), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error. A store too busy to take the write (SQLite's
    "database is locked" after the busy timeout; a lock timeout, deadlock or serialization failure on
    PostgreSQL) becomes ``ServiceError("error.busy")``: "busy, try again", nothing saved."""
    session = _factory(url or get_settings().db_url)()
    try:
        yield session
        session.commit()
    except BaseException as exc:
        session.rollback()
        busy = busy_error(exc)
        if busy is not None:
            raise busy from exc
        raise
    finally:
        session.close()


_BUSY_MESSAGES = (
    "database is locked",
    "database table is locked",
    "could not obtain lock",
    "deadlock detected",
    "could not serialize access",
    "lock timeout",
)


def busy_error(exc: BaseException) -> Exception | None:
    """The "busy, try again" error for a database error that only means "someone else holds the lock"."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and any(m in str(exc.orig).lower() for m in _BUSY_MESSAGES):
        from patrol_app.services.errors import ServiceError

        return ServiceError("error.busy")
    return None


def replica_url(url: str | None = None) -> str | None:
    """The read replica's URL for reads of ``url`` (default the primary) that may be a second stale, or None."""
    settings = get_settings()
    read_url = settings.db_read_url
    if not read_url or (url is not None and url != settings.db_url):
        return None
    return read_url


def _replica_session(read_url: str) -> Session | None:
    """A reading session on the replica, or None when it does not answer (stopped, restarting): the caller reads
    the primary instead, so a replica's outage costs only load on the primary."""
    session = _factory(read_url, True)()
    try:
        session.connection()
    except OperationalError:
        session.close()
        log.warning("read replica unreachable; reading from the primary")
        return None
    return session


def read_stale(fn: Callable[[Session], T], url: str | None = None) -> T:
    """``fn(session)`` on a reading session that may be a second behind (:func:`read_session` with
    ``stale_ok``); when the replica goes away in the middle of it (stopped, restarted: the connection is cut), ``fn``
    runs again on the primary, so a replica's outage never fails a read. ``fn`` only reads: running it twice is
    harmless."""
    from sqlalchemy.exc import DBAPIError

    replica = False
    try:
        with read_session(url, stale_ok=True) as s:
            replica = s.info.get("replica", False)
            return fn(s)
    except DBAPIError as exc:
        if not (replica and exc.connection_invalidated):
            raise
        log.warning("read replica dropped the connection; reading from the primary")
    with read_session(url) as s:
        return fn(s)


@contextmanager
def read_session(url: str | None = None, stale_ok: bool = False) -> Iterator[Session]:
    """A session for reading only (never commits; never takes SQLite's write lock). Objects read stay usable
    after it closes (detached, with what was loaded).

    ``stale_ok=True`` marks reads that may be a second behind the latest write — reports, maps, exports: they go
    to the read replica when ``PATROL_DB_READ_URL`` is set (and to the primary while the replica is down).
    Everything else (sessions, a record just saved, anything a write depends on) reads the primary."""
    session = None
    read_url = replica_url(url) if stale_ok else None
    if read_url:
        session = _replica_session(read_url)
        if session is not None:
            session.info["replica"] = True
    if session is None:
        session = _factory(url or get_settings().db_url, True)()
    session.info["reading"] = True  # never commits: a write it needs (an audit entry) goes elsewhere
    try:
        yield session
    finally:
        session.close()
