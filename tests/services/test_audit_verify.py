"""The fast ``audit.verify`` (raw SQLite rows, worker processes) gives exactly the verdict of the plain
in-session pass, for an intact trail and for every kind of tampering, wherever it falls between chunks.

(Editing, deleting and truncating are also covered, through the public call, in ``test_store.py``.)
"""

from __future__ import annotations

import json
import random
import shutil

import pytest

from patrol_app.services import audit, audit_scan
from patrol_app.services.users import cli_actor
from patrol_app.storage.db import get_engine, read_session, session_scope
from patrol_app.storage.migrate import upgrade
from tests.tamper import tamper

N = 300
SCALARS = [None, "", 0, -0.0, 0.1, 1e16, 1.5e-7, 2**70, -(2**63), True, False, "plain string"]
#: What callers of ``audit.record`` pass: dicts (or None). A bare number would not survive SQLite's NUMERIC
#: affinity of the JSON column (1e16 comes back as an int), so numbers are tried inside containers only.
TRICKY = [
    None,
    {},
    [],
    {"v": SCALARS},
    {"名": "张三", "b": [1, 2.5, None, {"z": '\x01\t\n"\\'}], "a": "😀 \u2028 </script>"},
    {
        "nested": {"k": {"k2": [{"x": "云D·L0301"}]}},
        "number_keys": {"10": 1, "2": 2},
        "f": [1e16, -0.0, 2**70],
    },
    ["a", {"c": 3, "b": 2}],
    {"s": "plain string"},
]


@pytest.fixture(scope="module")
def trail_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("audit-trail") / "patrol.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    rng = random.Random(7)
    with session_scope(url) as s:
        actor = cli_actor(s)  # creating the command line's account is entry 1
        for i in range(N - 1):
            audit.record(
                s, actor, "test.write", "thing", i, before=rng.choice(TRICKY), after=rng.choice(TRICKY)
            )
    raw = get_engine(url).raw_connection()  # fold the WAL into the file, so that copying the file copies all
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        raw.close()
    get_engine(url).dispose()
    return path


