"""Issue targets: ``audit.verify`` over 1,000,000 audit entries < 10 s; sign-in < 0.5 s (figures reported, not
asserted, like the other benchmarks: they depend on the machine; ``verify`` uses one worker process per CPU).

The trail is built fast: the chain computed here and bulk-inserted with ``executemany`` (calling ``record`` a
million times would take much longer), stored exactly as SQLAlchemy stores it. A sample is checked against
``audit.entry_hash`` so the chain is the real one. The mix of entries follows what the app writes: incident
records (~20 fields, Chinese text), patrols, sign-ins without payload, and edits with before and after.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3

import pytest

from patrol_app.services import audit, audit_scan
from patrol_app.storage.db import canonical_json, read_session, session_scope
from patrol_app.storage.migrate import upgrade

N = 1_000_000
CHUNK = 50_000

INSERT = f"INSERT INTO audit_log ({audit_scan.COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
KEY = bytes.fromhex("5e" * 32)
os.environ["PATROL_AUDIT_KEY"] = KEY.hex()  # the trail below is sealed with it (kept outside the database)
N_INCIDENTS, N_PATROLS = 50_000, 20_000  # records the trail's entries are about (checked against it)


def _entry(i: int) -> tuple[str, str, str, object, object]:
    kind = i % 20
    if kind < 8:
        return (
            "incident.create",
            "incident",
            str(((i // 20) * 8 + kind) % N_INCIDENTS + 1),
            None,
            {
                "id": i,
                "found_at": "2025-03-05 09:30",
                "type": "materials",
                "road_code": "X001",
                "stake": f"K{i % 30}+{i % 1000:03d}",
                "chainage_m": float(i % 30000),
                "side": "left",
                "offset_m": 7.9,
                "lon": 103.8 + (i % 1000) / 1e4,
                "lat": 25.5 - (i % 1000) / 1e4,
                "zone": "control",
                "in_control_zone": True,
                "town": "越州镇",
                "description": "路肩堆放砂石建筑材料",
                "party": "王某某",
                "party_phone": "13800000000",
                "measure": "persuasion",
                "deadline": None,
                "status": "open",
                "closed_at": None,
                "source": "app",
                "photos": [],
            },
        )
    if kind < 14:
        return (
            "patrol.start",
            "patrol",
            str(((i // 20) * 6 + kind - 8) % N_PATROLS + 1),
            None,
            {
                "id": i,
                "date": "2025-03-05",
                "start_time": "09:00",
                "end_time": None,
                "roads": ["X001", "Y002"],
                "vehicles": 2,
                "personnel": 5,
                "km": None,
                "crew": "张建华、李明、王芳、赵磊、吴刚",
                "joint": "",
                "weather": "晴",
                "notes": "",
                "crew_ids": [1, 2, 3, 4, 9],
                "vehicle_ids": [1, 2],
            },
        )
    if kind < 19:
        return "auth.sign_in", "user", "1", None, None
    return (
        "case.review",
        "case",
        str(i),
        {"status": "investigating", "reviewer_id": None},
        {
            "status": "reviewed",
            "reviewer_id": 4,
            "review_result": "[approved] 事实清楚，证据确凿，同意",
            "outcome": "approved",
        },
    )


def _records(con: sqlite3.Connection) -> dict[tuple[str, str], str]:
    """Insert the incidents and patrols the entries are about; their states as the trail records them."""
    from sqlalchemy import create_engine

    from patrol_app.services import audit_state

    con.execute(
        "INSERT INTO users (id, username, display_name, role, active, created_at, failed_logins) "
        "VALUES (1, 'cli', 'cli', 'admin', 1, '2024-01-01 00:00:00.000000', 0)"
    )
    con.executemany(
        "INSERT INTO incidents (id, found_at, type_code, road_code, chainage_m, stake, side, offset_m, lon, lat, "
        "zone, in_control_zone, location_method, town, description, party, party_phone, measure, status, source, "
        "created_by, created_at) VALUES (?, '2025-03-05 09:30:00.000000', 'materials', 'X001', ?, 'K1+000', "
        "'left', 7.9, 103.8, 25.5, 'control', 1, 'gps', '越州镇', '路肩堆放砂石建筑材料', '王某某', '13800000000', "
        "'persuasion', 'open', 'app', 1, '2025-03-05 09:31:00.000000')",
        [(k, float(k % 30000)) for k in range(1, N_INCIDENTS + 1)],
    )
    con.executemany(
        "INSERT INTO patrols (id, date, start_time, vehicles, personnel, crew, joint, weather, notes, status, source,"
        " created_by, created_at) VALUES (?, '2025-03-05', '09:00', 2, 5, '张建华、李明', '', '晴', '', 'closed', "
        "'app', 1, '2025-03-05 09:00:00.000000')",
        [(k,) for k in range(1, N_PATROLS + 1)],
    )
    con.executemany(
        "INSERT INTO patrol_roads (patrol_id, seq, road_code) VALUES (?, 0, 'X001')",
        [(k,) for k in range(1, N_PATROLS + 1)],
    )
    con.commit()
    path = con.execute("PRAGMA database_list").fetchone()[2]
    eng = create_engine(f"sqlite:///{path}")
    with eng.connect() as c:
        out = {
            (e, rid): canonical_json(st)
            for e in ("incident", "patrol", "user")
            for rid, st in audit_state.states(c, e).items()
        }
    eng.dispose()
    return out


def build_trail(path, n: int = N) -> None:
    import hmac

    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    for name in ("audit_log_in_order", "audit_head_one_row"):  # bulk-built here, head written at the end
        con.execute(f"DROP TRIGGER IF EXISTS {name}")
    states = _records(con)
    enc = lambda payload: "".join(audit_scan._ENCODER(payload, 0))  # noqa: E731
    sha = hashlib.sha256
    store_json = canonical_json  # what the JSON columns store (patrol_app.storage.db)
    prev = audit.GENESIS
    prev_mac = audit.GENESIS
    t0 = dt.datetime(2024, 1, 1)
    rows = []
    sample = []
    for i in range(1, n + 1):
        ts = t0 + dt.timedelta(seconds=i * 7, microseconds=i % 999_983)
        action, entity, entity_id, before, after = _entry(i)
        actor_id, actor = (i % 40) + 1, f"user{i % 40}"
        iso = ts.isoformat(timespec="microseconds")
        state = states.get((entity, entity_id))  # the record's full state, as the app records it
        fields = [i, iso, actor_id, actor, action, entity, entity_id, before, after]
        if state is not None:
            fields.append(json.loads(state))
        h = sha((prev + enc(fields)).encode()).hexdigest()
        mac = hmac.digest(KEY, (prev_mac + h).encode(), "sha256").hex()
        if i % 99_991 == 1:
            sample.append(
                (
                    prev,
                    i,
                    ts,
                    actor_id,
                    actor,
                    action,
                    entity,
                    entity_id,
                    before,
                    after,
                    None if state is None else json.loads(state),
                    h,
                )
            )
        rows.append(
            (
                i,
                ts.strftime("%Y-%m-%d %H:%M:%S.%f"),
                actor_id,
                actor,
                action,
                entity,
                entity_id,
                store_json(before),
                store_json(after),
                prev,
                h,
                state,
                mac,
            )
        )
        prev, prev_mac = h, mac
        if len(rows) == CHUNK:
            con.executemany(INSERT, rows)
            rows.clear()
    if rows:
        con.executemany(INSERT, rows)
    con.execute(
        "INSERT INTO audit_head (id, last_id, last_hash, last_mac) VALUES (1, ?, ?, ?)", (n, prev, prev_mac)
    )
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    for *args, h in sample:  # the chain is the app's own
        assert audit.entry_hash(*args) == h


@pytest.fixture(scope="module")
def million(tmp_path_factory):
    path = tmp_path_factory.mktemp("audit-million") / "patrol.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    build_trail(path)
    return url


def test_bench_audit_verify_1m(benchmark, million):
    def run():
        with read_session(million) as s:
            return audit.verify(s)

    res = benchmark.pedantic(run, rounds=3, iterations=1)
    assert res.ok and res.entries == N, res


def test_bench_audit_verify_1m_one_process(benchmark, million):
    """For comparison: the same pass without worker processes."""

    def run():
        with read_session(million) as s:
            return audit.verify(s, workers=1)

    res = benchmark.pedantic(run, rounds=1, iterations=1)
    assert res.ok and res.entries == N


def test_bench_audit_verify_1m_finds_an_edit(benchmark, million, tmp_path):
    """A tampered trail is reported as fast (the edit sits near the end, so everything before is read)."""
    import shutil

    from sqlalchemy.engine import make_url

    src = make_url(million).database
    path = tmp_path / "patrol.db"
    shutil.copyfile(src, path)
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    con.execute("UPDATE audit_log SET actor = 'someone' WHERE id = ?", (N - 10,))
    con.commit()
    con.close()

    def run():
        with read_session(f"sqlite:///{path}") as s:
            return audit.verify(s)

    res = benchmark.pedantic(run, rounds=1, iterations=1)
    assert (res.ok, res.first_bad_id, res.reason) == (False, N - 10, "altered")


@pytest.fixture(scope="module")
def account_store(tmp_path_factory):
    from patrol_app.services import auth

    url = f"sqlite:///{tmp_path_factory.mktemp('auth') / 'patrol.db'}"
    upgrade(url)
    with session_scope(url) as s:
        auth.create_first_admin(s, "chief", "long-enough-pw", "局长")
    return url


def test_bench_sign_in(benchmark, account_store):
    from patrol_app.services import auth

    def run():
        with session_scope(account_store) as s:
            return auth.sign_in(s, "chief", "long-enough-pw").username

    assert benchmark.pedantic(run, rounds=10, iterations=1, warmup_rounds=1) == "chief"
