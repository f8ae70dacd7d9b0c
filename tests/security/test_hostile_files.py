"""Hostile files: each refused with a clear message, nothing written, the process exiting cleanly with its
memory bounded (the ``patrol`` command runs in a subprocess under a 1.5 GB address-space limit)."""

from __future__ import annotations

import io
import resource
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import CLI_TIMEOUT_S

LIMIT_BYTES = 1536 * 1024 * 1024

_CT = (
    '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
    '+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
    'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.worksheet+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
    '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_WB = (
    '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
    '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet '
    'name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WB_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
    '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)


def xlsx(rows_xml: str, dimension: str | None = None) -> bytes:
    """A minimal XLSX built by hand (inline strings), so that any cell reference can be written."""
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    sheet = (
        '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
        f'spreadsheetml/2006/main">{dim}<sheetData>{rows_xml}</sheetData></worksheet>'
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CT)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("xl/workbook.xml", _WB)
        z.writestr("xl/_rels/workbook.xml.rels", _WB_RELS)
        z.writestr("xl/worksheets/sheet1.xml", sheet)
    return buf.getvalue()


def cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


HEADER = (
    '<row r="1">'
    + cell("A1", "日期")
    + cell("B1", "巡查路线")
    + cell("C1", "出动车辆")
    + cell("D1", "出动人员")
    + "</row>"
)


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))


#: The CSV limits are settings (a CSV ledger is read row by row); these runs set them low to see them refuse.
CSV_MAX_ROWS, CSV_MAX_MB = 20_000, 8


def run_limited(args, env):  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", *map(str, args)],
        env={**env, "PATROL_IMPORT_MAX_ROWS": str(CSV_MAX_ROWS), "PATROL_IMPORT_MAX_MB": str(CSV_MAX_MB)},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=CLI_TIMEOUT_S,
        preexec_fn=_limited,
    )


def hostile(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name → (file, words the refusal must contain)."""
    files: dict[str, tuple[bytes, str, str]] = {
        # one cell at the last cell of a sheet: 5 KB on disk, 17 billion cells for a grid reader
        "far_cell": (
            xlsx(HEADER + '<row r="1048576">' + cell("XFD1048576", "x") + "</row>"),
            "xlsx",
            "超过上限",
        ),
        "far_row": (
            xlsx(HEADER + '<row r="1048576">' + cell("A1048576", "x") + "</row>"),
            "xlsx",
            "行数超过上限",
        ),
        "lying_dimension": (xlsx(HEADER, dimension="A1:XFD1048576"), "xlsx", "列数超过上限"),
        "long_cell": (
            xlsx(HEADER + '<row r="2">' + cell("A2", "x" * 40_000) + "</row>"),
            "xlsx",
            "超过 32767 个字符",
        ),
        "entity_bomb": (xlsx(HEADER).replace(b"", b""), "xlsx", ""),  # replaced below
        "csv_rows": (
            ("日期,巡查路线,出动车辆,出动人员\n" + "2025-03-05,X001,1,2\n" * (CSV_MAX_ROWS + 1)).encode(),
            "csv",
            "行数超过上限",
        ),
        "csv_columns": (
            ("日期,巡查路线,出动车辆,出动人员" + ",x" * 300 + "\n").encode(),
            "csv",
            "列数超过上限",
        ),
        "csv_long_cell": (
            ("日期,巡查路线,出动车辆,出动人员,备注\n2025-03-05,X001,1,2," + "y" * 40_000 + "\n").encode(),
            "csv",
            "超过 32767 个字符",
        ),
        "too_big": (b"a,b\n" + b"1,2\n" * (CSV_MAX_MB * 1024 * 1024 // 4 + 1), "csv", "太大"),
    }
    bomb_sheet = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;'
        '&lol;&lol;&lol;&lol;&lol;&lol;">]><worksheet xmlns="http://schemas.openxmlformats.org/'
        'spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol1;</t></is>'
        "</c></row></sheetData></worksheet>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(files["far_row"][0])) as src, zipfile.ZipFile(buf, "w") as dst:
        for i in src.infolist():
            dst.writestr(i, bomb_sheet if i.filename.endswith("sheet1.xml") else src.read(i))
    files["entity_bomb"] = (buf.getvalue(), "xlsx", "DTD")
    out = {}
    for name, (data, ext, words) in files.items():
        p = tmp / f"{name}.{ext}"
        p.write_bytes(data)
        out[name] = (p, words)
    return out


def test_far_cell_xlsx_is_small_on_disk():
    assert len(xlsx(HEADER + '<row r="1048576">' + cell("XFD1048576", "x") + "</row>")) < 5 * 1024


def test_every_hostile_ledger_is_refused_cleanly_with_bounded_memory(store, tmp_path):
    files = hostile(tmp_path)
    before = store.counts()
    for name, (path, words) in files.items():
        r = run_limited(["import", path], store.env)
        assert r.returncode == 1, (name, r.returncode, r.stderr[-2000:])
        assert "Traceback" not in r.stderr and "MemoryError" not in r.stderr, (name, r.stderr[-2000:])
        assert words in r.stderr, (name, r.stderr[-500:])
        assert path.name in r.stderr, (name, r.stderr[-500:])
    assert store.counts() == before