@pytest.fixture
def trail(trail_template, tmp_path, monkeypatch):
    monkeypatch.setenv("PATROL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("PATROL_DB_URL", raising=False)
    path = tmp_path / "patrol.db"
    shutil.copyfile(trail_template, path)
    return f"sqlite:///{path}", path


def verdicts(url):
    with read_session(url) as s:
        plain = audit._verify_in_session(s)
        one = audit.verify(s, workers=1)
        two = audit.verify(s, workers=2)
    return plain, one, two


def test_fast_canonical_json_is_json_dumps():
    rng = random.Random(1)
    for _ in range(500):
        payload = [
            rng.randrange(10**6),
            "2026-01-01T00:00:00.000001",
            rng.choice([None, 1]),
            "cli",
            "a.b",
            "thing",
            str(rng.random()),
            rng.choice(TRICKY + SCALARS),
            rng.choice(TRICKY + SCALARS),
        ]
        assert "".join(audit_scan._ENCODER(payload, 0)) == json.dumps(
            payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )


def test_intact_trail_same_verdict_on_every_path(trail):
    url, _ = trail
    plain, one, two = verdicts(url)
    assert plain.ok and plain.entries == N
    assert one == plain and two == plain


TAMPER = {
    "edit": "update audit_log set after = '{\"n\": 99}' where id = {k}",
    "edit_ts": "update audit_log set ts = '2020-01-01 00:00:00.000000' where id = {k}",
    "edit_actor": "update audit_log set actor = 'someone' where id = {k}",
    "delete": "delete from audit_log where id = {k}",
    "relink": "update audit_log set prev_hash = '" + "1" * 64 + "' where id = {k}",
    "rehash": "update audit_log set hash = '" + "2" * 64 + "' where id = {k}",
    "truncate": "delete from audit_log where id >= {k}",
}
# Over 2 workers, 300 rows go in 4 chunks of 74 (ids 1-296) and a tail of 4 (297-300) that the calling process
# scans itself: 74|75, 148|149 and 296|297 are boundaries.
CASES = [(kind, k) for kind in TAMPER for k in (1, 75, 300)] + [
    (kind, k) for kind in ("edit", "delete", "relink") for k in (74, 148, 296, 297)
]


@pytest.fixture
def workers_in_process(monkeypatch):
    """The chunks of the parallel path scanned in this process (same code, no interpreter start-up per chunk)."""
    monkeypatch.setattr(audit_scan, "scan_in_subprocess", audit_scan.scan_file)


@pytest.mark.parametrize("kind,k", CASES)
def test_tampering_same_verdict_on_every_path(trail, workers_in_process, kind, k):
    url, path = trail
    db = tamper(path)
    db.execute(TAMPER[kind].replace("{k}", str(k)))
    db.commit()
    db.close()
    plain, one, two = verdicts(url)
    assert not plain.ok
    assert one == plain and two == plain, (plain, one, two)


def test_unreadable_json_is_an_altered_entry_not_a_crash(trail, workers_in_process):
    url, path = trail
    db = tamper(path)
    db.execute("update audit_log set before = 'not json' where id = 38")
    db.commit()
    db.close()
    with read_session(url) as s:
        with pytest.raises(ValueError):  # the plain pass cannot even read the row
            audit._verify_in_session(s)
        for workers in (1, 2):
            res = audit.verify(s, workers=workers)
            assert (res.ok, res.first_bad_id, res.reason, res.entries) == (False, 38, "altered", 38)


def test_a_forged_row_inserted_with_recomputed_hash_is_caught_by_the_next_link(trail):
    """An attacker who rewrites one entry and recomputes its hash is caught at that entry: its keyed seal."""
    url, path = trail
    db = tamper(path)
    row = db.execute(
        "select id, ts, actor_id, actor, action, entity, entity_id, before, after, prev_hash "
        "from audit_log where id = 100"
    ).fetchone()
    from datetime import datetime

    h = audit.entry_hash(
        row[9],
        row[0],
        datetime.fromisoformat(row[1]),
        row[2],
        row[3],
        "test.forged",
        row[5],
        row[6],
        json.loads(row[7]),
        json.loads(row[8]),
    )
    db.execute("update audit_log set action = 'test.forged', hash = ? where id = 100", (h,))
    db.commit()
    db.close()
    plain, one, two = verdicts(url)
    assert (plain.ok, plain.first_bad_id, plain.reason) == (False, 100, "sealed")
    assert one == plain and two == plain


def test_verify_with_an_actor_needs_the_permission(store):
    from sqlalchemy import select

    from patrol_app.services.errors import PermissionDenied
    from patrol_app.storage.models import User

    with read_session() as s:
        for name in ("officer", "leader", "reviewer", "manager"):
            with pytest.raises(PermissionDenied):
                audit.verify(s, s.execute(select(User).where(User.username == name)).scalar_one())
        assert audit.verify(s, s.execute(select(User).where(User.username == "admin")).scalar_one()).ok


def test_workers_that_cannot_start_fall_back_to_one_pass(trail, monkeypatch):
    url, path = trail

    def broken(*args):  # type: ignore[no-untyped-def]
        raise RuntimeError("no processes here")

    monkeypatch.setattr(audit_scan, "scan_in_subprocess", broken)
    db = tamper(path)
    db.execute("update audit_log set actor = 'x' where id = 120")
    db.commit()
    db.close()
    with read_session(url) as s:
        res = audit.verify(s, workers=2)
    assert (res.ok, res.first_bad_id, res.reason, res.entries) == (False, 120, "altered", 120)


def test_the_fast_seal_is_hmac_sha256():
    import hashlib
    import hmac

    for key in (b"k" * 32, b"x" * 100, bytes(range(64))):
        seal = audit_scan.mac_function(key)
        for text in ("", "0" * 128, "ab" * 64):
            assert seal(text) == hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
            assert seal(text) == audit.entry_mac(key, text[:64], text[64:])
