"""The chunked ledger import (bounded memory): the same outcome as reading the file at once, across chunk
boundaries — every bad row named with its row number, nothing written when one is bad, all rows when none is."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from patrol_app.io.ledger import read_ledger
from patrol_app.io.ledger_stream import iter_ledger
from patrol_app.services.errors import ServiceError
from patrol_app.services.ledger_import import import_ledger_streamed
from patrol_app.services.users import cli_actor
from patrol_app.storage.db import session_scope

HEADER = ["发现时间", "违法类型", "路线编号", "桩号", "问题描述"]


def _ledger(path: Path, n: int, bad: set[int] = frozenset(), encoding: str = "utf-8-sig") -> Path:
    rows = [["2025年问题台账"], HEADER]
    for i in range(n):
        when = "2025-13-01" if i in bad else f"2025年3月{i % 28 + 1}日 09:30"
        rows.append([when, "堆放物品", "X001", f"K1+{i % 1000:03d}", f"第{i}行"])
        if i == n // 2:
            rows.append([])  # a blank line in the middle
    rows.append(["合计", "", "", "", ""])
    with path.open("w", newline="", encoding=encoding) as f:
        csv.writer(f).writerows(rows)
    return path


def _import(path: Path, **kw):  # type: ignore[no-untyped-def]
    with session_scope() as s:
        return import_ledger_streamed(s, cli_actor(s), path, **kw)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_chunks_hold_the_same_rows_as_the_whole_file(tmp_path, encoding):
    path = _ledger(tmp_path / "台账.csv", 25, encoding=encoding)
    (whole,) = read_ledger(path)
    chunks = list(iter_ledger(path, chunk_rows=4))
    assert len(chunks) == 7 and all(c.columns == whole.columns for c in chunks)
    assert [(r.row, r.values) for c in chunks for r in c.rows] == [(r.row, r.values) for r in whole.rows]
    assert [n for c in chunks for n in c.skipped_rows] == whole.skipped_rows
    assert whole.rows[0].row == 3 and whole.rows[-1].row == 28  # Excel's numbers: title, header, a blank line


def test_every_bad_row_across_chunks_is_named_and_nothing_is_written(store, tmp_path):
    path = _ledger(tmp_path / "台账.csv", 30, bad={0, 7, 8, 29})
    before = store.counts()
    res = _import(path, chunk_rows=5)
    assert not res.ok and res.batch_id is None
    assert [(e.row, e.column, e.key) for e in res.errors] == [
        (3, "发现时间", "error.bad_date"), (10, "发现时间", "error.bad_date"), (11, "发现时间", "error.bad_date"),
        (33, "发现时间", "error.bad_date")]
    assert res.incidents == 26
    assert store.counts() == before


def test_all_rows_across_chunks_are_written_in_one_batch(store, tmp_path):
    path = _ledger(tmp_path / "台账.csv", 23)
    before = store.counts()
    res = _import(path, chunk_rows=4)
    assert res.ok, [e.render() for e in res.errors]
    assert res.incidents == 23 and res.sheets[0]["rows"] == 23 and res.sheets[0]["skipped_total_rows"] == [27]
    after = store.counts()
    assert after["incidents"] == before["incidents"] + 23
    assert after["import_batches"] == before["import_batches"] + 1
    assert after["audit_log"] == before["audit_log"] + 1
    with pytest.raises(ServiceError) as e:
        _import(path, chunk_rows=4)
    assert e.value.key == "error.already_imported"


def test_dry_run_writes_nothing(store, tmp_path):
    path = _ledger(tmp_path / "台账.csv", 9)
    before = store.counts()
    res = _import(path, chunk_rows=2, dry_run=True)
    assert res.ok and res.dry_run and res.incidents == 9
    assert store.counts() == before
