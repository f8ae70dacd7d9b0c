"""Reading the bureau's ledgers (台账): CSV or XLSX, Chinese or English headers, several sheets.

This module only reads: it finds each sheet's header row, recognises the kind of ledger (patrols or
incidents) and maps headers to fields, keeping every row's spreadsheet row number. Validation lives in
:mod:`patrol_app.services.records`, shared with the app's forms.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

PATROL_FIELDS: dict[str, tuple[str, ...]] = {
    "date": ("date", "日期", "巡查日期"),
    "start": ("start", "开始时间", "出发时间"),
    "end": ("end", "结束时间", "返回时间"),
    "roads": ("roads", "巡查路线", "巡查路段", "路线"),
    "vehicles": ("vehicles", "出动车辆", "出动车辆(台次)", "车辆台次", "台次"),
    "personnel": ("personnel", "出动人员", "出动人员(人次)", "人员人次", "人次"),
    "km": ("km", "巡查里程", "巡查里程(公里)", "巡查里程(km)", "里程"),
    "crew": ("crew", "巡查人员", "执法人员"),
    "joint": ("joint", "联合单位", "联合执法单位"),
    "weather": ("weather", "天气"),
    "notes": ("notes", "备注"),
}

INCIDENT_FIELDS: dict[str, tuple[str, ...]] = {
    "found_at": ("found_at", "发现时间", "日期", "发现日期", "巡查日期"),
    "type": ("type", "类型", "违法类型", "问题类型", "违法行为"),
    "road": ("road", "路线编号", "路线", "路线代码"),
    "stake": ("stake", "桩号"),
    "lon": ("lon", "经度", "longitude", "lng"),
    "lat": ("lat", "纬度", "latitude"),
    "side": ("side", "侧别", "方位"),
    "description": ("description", "问题描述", "情况描述"),
    "party": ("party", "当事人"),
    "party_phone": ("party_phone", "phone", "联系电话", "当事人电话"),
    "measure": ("measure", "处理措施", "处理情况"),
    "deadline": ("deadline", "整改期限", "限期"),
    "status": ("status", "状态", "办结情况"),
    "closed_at": ("closed_at", "办结日期", "办结时间"),
}

# Headers that only one kind of ledger has: they decide the kind.
_PATROL_ONLY = {"vehicles", "personnel", "km", "crew", "roads", "joint"}
_INCIDENT_ONLY = {"type", "stake", "lon", "lat", "party", "measure", "status", "closed_at", "description"}

#: A cell holding exactly this marks the template's example row: such a row is skipped, never imported.
EXAMPLE_MARK = "示例"

REQUIRED = {"patrols": ("date", "vehicles", "personnel", "roads"), "incidents": ("found_at", "type")}


def norm_header(text: Any) -> str:
    s = unicodedata.normalize("NFKC", str(text or "")).strip().lower()
    return re.sub(r"\s+", "", s)


def _lookup(fields: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {norm_header(alias): name for name, aliases in fields.items() for alias in aliases}


_LOOKUPS = {"patrols": _lookup(PATROL_FIELDS), "incidents": _lookup(INCIDENT_FIELDS)}


def _match(header: str, kind: str) -> str | None:
    h = norm_header(header)
    lk = _LOOKUPS[kind]
    if h in lk:
        return lk[h]
    base = re.sub(r"\(.*?\)$", "", h)  # "巡查里程(km)" → "巡查里程"
    return lk.get(base)


@dataclass
class LedgerRow:
    row: int  # spreadsheet row number (1-based, as Excel shows it)
    values: dict[str, Any]
    cells: list[Any] | None = None  # the whole row as read (for the workbook of bad rows)


@dataclass
class LedgerSheet:
    name: str | None
    kind: str  # patrols | incidents
    columns: dict[str, str]  # field → header text as written
    rows: list[LedgerRow] = field(default_factory=list)
    unknown_headers: list[str] = field(default_factory=list)
    skipped_rows: list[int] = field(default_factory=list)
    header: list[str] = field(default_factory=list)  # the header row as written
    example_rows: list[int] = field(default_factory=list)  # the template's example rows (skipped)


class LedgerFormatError(Exception):
    """The file itself cannot be read as a ledger (not a bad row: a bad file)."""

    def __init__(self, key: str, **params: Any) -> None:
        self.key = key
        self.params = params
        super().__init__(f"{key} {params}")


def _read_csv(path: Path) -> list[tuple[str | None, list[list[Any]]]]:
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise LedgerFormatError("error.ledger_encoding", file=path.name)
    dialect = csv.excel
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")  # type: ignore[assignment]
    except csv.Error:
        pass
    return [(None, [list(r) for r in csv.reader(io.StringIO(text), dialect)])]


#: Rows read between two progress reports.
PROGRESS_EVERY = 5000

Progress = Callable[[int, int], None]  # (rows read so far, rows in the file)


_DIMENSION = re.compile(rb'<dimension ref="[A-Z]+\d+:?[A-Z]*(\d*)"')


def _declared_rows(path: Path) -> int:
    """The rows a workbook's sheets declare (their ``<dimension>``), read from the first bytes of each sheet —
    an estimate of the work ahead that costs a millisecond; 0 when a sheet does not say."""
    import zipfile

    total = 0
    try:
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    with z.open(name) as f:
                        m = _DIMENSION.search(f.read(4096))
                    if m and m.group(1):
                        total += int(m.group(1))
    except (OSError, zipfile.BadZipFile):
        return 0
    return total


def _read_xlsx(path: Path, progress: Progress | None = None) -> list[tuple[str | None, list[list[Any]]]]:
    # calamine (Rust) reads a 100,000-row ledger several times faster than openpyxl; date cells come back as
    # datetime/date objects, blank cells as "". skip_empty_area=False keeps Excel's row numbers.
    from python_calamine import CalamineWorkbook

    if progress is not None:
        progress(0, _declared_rows(path))  # at once: loading the sheets below takes a second per 100,000 rows
    try:
        wb = CalamineWorkbook.from_path(str(path))
        sheets = [(name, wb.get_sheet_by_name(name)) for name in wb.sheet_names]
        if progress is None:
            return [(name, sh.to_python(skip_empty_area=False)) for name, sh in sheets]
        total = sum(sh.total_height or sh.height for _, sh in sheets)
        out: list[tuple[str | None, list[list[Any]]]] = []
        done = 0
        progress(0, total)
        for name, sh in sheets:
            rows: list[list[Any]] = []
            # iter_rows() yields rows from the first row but columns from the first used column: pad so that
            # the cells stand where to_python(skip_empty_area=False) puts them
            pad = [""] * (sh.start[1] if sh.start else 0)
            for r in sh.iter_rows():
                rows.append(pad + r if pad else r)
                done += 1
                if done % PROGRESS_EVERY == 0:
                    progress(done, total)
            out.append((name, rows))
        progress(done, max(total, done))
        return out
    except LedgerFormatError:
        raise
    except Exception as exc:
        raise LedgerFormatError("error.ledger_unreadable", file=path.name, detail=str(exc)) from exc


def _detect(header: list[Any], forced: str | None) -> tuple[str, dict[int, str]] | None:
    best: tuple[int, str, dict[int, str]] | None = None
    for kind in ("patrols", "incidents"):
        if forced and kind != forced:
            continue
        mapping: dict[int, str] = {}
        for i, h in enumerate(header):
            name = _match(h, kind) if h is not None and str(h).strip() else None
            if name and name not in mapping.values():
                mapping[i] = name
        only = _PATROL_ONLY if kind == "patrols" else _INCIDENT_ONLY
        score = sum(1 for n in mapping.values() if n in only)
        if score and (best is None or score > best[0]):
            best = (score, kind, mapping)
    if best is None:
        return None
    return best[1], best[2]


_MARKS = frozenset(("合计", "总计", "小计", EXAMPLE_MARK))


def _scan(row: list[Any]) -> tuple[bool, str | None]:
    """(row holds a value, the totals or example mark it holds) in one pass over its cells."""
    filled = False
    mark = None
    for v in row:
        if v.__class__ is str:
            text = v.strip()
            if text:
                filled = True
                if text in _MARKS:
                    mark = text
        elif v is not None:
            filled = True
    return filled, mark


def read_ledger(
    path: str | Path, kind: str | None = None, progress: Progress | None = None, name: str | None = None,
    keep_cells: bool = False,
) -> list[LedgerSheet]:
    """Read every ledger sheet in a CSV or XLSX file. Sheets that hold no ledger are skipped; a file with
    none raises :class:`LedgerFormatError`. ``progress(rows_read, rows_total)`` is called while reading;
    ``name`` is the file name to show (an upload's, not the stored copy's); ``keep_cells`` keeps every row's
    cells as read."""
    p = Path(path)
    shown = name or p.name
    if not p.exists():
        raise LedgerFormatError("error.file_not_found", file=str(p))
    suffix = p.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        tables = _read_csv(p)
        if progress:
            n = sum(len(r) for _, r in tables)
            progress(n, n)
    elif suffix in (".xlsx", ".xlsm"):
        tables = _read_xlsx(p, progress)
    else:
        raise LedgerFormatError("error.ledger_format", file=shown)
    sheets: list[LedgerSheet] = []
    for name, rows in tables:
        found = None
        for hi, header in enumerate(rows[:10]):  # a title row or two may stand above the header
            det = _detect(header, kind)
            if det and len(det[1]) >= 2:
                found = (hi, det)
                break
        if found is None:
            continue
        hi, (k, mapping) = found
        header = rows[hi]
        missing = [f for f in REQUIRED[k] if f not in mapping.values()]
        if k == "incidents" and not (
            {"lon", "lat"} <= set(mapping.values()) or {"road", "stake"} <= set(mapping.values())
        ):
            missing.append("lon/lat | road/stake")
        if missing:
            raise LedgerFormatError(
                "error.ledger_missing_columns", sheet=name or shown, kind=k, columns=", ".join(missing)
            )
        sheet = LedgerSheet(
            name=name,
            kind=k,
            columns={f: str(header[i]).strip() for i, f in mapping.items()},
            unknown_headers=[str(h) for i, h in enumerate(header) if i not in mapping and h not in (None, "")],
            header=["" if h is None else str(h) for h in header],
        )
        for ri, r in enumerate(rows[hi + 1 :], start=hi + 2):
            filled, mark = _scan(r)
            if not filled:
                continue  # blank line
            if mark == EXAMPLE_MARK:
                sheet.example_rows.append(ri)  # the template's example, not a record
                continue
            if mark:
                sheet.skipped_rows.append(ri)  # a totals row under the table, not a record
                continue
            values = {f: (r[i] if i < len(r) else None) for i, f in mapping.items()}
            sheet.rows.append(LedgerRow(ri, values, list(r) if keep_cells else None))
        sheets.append(sheet)
    if not sheets:
        raise LedgerFormatError("error.ledger_no_sheet", file=shown)
    return sheets
