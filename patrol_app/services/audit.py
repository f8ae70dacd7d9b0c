"""Append-only, hash-chained audit trail."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

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
    ts = dt.datetime.now(dt.UTC).replace(tzinfo=None)
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


def verify(session: Session) -> VerifyResult:
    """Recompute the chain; report the first broken link (edited, deleted or inserted rows)."""
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
