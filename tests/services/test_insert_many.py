"""storage.db.insert_many (bulk imports and the audit trail on SQLite) writes exactly what a Core insert writes,
and audit_state reads a run of consecutive ids in one query with the same states as id by id."""

from __future__ import annotations

import datetime as dt
import sqlite3

from sqlalchemy import insert

from patrol_app.services import audit_state
from patrol_app.services.audit_state import _chunks
from patrol_app.storage.db import CanonicalJSON, get_engine, insert_many
from patrol_app.storage.models import AuditEntry, Incident


def _incident_rows(created: dt.datetime) -> list[dict]:
    rows = []
    for i in range(40):
        rows.append(
            {
                "adcode": "530302",
                "found_at": dt.datetime(2025, 3, 1, 8, 0, i) + dt.timedelta(microseconds=0 if i % 2 else 125),
                "type_code": "materials",
                "road_code": "X001" if i % 3 else "Y002",
                "chainage_m": 1200.5 + i,
                "stake": "K1+200",
                "side": "left",
                "offset_m": 6.0 if i % 7 else None,
                "lon": 103.8 + i / 1000,
                "lat": 25.5,
                "zone": "road_land",
                "in_control_zone": bool(i % 2),
                "location_method": "ledger",
                "town": "",
                "description": "路肩堆放砂石 " * (i % 3),
                "party": "王某某" if i % 4 else "",
                "party_phone": "",
                "measure": "persuasion",
                "status": "closed" if i % 5 else "open",
                "closed_at": dt.date(2025, 3, 9) if i % 5 else None,
                "source": "insert-many-test",
                "created_by": 1,
                "created_at": created,  # one object shared by every row, as an import's
            }
        )
    return rows


def _audit_rows(ts: dt.datetime) -> list[dict]:
    return [
        {
            "id": 10_000_000 + i,
            "ts": ts,
            "actor_id": None,
            "actor": "cli",
            "action": "ledger.import",
            "entity": "incident",
            "entity_id": str(i),
            "before": None,
            "after": CanonicalJSON('{"batch":1,"source":"ledger"}'),
            "state": CanonicalJSON(f'{{"id":{i},"note":"值"}}') if i % 2 else None,
            "prev_hash": f"{i - 1:064d}",
            "hash": f"{i:064d}",
            "mac": f"m{i:063d}",
        }
        for i in range(1, 31)
    ]


_DUMP = {
    "incidents": "SELECT *, typeof(found_at) FROM incidents WHERE source = 'insert-many-test' ORDER BY id",
    "audit_log": "SELECT *, typeof(before), typeof(state) FROM audit_log WHERE id > 10000000 ORDER BY id",
}


def _dump(path, table: str) -> list[tuple]:
    con = sqlite3.connect(path)
    try:
        return con.execute(_DUMP[table]).fetchall()
    finally:
        con.close()


def test_insert_many_writes_what_a_core_insert_writes(store, tmp_path):
    created = dt.datetime(2026, 1, 2, 3, 4, 5, 678901)
    written = {}
    for how in ("core", "fast"):
        path = tmp_path / f"{how}.db"
        url = f"sqlite:///{path}"
        src = sqlite3.connect(store.db_path)
        dst = sqlite3.connect(path)
        src.backup(dst)
        src.close()
        dst.close()
        with get_engine(url).begin() as conn:
            conn.exec_driver_sql(
                "DROP TRIGGER IF EXISTS audit_log_in_order"
            )  # rows of their own, not a chain
            for table, rows in (
                (Incident.__table__, _incident_rows(created)),
                (AuditEntry.__table__, _audit_rows(created)),
            ):
                if how == "core":
                    conn.execute(insert(table), rows)
                else:
                    insert_many(conn, table, rows)
        get_engine(url).dispose()
        written[how] = {t: _dump(path, t) for t in ("incidents", "audit_log")}
    assert len(written["fast"]["incidents"]) == 40 and len(written["fast"]["audit_log"]) == 30
    assert written["fast"] == written["core"]


def test_runs_of_ids_are_read_as_ranges_and_the_rest_in_chunks():
    ids = [1, 2, 5, *range(10, 1210), 2000, 2002]
    batches = list(_chunks(ids))
    assert range(10, 1210) in batches
    flat = sorted(i for b in batches for i in b)
    assert flat == ids
    assert all(len(b) <= audit_state._CHUNK for b in batches if not isinstance(b, range))


def test_states_by_range_equal_states_id_by_id(store):
    from patrol_app.storage.db import read_session

    with read_session(store.url) as s:
        conn = s.connection()
        for entity in ("incident", "patrol"):
            table = audit_state.SPECS[entity].table
            ids = [r[0] for r in conn.execute(table.select().with_only_columns(table.c.id))]
            assert len(ids) > 0
            whole = audit_state.states(conn, entity, ids)
            one_by_one = {}
            for i in ids[:50]:
                one_by_one.update(audit_state.states(conn, entity, [i]))
            assert {k: whole[k] for k in one_by_one} == one_by_one
            assert whole == audit_state.states(conn, entity)
