"""Append-only, hash-chained audit trail."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from patrol_app.services.audit_scan import mac_function
from patrol_app.storage.db import CanonicalJSON, canonical_json, insert_many
from patrol_app.storage.models import AuditEntry, AuditHead, User

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from patrol_app.services.audit_scan import Chunk

GENESIS = "0" * 64


_PLAIN = (str, int, float, bool, type(None))


def _jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (what the trail stores and hashes). Plain JSON values — record states
    — are their own answer: no round trip for each of a bulk import's entries."""
    if value is None:
        return None
    if _plain(value):
        return value
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


def _encoded(value: Any) -> CanonicalJSON | None:
    """``value`` in the canonical JSON the trail stores and hashes (None stays None: SQL NULL)."""
    return None if value is None else CanonicalJSON(canonical_json(value))


def _plain(value: Any) -> bool:
    """Dicts with text keys, lists, text, whole and finite numbers, booleans and None: JSON as it is."""
    t = type(value)
    if t is dict:
        return all(type(k) is str and _plain(v) for k, v in value.items())
    if t is list:
        return all(_plain(v) for v in value)
    return t in _PLAIN and (t is not float or math.isfinite(value))


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
    state: Any = None,
) -> str:
    """The unkeyed link: SHA-256 over the previous hash and the canonical entry. The recorded ``state`` (when
    there is one) is the payload's tenth element; entries without one hash exactly as before it existed."""
    fields = [
        id_,
        ts.isoformat(timespec="microseconds"),
        actor_id,
        actor,
        action,
        entity,
        entity_id,
        before,
        after,
    ]
    if state is not None:
        fields.append(state)
    payload = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + payload).encode("utf-8")).hexdigest()


def entry_mac(key: bytes, prev_mac: str, hash_: str) -> str:
    """The entry's seal: HMAC-SHA256, with the key kept outside the database, over the previous entry's MAC and
    the entry's hash (which covers every field of the entry, its state included: see ``entry_hash``)."""
    return hmac.new(key, (prev_mac + hash_).encode("ascii"), hashlib.sha256).hexdigest()


def actor_label(actor: User) -> str:
    """Who acted, as the trail shows it: the account, or ``cli(root) as leader`` on the command line."""
    return getattr(actor, "audit_label", None) or actor.username


def append_entries(
    conn: Connection,
    key: bytes,
    actor_id: int | None,
    label: str,
    action: str,
    items: list[tuple[str, str, Any, Any, Any]],
) -> int:
    """Append entries ``(entity, entity_id, before, after, state)`` in order on ``conn`` (the caller's
    transaction); returns the last id. The app's one insert path: the entries first, then the head."""
    h = AuditHead.__table__
    head = conn.execute(
        select(h.c.last_id, h.c.last_hash, h.c.last_mac).where(h.c.id == 1).with_for_update()
    ).first()
    if head is None:
        conn.execute(insert(h).values(id=1, last_id=0, last_hash=GENESIS, last_mac=GENESIS))
        last_id, last_hash, last_mac = 0, GENESIS, GENESIS
    else:
        last_id, last_hash, last_mac = head[0], head[1], head[2] or GENESIS
    ts = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ts_text = json.dumps(ts.isoformat(timespec="microseconds"))
    head_text = ",".join(json.dumps(v, ensure_ascii=False) for v in (actor_id, label, action))
    seal = mac_function(key)
    sha = hashlib.sha256
    rows: list[dict[str, Any]] = []
    # one encoding of a value all the entries share (a bulk import's ``after``)
    shared: dict[int, str | None] = {}
    for entity, entity_id, before, after, state in items:
        if id(after) not in shared:
            shared[id(after)] = _encoded(_jsonable(after))
        after_t, before_t = shared[id(after)], _encoded(_jsonable(before))
        # a record's state (``audit_state``) is plain JSON with text keys already: encoded once, as stored
        state_t = _encoded(state)
        last_id += 1
        # the canonical payload of ``entry_hash`` (a JSON array is its items' encodings joined by commas), from
        # the very texts the columns store: each value is encoded once, not once for the hash and once per column
        payload = (
            f"[{last_id},{ts_text},{head_text},{json.dumps(entity, ensure_ascii=False)},"
            f"{json.dumps(entity_id, ensure_ascii=False)},"
            f"{before_t or 'null'},{after_t or 'null'}{',' + state_t if state_t is not None else ''}]"
        )
        hh = sha((last_hash + payload).encode("utf-8")).hexdigest()
        mac = seal(last_mac + hh)  # = entry_mac(key, last_mac, hh), the key's pads hashed once
        rows.append(
            {
                "id": last_id,
                "ts": ts,
                "actor_id": actor_id,
                "actor": label,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "before": before_t,
                "after": after_t,
                "state": state_t,
                "prev_hash": last_hash,
                "hash": hh,
                "mac": mac,
            }
        )
        last_hash, last_mac = hh, mac
    if rows:
        insert_many(conn, AuditEntry.__table__, rows)
        conn.execute(
            update(h).where(h.c.id == 1).values(last_id=last_id, last_hash=last_hash, last_mac=last_mac)
        )
    return last_id


