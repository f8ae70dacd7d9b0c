"""Property-based fuzzing of the ledger import (hypothesis): CSV ledgers of random text, numbers and dates, and
random bytes posing as CSV or XLSX. 10,000 generated inputs in all. Whatever comes in, the import either stores
the whole file or refuses it with a ServiceError / listed row errors — never another exception, never a partial
write (row counts unchanged on failure, grown by exactly the file's records on success).

The service is called directly on one small SQLite store per test (no subprocess per example)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patrol_app.services import records
from patrol_app.services.errors import ServiceError
from patrol_app.services.users import get_user
from patrol_app.storage.db import read_session, session_scope


def fuzz(n: int) -> settings:
    return settings(FUZZ_BASE, max_examples=n)


FUZZ_BASE = settings(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
#: examples per test; together 10,000
N_PATROLS, N_INCIDENTS, N_BYTES = (
    int(x) for x in __import__("os").environ.get("FUZZ_N", "4000,4000,2000").split(",")
)

text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=24)
formula = st.sampled_from(
    ["=1+1", "+86 138", "-5", "@SUM(A1)", "\t", "\r", "'=x", "''", "'", "==", "=HYPERLINK()"]
)
dates = st.one_of(
    st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)).map(str),
    st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)).map(lambda d: f"{d.year}年{d.month}月{d.day}日"),
    st.integers(-5, 90000).map(str),
    text,
)
numbers = st.one_of(
    st.integers(-10, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "3台", "2人次", "1e309", "nan", "-0", "12公里", "0x10"]),
    text,
)
roads = st.one_of(
    st.sampled_from(["X001", "X002", "Y003", "X001、X002", "x001", "X404", "", "X001/Y003"]), text
)

PATROL_HEADER = [
    "日期",
    "巡查路线",
    "出动车辆(台次)",
    "出动人员(人次)",
    "巡查里程(公里)",
    "开始时间",
    "结束时间",
    "巡查人员",
    "天气",
    "备注",
]
INCIDENT_HEADER = [
    "发现时间",
    "违法类型",
    "路线编号",
    "桩号",
    "侧别",
    "问题描述",
    "当事人",
    "联系电话",
    "处理措施",
    "状态",
]
past = st.dates(dt.date(2015, 1, 1), dt.date(2025, 12, 31))
free = st.one_of(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12), formula)
valid_patrol = st.tuples(
    past.map(str),
    st.sampled_from(["X001", "X002", "Y003", "X001、X002", "x001", "X001/Y003"]),
    st.integers(0, 6).map(str),
    st.integers(2, 9).map(str),
    st.sampled_from(["", "12.5", "0", "88"]),
    st.sampled_from(["08:30", "8:05", ""]),
    st.sampled_from(["12:00", ""]),
    free,
    st.just("晴"),
    free,
)
valid_incident = st.tuples(
    past.map(lambda d: f"{d} 09:30"),
    st.sampled_from(["堆放物品", "违章建房", "占道经营", "倾倒垃圾"]),
    st.sampled_from(["X001", "X002", "Y003"]),
    st.integers(0, 1500).map(lambda m: f"K{m // 1000}+{m % 1000:03d}"),
    st.sampled_from(["左", "右侧", ""]),
    free,
    free,
    free,
    st.sampled_from(["现场劝导", "立案查处", ""]),
    st.sampled_from(["办理中", "", "open"]),
)


def hostile(valid, n: int):  # type: ignore[no-untyped-def]
    """A valid row, or (one time in three) the same row with one cell replaced by anything."""
    anything = st.one_of(free, dates, numbers, roads)
    broken = st.tuples(valid, st.integers(0, n - 1), anything).map(
        lambda t: t[0][: t[1]] + (t[2],) + t[0][t[1] + 1 :]
    )
    return st.one_of(valid, valid, broken)


patrol_row = hostile(valid_patrol, len(PATROL_HEADER))
incident_row = hostile(valid_incident, len(INCIDENT_HEADER))


COUNT_SQL = (
    "SELECT (SELECT count(*) FROM patrols), (SELECT count(*) FROM incidents), "
    "(SELECT count(*) FROM import_batches)"
)


class Importer:
    def __init__(self, store, tmp: Path) -> None:  # type: ignore[no-untyped-def]
        self.tmp, self.n, self.stored = tmp, 0, 0
        with read_session() as s:
            self.actor = get_user(s, "leader")
        self.db = sqlite3.connect(store.db_path)  # row counts straight from the file: what was committed

    def counts(self) -> tuple[int, int, int]:
        return self.db.execute(COUNT_SQL).fetchone()

    def check(self, data: bytes, suffix: str) -> None:
        self.n += 1
        path = self.tmp / f"ledger{self.n}{suffix}"
        path.write_bytes(data)
        before = self.counts()
        try:
            with session_scope() as s:
                res = records.import_ledger(s, self.actor, path)
                if not res.ok:
                    s.rollback()
        except ServiceError:
            assert self.counts() == before
            return
        finally:
            path.unlink()
        after = self.counts()
        self.stored += bool(res.ok)
        if res.ok:
            assert after == (before[0] + res.patrols, before[1] + res.incidents, before[2] + 1)
        else:
            assert res.errors and after == before


def csv_bytes(header: list[str], rows: list[tuple[str, ...]], encoding: str = "utf-8-sig") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode(encoding, errors="replace")


def test_fuzz_patrol_ledgers(store, tmp_path):
    imp = Importer(store, tmp_path)

    @fuzz(N_PATROLS)
    @given(st.lists(patrol_row, min_size=1, max_size=2))
    def one(rows):  # type: ignore[no-untyped-def]
        imp.check(csv_bytes(PATROL_HEADER, rows), ".csv")

    one()
    assert (
        imp.n >= N_PATROLS and imp.stored > N_PATROLS // 5
    )  # many ledgers are stored whole, not only refused


def test_fuzz_incident_ledgers(store, tmp_path):
    imp = Importer(store, tmp_path)

    @fuzz(N_INCIDENTS)
    @given(st.lists(incident_row, min_size=1, max_size=2), st.sampled_from(["utf-8-sig", "gb18030"]))
    def one(rows, enc):  # type: ignore[no-untyped-def]
        imp.check(csv_bytes(INCIDENT_HEADER, rows, enc), ".csv")

    one()
    assert imp.n >= N_INCIDENTS and imp.stored > N_INCIDENTS // 5


def test_fuzz_random_bytes(store, tmp_path):
    imp = Importer(store, tmp_path)
    header = ",".join(PATROL_HEADER[:4]).encode() + b"\n"

    @fuzz(N_BYTES)
    @given(st.binary(max_size=300), st.sampled_from([".csv", ".xlsx"]), st.booleans())
    def one(data, suffix, with_header):  # type: ignore[no-untyped-def]
        if suffix == ".xlsx" and data[:2] != b"PK":
            data = b"PK\x03\x04" + data
        imp.check((header if with_header else b"") + data, suffix)

    one()
    assert imp.n >= N_BYTES
