"""Re-hash runs of audit rows as SQLite stores them: the fast path of :func:`patrol_app.services.audit.verify`.

Standard library only, so that worker processes start quickly. The payload hashed is exactly the one of
:func:`patrol_app.services.audit.entry_hash`; a row whose fast hash does not match is hashed again exactly as
``entry_hash`` does (``datetime.fromisoformat``, ``json.dumps``) before it is called altered, so the fast path
is only faster, never of another opinion.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from patrol_app.storage.canonical import encoder

COLUMNS = "id, ts, actor_id, actor, action, entity, entity_id, before, after, prev_hash, hash, state, mac"
FETCH_ROWS = 20_000


@dataclass
class Chunk:
    """What a scan of consecutive rows found. ``count`` is the rows read, up to and including a bad one."""

    count: int = 0
    first_id: int | None = None
    first_prev: str | None = None
    first_prev_mac: str | None = None  # the MAC this scan chained the first row to
    last_id: int | None = None
    last_hash: str | None = None
    last_mac: str | None = None
    bad_id: int | None = None
    bad_index: int = 0  # 1-based position of the bad row in this chunk
    reason: str = ""


def _canonical_exact(payload: list[Any]) -> str:
    # the very call of entry_hash
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


_ENCODER = encoder


def _json_value(v: Any) -> Any:
    # a bare number comes back from SQLite's NUMERIC affinity as a number, and SQLAlchemy passes it on as it is
    return json.loads(v) if isinstance(v, (str, bytes)) else v


def _exact_hash(row: Sequence[Any]) -> str | None:
    """``entry_hash`` of a raw row, as SQLAlchemy would have read it; None when the row cannot be read."""
    id_, ts, actor_id, actor, action, entity, entity_id, before, after, prev_hash, _, state = row[:12]
    try:
        when = ts if isinstance(ts, dt.datetime) else dt.datetime.fromisoformat(ts)
        payload = [
            id_,
            when.isoformat(timespec="microseconds"),
            actor_id,
            actor,
            action,
            entity,
            entity_id,
            _json_value(before),
            _json_value(after),
        ]
        state = None if state is None or state == "null" else _json_value(state)
        if state is not None:
            payload.append(state)
        return hashlib.sha256((prev_hash + _canonical_exact(payload)).encode("utf-8")).hexdigest()
    except (TypeError, ValueError, UnicodeError):
        return None


def mac_function(key: bytes) -> Callable[[str], str]:
    """``text -> HMAC-SHA256(key, text)`` in hex, with the key's pads hashed once (the same value as
    ``hmac.new(key, text, sha256)``; several times faster for millions of short texts)."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def mac(text: str) -> str:
        i = inner.copy()
        i.update(text.encode("ascii"))
        o = outer.copy()
        o.update(i.digest())
        return o.hexdigest()

    return mac


def scan(batches: Iterable[Sequence[Sequence[Any]]], key: bytes, prev_mac: str) -> Chunk:
    """Check consecutive rows (ordered by id): ids without gaps, each ``prev_hash`` the previous row's hash,
    each hash recomputed, each MAC recomputed with ``key``, chained from ``prev_mac`` (the MAC of the row before
    the first). The first row's own id and ``prev_hash`` are returned for the caller to check."""
    out = Chunk(first_prev_mac=prev_mac)
    expected: int | None = None
    prev: str | None = None
    count = 0
    pmac = prev_mac
    seal = mac_function(key)
    sha = hashlib.sha256
    loads = json.loads
    enc = _ENCODER
    join = "".join
    gc_on = gc.isenabled()
    gc.disable()  # millions of short-lived dicts: the cyclic collector only slows this down
    try:
        for batch in batches:
            for row in batch:
                i, ts, actor_id, actor, action, entity, entity_id, before, after, prev_hash, h, state, mac = (
                    row
                )
                count += 1
                if expected is None:
                    out.first_id, out.first_prev = i, prev_hash
                elif i != expected:
                    out.count, out.bad_id, out.bad_index, out.reason = count, expected, count, "missing"
                    return out
                elif prev_hash != prev:
                    out.count, out.bad_id, out.bad_index, out.reason = count, i, count, "prev_hash"
                    return out
                hashed = False
                # the fastest path: before/after/state stored in canonical form (storage.db.canonical_json) are
                # hashed as the text they are, with no parsing
                try:
                    if (
                        isinstance(before, (str, type(None)))
                        and isinstance(after, (str, type(None)))
                        and isinstance(state, (str, type(None)))
                    ):
                        head = join(
                            enc([i, ts[:10] + "T" + ts[11:], actor_id, actor, action, entity, entity_id], 0)
                        )
                        text = (
                            prev_hash
                            + head[:-1]
                            + ","
                            + (before if before is not None else "null")
                            + ","
                            + (after if after is not None else "null")
                            + ("]" if state is None or state == "null" else "," + state + "]")
                        )
                        hashed = sha(text.encode("utf-8")).hexdigest() == h
                except (TypeError, ValueError, UnicodeError):
                    pass
                if not hashed:
                    try:  # the fast path: text as SQLite stores it, the C encoder built once
                        payload = [
                            i,
                            ts[:10] + "T" + ts[11:],
                            actor_id,
                            actor,
                            action,
                            entity,
                            entity_id,
                            None if before is None or before == "null" else loads(before),
                            None if after is None or after == "null" else loads(after),
                        ]
                        if state is not None and state != "null":
                            payload.append(loads(state))
                        fast = sha((prev_hash + join(enc(payload, 0))).encode("utf-8")).hexdigest()
                    except (TypeError, ValueError, UnicodeError):
                        fast = None
                    if fast != h and _exact_hash(row) != h:
                        out.count, out.bad_id, out.bad_index, out.reason = count, i, count, "altered"
                        return out
                # the keyed seal: only someone holding the key could have written it
                if not isinstance(mac, str) or not isinstance(h, str) or seal(pmac + h) != mac:
                    out.count, out.bad_id, out.bad_index, out.reason = count, i, count, "sealed"
                    return out
                pmac = mac
                prev = h
                expected = i + 1
        if expected is not None:
            out.last_id, out.last_hash, out.last_mac = expected - 1, prev, pmac
    finally:
        if gc_on:
            gc.enable()
    out.count = count
    return out


