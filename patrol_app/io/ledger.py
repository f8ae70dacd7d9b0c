"""Reading the bureau's ledgers (台账): CSV or XLSX, Chinese or English headers, several sheets.

This module only reads: it finds each sheet's header row, recognises the kind of ledger (patrols or
incidents) and maps headers to fields, keeping every row's spreadsheet row number. Validation lives in
:mod:`patrol_app.services.records`, shared with the app's forms.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from patrol_app.config import get_settings
from patrol_app.io.cells import restore

PATROL_FIELDS: dict[str, tuple[str, ...]] = {
    "date": ("date", "日期", "巡查日期"),
    "start": ("start", "开始时间", "出发时间"),
    "end": ("end", "结束时间", "返回时间"),
    "roads": ("roads", "巡查路线", "巡查路段", "路线"),
    "vehicles": ("vehicles", "出动车辆", "出动车辆(台次)", "出动车辆(台)", "车辆台次", "台次"),
    "personnel": ("personnel", "出动人员", "出动人员(人次)", "出动人员(人)", "人员人次", "人次"),
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
    "deadline": ("deadline", "改正期限", "整改期限", "限期"),
    "status": ("status", "状态", "办结情况"),
    "closed_at": ("closed_at", "办结日期", "办结时间"),
}

# Headers that only one kind of ledger has: they decide the kind.
_PATROL_ONLY = {"vehicles", "personnel", "km", "crew", "roads", "joint"}
_INCIDENT_ONLY = {"type", "stake", "lon", "lat", "party", "measure", "status", "closed_at", "description"}

#: A cell holding exactly this marks the template's example row: such a row is skipped, never imported.
EXAMPLE_MARK = "示例"

REQUIRED = {"patrols": ("date", "vehicles", "personnel", "roads"), "incidents": ("found_at", "type")}

# Limits on a ledger file, each checked before the part it guards is read: a refusal names the limit.
# A workbook is held in memory while it is read (calamine's grid); a CSV file is read row by row, so a
# province's ten-year ledger fits in any memory: its limits are settings (PATROL_IMPORT_MAX_ROWS, _MB).
MAX_FILE_MB = 50  # a workbook file
MAX_ROWS = 200_000  # rows of a workbook's sheets together (the bureau's largest yearly ledger: ~100,000)
MAX_COLUMNS = 200  # columns of a sheet
MAX_CELL_CHARS = 32_767  # Excel's own limit for one cell
MAX_SHEETS = 50
MAX_CELLS = 5_000_000  # rows × columns of a sheet's grid (100,000 rows × 25 columns: 2.5 million)


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
    #: from :func:`iter_ledger`: the rows, read as they are consumed (then ``rows`` stays empty; the lists
    #: below fill as the rows go by)
    stream: Iterator[LedgerRow] | None = None
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


def _check_rows(
    rows: Iterable[Any], name: str, state: dict[str, int], max_rows: int, all_text: bool = False
) -> Iterator[list[Any]]:
    """The rows of a table as lists, refused as soon as one limit is passed (so a hostile file never fills
    memory). ``all_text``: every cell is a ``str`` (a CSV reader's rows)."""
    for r in rows:
        state["rows"] += 1
        if state["rows"] > max_rows:
            raise LedgerFormatError("error.ledger_too_many_rows", file=name, max=f"{max_rows:,}")
        if len(r) > MAX_COLUMNS:
            raise LedgerFormatError(
                "error.ledger_too_many_columns", file=name, row=state["rows"], max=MAX_COLUMNS
            )
        if all_text:  # a CSV row: the longest cell decides, in one C loop
            if r and max(map(len, r)) <= MAX_CELL_CHARS:
                yield r
                continue
        for v in r:
            if isinstance(v, str) and len(v) > MAX_CELL_CHARS:
                raise LedgerFormatError(
                    "error.ledger_cell_too_long", file=name, row=state["rows"], max=MAX_CELL_CHARS
                )
        yield r if isinstance(r, list) else list(r)


def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes as such, else GB18030 (the Chinese national
    superset of GBK), else a refusal: checked block by block, never holding the file."""
    for enc in ("utf-8-sig", "gb18030"):
        dec = codecs.getincrementaldecoder(enc)()
        try:
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    dec.decode(block)
                dec.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return enc
    raise LedgerFormatError("error.ledger_encoding", file=path.name)


def _read_csv(path: Path, max_rows: int) -> list[tuple[str | None, Iterator[list[Any]]]]:
    enc = _csv_encoding(path)
    with path.open(encoding=enc, newline="") as f:
        head = f.read(4096)
    dialect: type[csv.Dialect] = csv.excel
    try:
        dialect = csv.Sniffer().sniff(head, delimiters=",\t;")
    except csv.Error:
        pass
    csv.field_size_limit(MAX_CELL_CHARS + 1)

    def rows() -> Iterator[list[Any]]:
        with path.open(encoding=enc, newline="") as f:
            try:
                yield from _check_rows(
                    csv.reader(f, dialect), path.name, {"rows": 0}, max_rows, all_text=True
                )
            except csv.Error as exc:  # a field over the size limit, a NUL byte …
                if "larger than field limit" in str(exc):
                    raise LedgerFormatError(
                        "error.ledger_cell_too_long", file=path.name, row="?", max=MAX_CELL_CHARS
                    ) from None
                raise LedgerFormatError("error.ledger_unreadable", file=path.name, detail=str(exc)) from None

    return [(None, rows())]


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

    check_xlsx_extent(path)  # before calamine allocates the sheet's grid
    state = {"rows": 0}
    if progress is not None:
        progress(0, _declared_rows(path))  # at once: loading the sheets below takes a second per 100,000 rows
    try:
        wb = CalamineWorkbook.from_path(str(path))
        sheets = [(name, wb.get_sheet_by_name(name)) for name in wb.sheet_names]
        if progress is None:
            grids = [(name, sh.to_python(skip_empty_area=False)) for name, sh in sheets]
        else:
            total = sum(sh.total_height or sh.height for _, sh in sheets)
            grids = []
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
                grids.append((name, rows))
            progress(done, max(total, done))
    except LedgerFormatError:
        raise
    except Exception as exc:
        raise LedgerFormatError("error.ledger_unreadable", file=path.name, detail=str(exc)) from exc
    return [(name, list(_check_rows(rows, path.name, state, MAX_ROWS))) for name, rows in grids]


_CELL_REF = re.compile(r"^\$?([A-Za-z]{1,3})\$?(\d{1,7})$")


def _ref(ref: str) -> tuple[int, int] | None:
    """ "XFD1048576" → (1048576, 16384) (row, column), 1-based; None when not a cell reference."""
    m = _CELL_REF.match(ref.strip())
    if not m:
        return None
    col = 0
    for ch in m.group(1).upper():
        col = col * 26 + ord(ch) - 64
    return int(m.group(2)), col


class _Refused(Exception):
    pass


def check_xlsx_extent(path: Path) -> None:
    """Refuse an XLSX whose sheets reach beyond :data:`MAX_ROWS` rows or :data:`MAX_COLUMNS` columns, or hold a
    cell longer than :data:`MAX_CELL_CHARS` — read from the sheet XML with a streaming parser (expat, no DTD or
    entities: what defusedxml forbids), before anything builds the sheet's grid. Both the declared dimension and
    every row and cell reference count: a 5 KB file with one cell at XFD1048576 would otherwise make the
    spreadsheet reader allocate 17 billion cells."""
    import zipfile
    from xml.parsers import expat

    name = path.name
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise LedgerFormatError("error.ledger_unreadable", file=name, detail=str(exc)) from None
    with zf:
        sheets = [
            i
            for i in zf.infolist()
            if i.filename.startswith("xl/worksheets/") and i.filename.endswith(".xml")
        ]
        sheets += [i for i in zf.infolist() if i.filename == "xl/sharedStrings.xml"]  # long texts live here
        if len(sheets) > MAX_SHEETS:
            raise LedgerFormatError("error.ledger_too_many_sheets", file=name, max=MAX_SHEETS)
        total_rows = 0
        for info in sheets:
            extent = [0, 0]  # max row, max column
            text = [0]

            def start(tag: str, attrs: dict[str, str]) -> None:
                local = tag.rsplit("}", 1)[-1]
                if local in ("c", "dimension") and not info.filename.endswith("sharedStrings.xml"):
                    for part in attrs.get("r" if local == "c" else "ref", "").split(":"):
                        rc = _ref(part)
                        if rc:
                            extent[0], extent[1] = max(extent[0], rc[0]), max(extent[1], rc[1])
                elif local == "row":
                    r = attrs.get("r", "")
                    if r.isdigit():
                        extent[0] = max(extent[0], int(r))
                if extent[0] > MAX_ROWS or extent[1] > MAX_COLUMNS:
                    raise _Refused()
                text[0] = 0

            def chars(data: str) -> None:
                text[0] += len(data)
                if text[0] > MAX_CELL_CHARS:
                    raise _Refused("cell")

            def forbidden(*_: Any) -> NoReturn:
                raise LedgerFormatError(
                    "error.ledger_unreadable", file=name, detail="DTD or entity in sheet XML"
                )

            p = expat.ParserCreate(namespace_separator="}")
            p.StartElementHandler = start
            p.CharacterDataHandler = chars
            p.StartDoctypeDeclHandler = forbidden
            p.EntityDeclHandler = forbidden
            p.ExternalEntityRefHandler = forbidden
            try:
                with zf.open(info) as fh:
                    while chunk := fh.read(1 << 16):
                        p.Parse(chunk, False)
                    p.Parse(b"", True)
            except _Refused as exc:
                if exc.args:
                    raise LedgerFormatError(
                        "error.ledger_cell_too_long", file=name, row="?", max=MAX_CELL_CHARS
                    ) from None
                if extent[1] > MAX_COLUMNS:
                    raise LedgerFormatError(
                        "error.ledger_too_many_columns", file=name, row=extent[0], max=MAX_COLUMNS
                    ) from None
                raise LedgerFormatError("error.ledger_too_many_rows", file=name, max=MAX_ROWS) from None
            except (expat.ExpatError, zipfile.BadZipFile, OSError, EOFError) as exc:
                raise LedgerFormatError("error.ledger_unreadable", file=name, detail=str(exc)) from None
            total_rows += extent[0]
            if extent[0] * extent[1] > MAX_CELLS:
                raise LedgerFormatError(
                    "error.ledger_too_many_cells",
                    file=name,
                    rows=extent[0],
                    columns=extent[1],
                    max=f"{MAX_CELLS:,}",
                )
            if total_rows > MAX_ROWS:
                raise LedgerFormatError("error.ledger_too_many_rows", file=name, max=MAX_ROWS)


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
    path: str | Path,
    kind: str | None = None,
    progress: Progress | None = None,
    name: str | None = None,
    keep_cells: bool = False,
) -> list[LedgerSheet]:
    """Read every ledger sheet in a CSV or XLSX file. Sheets that hold no ledger are skipped; a file with
    none raises :class:`LedgerFormatError`. ``progress(rows_read, rows_total)`` is called while reading;
    ``name`` is the file name to show (an upload's, not the stored copy's); ``keep_cells`` keeps every row's
    cells as read."""
    sheets = iter_ledger(path, kind, progress, name, keep_cells)
    for sheet in sheets:
        assert sheet.stream is not None
        sheet.rows = list(sheet.stream)
        sheet.stream = None
    if progress and Path(path).suffix.lower() not in (".xlsx", ".xlsm"):
        n = sum(len(sh.rows) for sh in sheets)
        progress(n, n)
    return sheets


def iter_ledger(
    path: str | Path,
    kind: str | None = None,
    progress: Progress | None = None,
    name: str | None = None,
    keep_cells: bool = False,
) -> list[LedgerSheet]:
    """:func:`read_ledger` with each sheet's rows in ``sheet.stream``, read (from a CSV file: from the disk)
    as they are consumed. Consume the sheets in order: a format error in a row raises while reading it."""
    p = Path(path)
    shown = name or p.name
    if not p.exists():
        raise LedgerFormatError("error.file_not_found", file=str(p))
    size = p.stat().st_size
    suffix = p.suffix.lower()
    settings = get_settings()
    limit_mb = settings.import_max_mb if suffix in (".csv", ".txt", ".tsv") else MAX_FILE_MB
    if size > limit_mb * 1024 * 1024:
        raise LedgerFormatError(
            "error.ledger_too_big", file=p.name, mb=f"{size / 1024 / 1024:.0f}", max=limit_mb
        )
    tables: list[tuple[str | None, Iterator[list[Any]]]]
    if suffix in (".csv", ".txt", ".tsv"):
        tables = _read_csv(p, settings.import_max_rows)
    elif suffix in (".xlsx", ".xlsm"):
        tables = [(n, iter(rows)) for n, rows in _read_xlsx(p, progress)]
    else:
        raise LedgerFormatError("error.ledger_format", file=shown)
    sheets: list[LedgerSheet] = []
    for name, rows in tables:
        top = list(itertools.islice(rows, 10))  # a title row or two may stand above the header
        found = None
        for hi, header in enumerate(top):
            det = _detect(header, kind)
            if det and len(det[1]) >= 2:
                found = (hi, det)
                break
        if found is None:
            continue
        hi, (k, mapping) = found
        header = top[hi]
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
            unknown_headers=[
                str(h) for i, h in enumerate(header) if i not in mapping and h not in (None, "")
            ],
            header=["" if h is None else str(h) for h in header],
        )
        sheet.stream = _sheet_rows(sheet, itertools.chain(top[hi + 1 :], rows), hi + 2, mapping, keep_cells)
        sheets.append(sheet)
    if not sheets:
        raise LedgerFormatError("error.ledger_no_sheet", file=shown)
    return sheets


def _sheet_rows(
    sheet: LedgerSheet, rows: Iterable[list[Any]], first: int, mapping: dict[int, str], keep_cells: bool
) -> Iterator[LedgerRow]:
    for ri, r in enumerate(rows, start=first):
        filled, mark = _scan(r)
        if not filled:
            continue  # blank line
        if mark == EXAMPLE_MARK:
            sheet.example_rows.append(ri)  # the template's example, not a record
            continue
        if mark:
            sheet.skipped_rows.append(ri)  # a totals row under the table, not a record
            continue
        values = {f: (restore(r[i]) if i < len(r) else None) for i, f in mapping.items()}
        yield LedgerRow(ri, values, list(r) if keep_cells else None)
