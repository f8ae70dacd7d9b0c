"""What the audit trail records of each audited record, and the check of the records against it.

Every audit entry about an audited record (an incident, a patrol, a case, a user, …) carries the record's full
state as the app left it (``audit_log.state``: canonical JSON, sealed by the entry's MAC). ``check_records``
compares every current row with the state its last entry recorded, and names each record changed, added or
deleted behind the app's back (table, id, field).

A record's state is its row (a few volatile columns left out) with its dependent rows: a patrol's roads, crew
and vehicles; an incident's history and photos; a case's officers. A user's password hash is represented by a
fingerprint (never the hash itself). Road geometry by its SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    Text,
    cast,
    select,
    type_coerce,
)

from patrol_app.storage import models as m
from patrol_app.storage.canonical import canonical_json

#: the state of a deleted record
DELETED: dict[str, Any] = {"deleted": True}


@dataclass(frozen=True)
class Child:
    key: str  # name in the parent's state
    table: Table
    fk: str  # column holding the parent's id
    columns: tuple[str, ...]
    order: tuple[str, ...]


@dataclass(frozen=True)
class Spec:
    entity: str  # the audit entries' ``entity``
    table: Table
    exclude: frozenset[str] = frozenset()
    only: tuple[str, ...] | None = None
    children: tuple[Child, ...] = ()
    digests: frozenset[str] = frozenset()  # columns represented by their SHA-256 (binary, secrets)


SPECS: dict[str, Spec] = {
    s.entity: s
    for s in (
        Spec(
            "incident",
            m.Incident.__table__,
            exclude=frozenset({"updated_at"}),
            children=(
                Child(
                    "events",
                    m.IncidentEvent.__table__,
                    "incident_id",
                    ("id", "at", "actor_id", "action", "status_before", "status_after", "note"),
                    ("id",),
                ),
                Child(
                    "photos",
                    m.Photo.__table__,
                    "incident_id",
                    ("id", "event_id", "sha256", "path", "display_path", "size", "created_by"),
                    ("id",),
                ),
            ),
        ),
        Spec(
            "patrol",
            m.Patrol.__table__,
            children=(
                Child("road_rows", m.PatrolRoad.__table__, "patrol_id", ("seq", "road_code"), ("seq",)),
                Child(
                    "crew_rows",
                    m.PatrolCrew.__table__,
                    "patrol_id",
                    ("personnel_id", "cert_no"),
                    ("personnel_id",),
                ),
                Child(
                    "vehicle_rows", m.PatrolVehicle.__table__, "patrol_id", ("vehicle_id",), ("vehicle_id",)
                ),
            ),
        ),
        Spec(
            "case",
            m.Case.__table__,
            children=(
                Child(
                    "officers",
                    m.CaseOfficer.__table__,
                    "case_id",
                    ("personnel_id", "cert_no"),
                    ("personnel_id",),
                ),
            ),
        ),
        Spec("personnel", m.Personnel.__table__),
        Spec("vehicle", m.Vehicle.__table__),
        # sign-in bookkeeping (failed_logins, locked_until, last_login_at) changes with every sign-in
        Spec(
            "user",
            m.User.__table__,
            only=(
                "id",
                "adcode",
                "username",
                "display_name",
                "role",
                "password_hash",
                "personnel_id",
                "active",
                "created_at",
            ),
            digests=frozenset({"password_hash"}),
        ),
        Spec("import_batch", m.ImportBatch.__table__),
        Spec("road_piece", m.RoadPieceRow.__table__, digests=frozenset({"geometry_wkb"})),
    )
}

#: audit entity → table name, for messages
TABLES = {e: s.table.name for e, s in SPECS.items()}


def _value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ", timespec="microseconds")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return v


def _digest(v: Any) -> str | None:
    if v is None:
        return None
    data = bytes(v) if isinstance(v, (bytes, bytearray, memoryview)) else str(v).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:32]


def _columns(spec: Spec) -> list[str]:
    names = [c.name for c in spec.table.columns]
    if spec.only is not None:
        names = [n for n in names if n in spec.only]
    return [n for n in names if n not in spec.exclude]


_CHUNK = 500


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int] | range]:
    """Sorted ids in groups to read at once: a run of consecutive ids (a bulk import's) as one range, the
    others :data:`_CHUNK` at a time."""
    scattered: list[int] = []
    i, n = 0, len(ids)
    while i < n:
        j = i
        while j + 1 < n and ids[j + 1] == ids[j] + 1:
            j += 1
        if j - i + 1 >= _CHUNK:
            yield range(ids[i], ids[j] + 1)
        else:
            scattered.extend(ids[i : j + 1])
        i = j + 1
    for k in range(0, len(scattered), _CHUNK):
        yield scattered[k : k + _CHUNK]


def _where_ids(col: Any, batch: Sequence[int] | range) -> Any:
    if isinstance(batch, range):
        return col.between(batch.start, batch.stop - 1)
    return col.in_(batch)


def _select_columns(conn: Connection, spec: Spec, cols: list[str]) -> tuple[list[Any], list[Any]]:
    """The columns to select and a converter per column (None: the value as read). SQLite's date and time
    text is already the ISO form a state holds: read as text, not parsed and formatted again."""
    sqlite = conn.dialect.name == "sqlite"
    exprs: list[Any] = []
    conv: list[Callable[[Any], Any] | None] = []
    for c in cols:
        col = spec.table.c[c]
        if c in spec.digests:
            exprs.append(col)
            conv.append(_digest)
        elif isinstance(col.type, (DateTime, Date)):
            exprs.append(type_coerce(col, String) if sqlite else col)
            conv.append(None if sqlite else _value)
        else:
            exprs.append(col)
            conv.append(None)
    return exprs, conv


def states(
    conn: Connection,
    entity: str,
    ids: Sequence[int] | None = None,
    existing: Collection[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The current state of the records ``ids`` of ``entity`` (all of them when None), by id as text.
    Records that do not exist are absent. ``existing``: the columns the table has in the database, when that is
    an older schema than the models' (a migration recording states before later migrations add columns)."""
    spec = SPECS[entity]
    cols = _columns(spec)
    if existing is not None:
        cols = [c for c in cols if c in existing]
    t = spec.table
    pk = t.c.id
    exprs, conv = _select_columns(conn, spec, cols)
    pairs = [(k, c, f) for k, (c, f) in enumerate(zip(cols, conv)) if f is not None]
    out: dict[int, dict[str, Any]] = {}
    batches = [None] if ids is None else list(_chunks(sorted(set(int(i) for i in ids))))
    for batch in batches:
        q = select(*exprs)
        if batch is not None:
            q = q.where(_where_ids(pk, batch))
        res = conn.execute(q)
        mine: list[dict[str, Any]] = []  # this batch's records
        for row in res if batch is None else res.all():  # a batch at once; the whole table streamed
            d = dict(zip(cols, row))
            for k, c, f in pairs:
                d[c] = f(row[k])
            out[d["id"]] = d
            mine.append(d)
        for ch in spec.children:
            for d in mine:
                d.setdefault(ch.key, [])
            ct = ch.table
            q = select(ct.c[ch.fk], *[ct.c[c] for c in ch.columns]).order_by(
                ct.c[ch.fk], *[ct.c[c] for c in ch.order]
            )
            if batch is not None:
                q = q.where(_where_ids(ct.c[ch.fk], batch))
            for row in conn.execute(q):
                parent = out.get(row[0])
                if parent is not None:
                    parent[ch.key].append([_value(v) for v in row[1:]])
    return {str(k): v for k, v in out.items()}


def state_in_hand(entity: str, row: Any, children: dict[str, Sequence[Any]]) -> dict[str, Any]:
    """The state :func:`states` reads back for ``row`` (an ORM object just flushed, every column loaded) with its
    dependent rows ``children`` (key → ORM objects, in the child's order), built from the values in hand: no
    read of what this transaction has just written. The same conversions as the read (dates and times as ISO
    text, digests, whole numbers in a float column as floats); ``tests/services/test_audit_state_in_hand.py``
    compares it with :func:`states` on SQLite and PostgreSQL. Raises ValueError for a value the read could give
    back differently (an aware time, an unloaded column): the caller reads the state instead."""
    spec = SPECS[entity]
    d = {
        col.name: _in_hand(spec, col, v) for col, v in _loaded(row, [spec.table.c[c] for c in _columns(spec)])
    }
    for ch in spec.children:
        cols = [ch.table.c[c] for c in ch.columns]
        d[ch.key] = [
            [_in_hand(None, col, v) for col, v in _loaded(r, cols)] for r in children.get(ch.key, ())
        ]
    return d


def _loaded(row: Any, cols: Sequence[Any]) -> Iterator[tuple[Any, Any]]:
    """(column, value) of ``row``'s ``cols``, each loaded already (ValueError for one that is not): the mapper and
    the row's unloaded attributes looked up once per row."""
    from sqlalchemy import inspect

    mapper, unloaded = inspect(type(row)), inspect(row).unloaded
    for col in cols:
        key = mapper.get_property_by_column(col).key
        if key in unloaded:
            raise ValueError(f"{col.table.name}.{col.name} is not loaded")
        yield col, getattr(row, key)


def _in_hand(spec: Spec | None, col: Any, v: Any) -> Any:
    if spec is not None and col.name in spec.digests:
        return _digest(v)
    if v is None:
        return None
    t = col.type
    # only values the column gives back unchanged (a whole number in a float column comes back a float)
    if isinstance(t, Float) and type(v) in (int, float):
        return float(v)
    if isinstance(t, Boolean) and type(v) is bool:
        return v
    if isinstance(t, Integer) and type(v) is int:
        return v
    if isinstance(t, String) and type(v) is str:  # Text is a String
        return v
    if isinstance(t, DateTime) and type(v) is dt.datetime and v.tzinfo is None:
        return _value(v)
    if isinstance(t, Date) and type(v) is dt.date:
        return _value(v)
    raise ValueError(f"{col.table.name}.{col.name}: {type(v).__name__} in a {t} column")


@dataclass
class RecordProblem:
    table: str
    id: str
    kind: str  # changed | deleted | unrecorded
    fields: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"{self.table} #{self.id} {self.kind}" + (f": {', '.join(self.fields)}" if self.fields else "")


def recorded_states(conn: Connection) -> dict[tuple[str, str], str]:
    """The state text of the last audit entry of every audited record: (entity, id) → canonical JSON text."""
    a = m.AuditEntry.__table__
    from sqlalchemy import func

    last = (
        select(a.c.entity, a.c.entity_id, func.max(a.c.id).label("last_id"))
        .where(a.c.state.is_not(None))
        .group_by(a.c.entity, a.c.entity_id)
        .subquery()
    )
    # the stored text itself (canonical JSON, see storage.db.canonical_json), not parsed and encoded again
    rows = conn.execute(
        select(a.c.entity, a.c.entity_id, cast(a.c.state, Text)).join(last, a.c.id == last.c.last_id)
    )
    out: dict[tuple[str, str], str] = {}
    for entity, entity_id, state in rows:
        out[(entity, entity_id)] = state if isinstance(state, str) else canonical_json(state)
    return out


def has_records(conn: Connection) -> bool:
    for spec in SPECS.values():
        if spec.entity == "user":
            continue  # the command line's own account exists in every store that was ever used
        if conn.execute(select(spec.table.c.id).limit(1)).first() is not None:
            return True
    return False


def check_records(
    conn: Connection, recorded: dict[tuple[str, str], str] | None = None
) -> list[RecordProblem]:
    """Every audited record's current state against its last audit entry."""
    if recorded is None:
        recorded = _recorded_raw(conn)
    problems: list[RecordProblem] = []
    for entity, spec in SPECS.items():
        current = states(conn, entity)
        for rid, state in current.items():
            text = recorded.get((entity, rid))
            if text is None:
                problems.append(RecordProblem(spec.table.name, rid, "unrecorded"))
                continue
            if text == canonical_json(state):
                continue
            was = json.loads(text)
            if was == DELETED:
                problems.append(RecordProblem(spec.table.name, rid, "unrecorded"))
                continue
            fields = sorted(
                k for k in set(was) | set(state) if was.get(k, _MISSING) != state.get(k, _MISSING)
            )
            problems.append(RecordProblem(spec.table.name, rid, "changed", fields))
        for (ent, rid), text in recorded.items():
            if ent == entity and rid not in current and text != _DELETED_TEXT:
                problems.append(RecordProblem(spec.table.name, rid, "deleted"))
    problems.sort(key=lambda p: (p.table, _num(p.id)))
    return problems


def _recorded_raw(conn: Connection) -> dict[tuple[str, str], str]:
    return recorded_states(conn)


def _num(s: str) -> tuple[int, str]:
    return (int(s), "") if s.isdigit() else (0, s)


_MISSING = object()
_DELETED_TEXT = canonical_json(DELETED)