def _append(session: Session, actor: User, action: str, items: list[tuple[str, str, Any, Any, Any]]) -> int:
    from patrol_app.services.audit_key import load_key

    return append_entries(session.connection(), load_key(), actor.id, actor_label(actor), action, items)


def record(
    session: Session,
    actor: User,
    action: str,
    entity: str,
    entity_id: Any = "",
    before: Any = None,
    after: Any = None,
    state: dict[str, Any] | None = None,
) -> int:
    """Append one audit entry in the caller's transaction; returns its number. An entry about an audited record (see
    ``audit_state.SPECS``) also records the record's full state as it is now (``DELETED`` when it is gone): read
    back from the database, or ``state`` when the caller built it from the rows it has just written
    (``audit_state.state_in_hand``, the same value)."""
    from patrol_app.services import audit_state

    session.flush()
    if state is not None and entity not in audit_state.SPECS:
        raise ValueError(f"no recorded state for {entity}")
    if state is None and entity in audit_state.SPECS and str(entity_id).isdigit():
        found = audit_state.states(session.connection(), entity, [int(entity_id)])
        state = found.get(str(int(entity_id)), audit_state.DELETED)
    # the entry's number, not the row: no read while the chain's head is locked (every writer waits on it)
    return _append(session, actor, action, [(entity, str(entity_id), before, after, state)])


def record_sign_in_refused(session: Session, username: str, user: User | None, locked: bool = False) -> None:
    """A refused sign-in that the password check did not count (unknown, disabled or built-in account, or one
    locked out): recorded and committed at once, since the caller's sign-in fails. The name typed is kept as
    typed (cut to 64 characters); the password never."""
    from patrol_app.services.audit_key import load_key

    reason = (
        "locked"
        if locked
        else "unknown_user"
        if user is None
        else "disabled"
        if not user.active
        else "no_password"
    )
    append_entries(
        session.connection(),
        load_key(),
        None if user is None else user.id,
        "anonymous",
        "user.sign_in_failed",
        [
            (
                "user",
                "" if user is None else str(user.id),
                None,
                {"username": username.strip()[:64], "reason": reason},
                None,
            )
        ],
    )
    session.commit()


def record_rows(session: Session, actor: User, action: str, entity: str, ids: Any, after: Any = None) -> int:
    """Record the state of many records of ``entity`` at once (bulk imports, the demo, deletions): one entry
    each, ``DELETED`` for those that no longer exist. Returns the number of entries written."""
    from patrol_app.services import audit_state

    session.flush()
    ids = sorted({int(i) for i in ids})
    if not ids:
        return 0
    found = audit_state.states(session.connection(), entity, ids)
    items = [(entity, str(i), None, after, found.get(str(i), audit_state.DELETED)) for i in ids]
    _append(session, actor, action, items)
    return len(items)


@dataclass
class VerifyResult:
    """``reason``: missing | prev_hash | altered | sealed (the keyed MAC does not match: rewritten by someone
    without the key) | truncated | no_head | empty (no trail on a store with records) | checkpoint (the
    checkpoint entry is gone or differs) | records (records changed behind the app's back: ``records``)."""

    ok: bool
    entries: int
    first_bad_id: int | None = None
    reason: str = ""
    last_id: int = 0
    last_mac: str = ""
    records: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Checkpoint:
    id: int
    mac: str

    def __str__(self) -> str:
        return f"#{self.id} {self.mac}"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """``N:MAC`` (or ``#N MAC``); MAC in full or its first 16 or more hex digits."""
        raw = text.strip().lstrip("#").replace(" ", ":")
        num, _, mac = raw.partition(":")
        mac = mac.strip().lower().rstrip("…")
        if (
            not num.strip().isdigit()
            or len(mac) < 16
            or len(mac) > 64
            or any(c not in "0123456789abcdef" for c in mac)
        ):
            from patrol_app.services.errors import ServiceError

            raise ServiceError("audit.bad_checkpoint", text=text)
        return cls(int(num), mac)


