"""Append-only, hash-chained audit trail."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patrol_app.clock import utc_now
from patrol_app.storage.models import AuditEntry, AuditHead, User

GENESIS = "0" * 64


def _jsonable(value: Any) -> Any:
    if value is None:
        return None
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def entry_hash(
    prev_hash: str,
    id_: int,
    ts: dt.datetime,
    actor_id: int | None,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: Any,
    after: Any,
) -> str:
    payload = json.dumps(
        [id_, ts.isoformat(timespec="microseconds"), actor_id, actor, action, entity, entity_id, before, after],
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def record(
    session: Session,
    actor: User,
    action: str,
    entity: str,
    entity_id: Any = "",
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Append one audit entry in the caller's transaction."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, last_id=0, last_hash=GENESIS)
        session.add(head)
    ts = utc_now()
    before_j, after_j = _jsonable(before), _jsonable(after)
    new_id = head.last_id + 1
    h = entry_hash(head.last_hash, new_id, ts, actor.id, actor.username, action, entity, str(entity_id),
                   before_j, after_j)
    entry = AuditEntry(
        id=new_id,
        ts=ts,
        actor_id=actor.id,
        actor=actor.username,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        before=before_j,
        after=after_j,
        prev_hash=head.last_hash,
        hash=h,
    )
    session.add(entry)
    head.last_id = new_id
    head.last_hash = h
    session.flush()
    return entry


@dataclass
class VerifyResult:
    ok: bool
    entries: int
    first_bad_id: int | None = None
    reason: str = ""


#: From this many entries on (SQLite file stores), ``verify`` spreads the work over worker processes.
PARALLEL_MIN_ENTRIES = 200_000
_MAX_WORKERS = 8


def verify(session: Session, actor: User | None = None, *, workers: int | None = None) -> VerifyResult:
    """Recompute the chain; report the first broken link (edited, deleted or inserted rows).

    ``entries`` counts the rows read up to and including the first bad one. With ``actor`` the call needs
    ``Perm.VERIFY_AUDIT``. On a SQLite file the committed trail is read on read-only connections of its own
    (a WAL snapshot: writers are not blocked meanwhile), split over ``workers`` processes for large trails
    (default: one per CPU, up to 8, from ``PARALLEL_MIN_ENTRIES`` entries on); other databases are read through
    ``session``. Either way the verdict is the same: every entry is re-hashed exactly as ``entry_hash`` does.
    """
    if actor is not None:
        from patrol_app.domain.rules import Perm
        from patrol_app.services.users import require

        require(actor, Perm.VERIFY_AUDIT)
    path = _sqlite_file(session)
    if path is None:
        return _verify_in_session(session)
    return _verify_sqlite_file(path, workers)


def _sqlite_file(session: Session) -> str | None:
    bind = session.get_bind()
    url = bind.engine.url if hasattr(bind, "engine") else None
    if url is None or url.get_backend_name() != "sqlite":
        return None
    db = url.database or ""
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    import os

    return db if os.path.exists(db) else None


def _stitch(chunks: list[Any], head: tuple[int, str] | None) -> VerifyResult:
    """Join consecutive chunk scans into the verdict a single pass over all rows gives."""
    expected_id, prev, n = 1, GENESIS, 0
    for c in chunks:
        if c.count == 0:
            continue
        if c.first_id != expected_id:
            return VerifyResult(False, n + 1, expected_id, "missing")
        if c.first_prev != prev:
            return VerifyResult(False, n + 1, c.first_id, "prev_hash")
        if c.bad_id is not None:
            return VerifyResult(False, n + c.bad_index, c.bad_id, c.reason)
        n += c.count
        prev, expected_id = c.last_hash, c.last_id + 1
    if head is not None and (head[0] != expected_id - 1 or head[1] != prev):
        return VerifyResult(False, n, expected_id, "truncated")
    return VerifyResult(True, n)


def _verify_sqlite_file(path: str, workers: int | None) -> VerifyResult:
    import os

    from patrol_app.services import audit_scan

    con = audit_scan.connect_read_only(path)
    try:
        con.execute("BEGIN")  # one snapshot for the head, the id range and the tail scanned here
        row = con.execute("SELECT last_id, last_hash FROM audit_head WHERE id = 1").fetchone()
        head = (row[0], row[1]) if row else None
        lo, hi = con.execute("SELECT min(id), max(id) FROM audit_log").fetchone()
        estimate = 0 if hi is None else hi - min(lo, 1) + 1
        if workers is None:
            workers = min(os.cpu_count() or 1, _MAX_WORKERS) if estimate >= PARALLEL_MIN_ENTRIES else 1
        if workers <= 1 or estimate < 4 * workers:
            return _stitch([audit_scan.scan_connection(con)], head)
        # Rows below the snapshot's last id are committed and never rewritten by the app: worker processes read
        # them on snapshots of their own, two chunks each (a slow one does not hold up the rest); a thin newest
        # slice is scanned here, in the snapshot the head was read in.
        first = min(lo, 1)
        tail_from = hi + 1 - max(4, (hi - first + 1) // 100)
        n_chunks = 2 * workers
        step = max(1, (tail_from - first) // n_chunks)
        bounds = [first + k * step for k in range(n_chunks)] + [tail_from]
        ranges = [(None if k == 0 else bounds[k], bounds[k + 1]) for k in range(n_chunks)]
        futures, pool = _submit(path, ranges, workers)
        try:
            tail = audit_scan.scan_connection(con, tail_from, None)
            try:
                chunks = [f.result() for f in futures] + [tail]
            except (OSError, RuntimeError, ValueError, TypeError):  # no worker processes here: one pass instead
                chunks = [audit_scan.scan_connection(con)]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return _stitch(chunks, head)
    finally:
        con.close()


def _submit(path: str, ranges: list[tuple[int | None, int]], workers: int):  # type: ignore[no-untyped-def]
    """Scan ``ranges`` in worker processes, at most ``workers`` at a time: (futures in order, the pool)."""
    from concurrent.futures import ThreadPoolExecutor

    from patrol_app.services.audit_scan import scan_in_subprocess

    pool = ThreadPoolExecutor(max_workers=workers)  # threads only wait for their process
    return [pool.submit(scan_in_subprocess, path, lo, hi) for lo, hi in ranges], pool


def _verify_in_session(session: Session) -> VerifyResult:
    prev = GENESIS
    expected_id = 1
    n = 0
    rows = session.execute(
        select(
            AuditEntry.id, AuditEntry.ts, AuditEntry.actor_id, AuditEntry.actor, AuditEntry.action,
            AuditEntry.entity, AuditEntry.entity_id, AuditEntry.before, AuditEntry.after,
            AuditEntry.prev_hash, AuditEntry.hash,
        ).order_by(AuditEntry.id).execution_options(yield_per=5000)
    )
    for r in rows:
        n += 1
        if r.id != expected_id:
            return VerifyResult(False, n, expected_id, "missing")
        if r.prev_hash != prev:
            return VerifyResult(False, n, r.id, "prev_hash")
        h = entry_hash(prev, r.id, r.ts, r.actor_id, r.actor, r.action, r.entity, r.entity_id, r.before, r.after)
        if h != r.hash:
            return VerifyResult(False, n, r.id, "altered")
        prev = r.hash
        expected_id += 1
    head = session.get(AuditHead, 1)
    if head is not None and (head.last_id != expected_id - 1 or head.last_hash != prev):
        return VerifyResult(False, n, expected_id, "truncated")
    return VerifyResult(True, n)