def _range_sql(lo: int | None, hi: int | None) -> tuple[str, tuple[int, ...]]:
    where, params = [], []
    if lo is not None:
        where.append("id >= ?")
        params.append(lo)
    if hi is not None:
        where.append("id < ?")
        params.append(hi)
    sql = f"SELECT {COLUMNS} FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY id", tuple(params)


GENESIS = "0" * 64


def scan_connection(
    con: sqlite3.Connection, key: bytes, lo: int | None = None, hi: int | None = None
) -> Chunk:
    """Scan the rows with ``lo <= id < hi`` (None: unbounded) through an open sqlite3 connection."""
    prev_mac = GENESIS
    if lo is not None:
        row = con.execute("SELECT mac FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT 1", (lo,)).fetchone()
        prev_mac = GENESIS if row is None or row[0] is None else row[0]
    sql, params = _range_sql(lo, hi)
    cur = con.execute(sql, params)
    try:
        return scan(iter(lambda: cur.fetchmany(FETCH_ROWS), []), key, prev_mac)
    finally:
        cur.close()


def connect_read_only(path: str) -> sqlite3.Connection:
    """A read-only connection that takes no lock beyond a WAL read snapshot (writers are never blocked)."""
    con = sqlite3.connect(
        f"file:{quote(path)}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
    )
    con.execute("PRAGMA busy_timeout=15000")
    return con


def scan_file(path: str, key: bytes, lo: int | None, hi: int | None) -> Chunk:
    """Scan one id range of the store at ``path`` on a connection of its own."""
    con = connect_read_only(path)
    try:
        con.execute("BEGIN")
        return scan_connection(con, key, lo, hi)
    finally:
        con.close()


def scan_in_subprocess(path: str, key: bytes, lo: int | None, hi: int | None) -> Chunk:
    """Scan one id range in a fresh interpreter (``python -m patrol_app.services.audit_scan``).

    A plain subprocess, not ``multiprocessing``: nothing of the caller is forked (safe inside the threaded
    Streamlit server) or re-imported (a caller's unguarded ``__main__`` is never run again).
    """
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])  # the directory holding the patrol_app package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    arg = lambda v: "-" if v is None else str(v)
    proc = subprocess.run(
        [sys.executable, "-m", "patrol_app.services.audit_scan", path, arg(lo), arg(hi)],
        input=key.hex() + "\n",
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"audit scan worker failed: {proc.stderr.strip()[-500:]}")
    return Chunk(**json.loads(proc.stdout))


def _main(argv: Sequence[str]) -> int:
    path, lo, hi = argv
    import sys

    key = bytes.fromhex(sys.stdin.readline().strip())  # the key comes on stdin, never on the command line
    chunk = scan_file(path, key, None if lo == "-" else int(lo), None if hi == "-" else int(hi))
    print(json.dumps(chunk.__dict__))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))