#: From this many entries on (SQLite file stores), ``verify`` spreads the work over worker processes.
PARALLEL_MIN_ENTRIES = 200_000
_MAX_WORKERS = 8


def checkpoint(session: Session, actor: User | None = None) -> Checkpoint:
    """The last entry's number and MAC: written down elsewhere (the annual report, a notebook), it later proves
    that nothing up to it was removed or rewritten (``verify(checkpoint=…)``)."""
    if actor is not None:
        from patrol_app.domain.rules import Perm
        from patrol_app.services.users import require

        require(actor, Perm.VERIFY_AUDIT)
    row = session.execute(select(AuditHead.last_id, AuditHead.last_mac).where(AuditHead.id == 1)).first()
    if row is None:
        return Checkpoint(0, GENESIS)
    return Checkpoint(int(row[0]), row[1] or GENESIS)


def verify(
    session: Session,
    actor: User | None = None,
    *,
    workers: int | None = None,
    checkpoint: Checkpoint | None = None,
    records: bool = True,
) -> VerifyResult:
    """Recompute the chain and its keyed seals; report the first broken link (edited, deleted or inserted rows,
    rows rewritten without the key); then, with ``records``, check every audited record against the state its
    last entry recorded. A missing head row, or no trail at all on a store with records, is a failure.

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
    from patrol_app.services.audit_key import load_key

    key = load_key()
    path = _sqlite_file(session)
    pending = None
    if path is not None and records:
        # the records check reads its own snapshot (recorded states and current rows in one transaction) in a
        # thread, while worker processes re-hash the chain: the two overlap instead of adding up
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=1)
        pending = pool.submit(_check_records_on_own_connection, session)
        pool.shutdown(wait=False)
    res = _verify_in_session(session, key) if path is None else _verify_sqlite_file(path, key, workers)
    problems = pending.result() if pending is not None else None
    if not res.ok:
        return res
    if res.entries == 0:
        from patrol_app.services.audit_state import has_records

        if has_records(session.connection()):
            return VerifyResult(False, 0, 1, "empty")
    if checkpoint is not None and checkpoint.id > 0:
        mac = session.execute(
            select(AuditEntry.mac).where(AuditEntry.id == checkpoint.id)
        ).scalar_one_or_none()
        if mac is None or not mac.startswith(checkpoint.mac):
            return VerifyResult(False, res.entries, checkpoint.id, "checkpoint", res.last_id, res.last_mac)
    if records:
        if problems is None:
            from patrol_app.services.audit_state import check_records

            problems = check_records(session.connection())
        if problems:
            return VerifyResult(False, res.entries, None, "records", res.last_id, res.last_mac, problems)
    return res


def _check_records_on_own_connection(session: Session) -> list[Any]:
    from patrol_app.services.audit_state import check_records
    from patrol_app.storage.db import get_engine

    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    with get_engine(url, reading=True).connect() as conn:  # never the write lock (plain BEGIN on SQLite)
        return check_records(conn)


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


def _stitch(chunks: list[Any], head: tuple[int, str, str | None] | None) -> VerifyResult:
    """Join consecutive chunk scans into the verdict a single pass over all rows gives."""
    expected_id, prev, prev_mac, n = 1, GENESIS, GENESIS, 0
    for c in chunks:
        if c.count == 0:
            continue
        if c.first_id != expected_id:
            return VerifyResult(False, n + 1, expected_id, "missing")
        if c.first_prev != prev:
            return VerifyResult(False, n + 1, c.first_id, "prev_hash")
        if c.bad_id is not None:
            return VerifyResult(False, n + c.bad_index, c.bad_id, c.reason)
        if c.first_prev_mac != prev_mac:
            return VerifyResult(False, n + 1, c.first_id, "sealed")
        n += c.count
        prev, prev_mac, expected_id = c.last_hash, c.last_mac, c.last_id + 1
    return _check_head(head, n, expected_id, prev, prev_mac)


def _check_head(
    head: tuple[int, str, str | None] | None, n: int, expected_id: int, prev: str, prev_mac: str
) -> VerifyResult:
    if head is None:
        if n:
            return VerifyResult(False, n, expected_id, "no_head")
        return VerifyResult(True, 0, last_id=0, last_mac=GENESIS)
    if head[0] != expected_id - 1 or head[1] != prev or (head[2] or GENESIS) != prev_mac:
        return VerifyResult(False, n, expected_id, "truncated")
    return VerifyResult(True, n, last_id=expected_id - 1, last_mac=prev_mac)


_HEAD_SQL = "SELECT last_id, last_hash, last_mac FROM audit_head WHERE id = 1"


def _verify_sqlite_file(path: str, key: bytes, workers: int | None) -> VerifyResult:
    import os

    from patrol_app.services import audit_scan

    con = audit_scan.connect_read_only(path)
    try:
        con.execute("BEGIN")  # one snapshot for the head, the id range and the tail scanned here
        row = con.execute(_HEAD_SQL).fetchone()
        head = (row[0], row[1], row[2]) if row else None
        lo, hi = con.execute("SELECT min(id), max(id) FROM audit_log").fetchone()
        estimate = 0 if hi is None else hi - min(lo, 1) + 1
        if workers is None:
            workers = min(os.cpu_count() or 1, _MAX_WORKERS) if estimate >= PARALLEL_MIN_ENTRIES else 1
        if workers <= 1 or estimate < 4 * workers:
            return _stitch([audit_scan.scan_connection(con, key)], head)
        # Rows below the snapshot's last id are committed and never rewritten by the app: worker processes read
        # them on snapshots of their own, two chunks each (a slow one does not hold up the rest); a thin newest
        # slice is scanned here, in the snapshot the head was read in.
        first = min(lo, 1)
        tail_from = hi + 1 - max(4, (hi - first + 1) // 100)
        n_chunks = 2 * workers
        step = max(1, (tail_from - first) // n_chunks)
        bounds = [first + k * step for k in range(n_chunks)] + [tail_from]
        ranges = [(None if k == 0 else bounds[k], bounds[k + 1]) for k in range(n_chunks)]
        futures, pool = _submit(path, key, ranges, workers)
        try:
            tail = audit_scan.scan_connection(con, key, tail_from, None)
            try:
                chunks = [f.result() for f in futures] + [tail]
            except (
                OSError,
                RuntimeError,
                ValueError,
                TypeError,
            ):  # no worker processes here: one pass instead
                chunks = [audit_scan.scan_connection(con, key)]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return _stitch(chunks, head)
    finally:
        con.close()


def _submit(
    path: str, key: bytes, ranges: list[tuple[int | None, int]], workers: int
) -> tuple[list[Future[Chunk]], ThreadPoolExecutor]:
    """Scan ``ranges`` in worker processes, at most ``workers`` at a time: (futures in order, the pool)."""
    from concurrent.futures import ThreadPoolExecutor

    from patrol_app.services import audit_scan

    pool = ThreadPoolExecutor(max_workers=workers)  # threads only wait for their process
    return [pool.submit(audit_scan.scan_in_subprocess, path, key, lo, hi) for lo, hi in ranges], pool


def _verify_in_session(session: Session, key: bytes | None = None) -> VerifyResult:
    if key is None:
        from patrol_app.services.audit_key import load_key

        key = load_key()
    prev = GENESIS
    prev_mac = GENESIS
    expected_id = 1
    n = 0
    rows = session.execute(
        select(
            AuditEntry.id,
            AuditEntry.ts,
            AuditEntry.actor_id,
            AuditEntry.actor,
            AuditEntry.action,
            AuditEntry.entity,
            AuditEntry.entity_id,
            AuditEntry.before,
            AuditEntry.after,
            AuditEntry.prev_hash,
            AuditEntry.hash,
            AuditEntry.state,
            AuditEntry.mac,
        )
        .order_by(AuditEntry.id)
        .execution_options(yield_per=5000)
    )
    for r in rows:
        n += 1
        if r.id != expected_id:
            return VerifyResult(False, n, expected_id, "missing")
        if r.prev_hash != prev:
            return VerifyResult(False, n, r.id, "prev_hash")
        h = entry_hash(
            prev, r.id, r.ts, r.actor_id, r.actor, r.action, r.entity, r.entity_id, r.before, r.after, r.state
        )
        if h != r.hash:
            return VerifyResult(False, n, r.id, "altered")
        mac = entry_mac(key, prev_mac, h)
        if r.mac != mac:
            return VerifyResult(False, n, r.id, "sealed")
        prev, prev_mac = r.hash, r.mac
        expected_id += 1
    row = session.execute(
        select(AuditHead.last_id, AuditHead.last_hash, AuditHead.last_mac).where(AuditHead.id == 1)
    ).first()
    head = None if row is None else (row[0], row[1], row[2])
    return _check_head(head, n, expected_id, prev, prev_mac)
