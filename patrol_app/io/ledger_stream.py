"""Reading a ledger in chunks, so that memory stays bounded whatever the file's size.

The same header detection and row rules as :func:`patrol_app.io.ledger.read_ledger` (title rows above the header,
blank lines and totals rows skipped, Excel's row numbers kept); only the rows arrive a chunk at a time: each chunk
is a :class:`~patrol_app.io.ledger.LedgerSheet` holding up to ``chunk_rows`` rows of one sheet.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from patrol_app.io.ledger import REQUIRED, LedgerFormatError, LedgerRow, LedgerSheet, _detect

CHUNK_ROWS = 20_000
_TOTALS = ("合计", "总计", "小计")
_BLOCK = 1 << 20


def _csv_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes as UTF-8, else GB18030 (WPS/Excel on Chinese
    Windows). Checked block by block: the file is never held in memory."""
    dec = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as fh:
        try:
            while block := fh.read(_BLOCK):
                dec.decode(block)
            dec.decode(b"", final=True)
        except UnicodeDecodeError:
            return "gb18030"
    return "utf-8-sig"


def _csv_tables(path: Path) -> Iterator[tuple[str | None, Iterator[list[Any]]]]:
    enc = _csv_encoding(path)
    fh = path.open(encoding=enc, newline="")
    head = fh.read(4096)
    fh.seek(0)
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    try:
        dialect = csv.Sniffer().sniff(head, delimiters=",\t;")
    except csv.Error:
        pass

    def rows() -> Iterator[list[Any]]:
        with fh:
            yield from csv.reader(fh, dialect)

    yield None, rows()


def _xlsx_tables(path: Path) -> Iterator[tuple[str | None, Iterator[list[Any]]]]:
    from python_calamine import CalamineWorkbook

    try:
        wb = CalamineWorkbook.from_path(str(path))
        names = list(wb.sheet_names)
    except Exception as exc:
        raise LedgerFormatError("error.ledger_unreadable", file=path.name, detail=str(exc)) from exc
    for name in names:
        try:
            sheet = wb.get_sheet_by_name(name)
        except Exception as exc:
            raise LedgerFormatError("error.ledger_unreadable", file=path.name, detail=str(exc)) from exc
        # iter_rows starts at row 1 (empty leading rows included), as to_python(skip_empty_area=False) does:
        # row numbers stay Excel's.
        yield name, iter(sheet.iter_rows())


def _tables(p: Path) -> Iterator[tuple[str | None, Iterator[list[Any]]]]:
    suffix = p.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        return _csv_tables(p)
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_tables(p)
    raise LedgerFormatError("error.ledger_format", file=p.name)


def iter_ledger(path: str | Path, kind: str | None = None, chunk_rows: int = CHUNK_ROWS) -> Iterator[LedgerSheet]:
    """Every ledger sheet of a CSV or XLSX file, ``chunk_rows`` rows at a time, in file order. Chunks of one sheet
    share its ``name``, ``kind`` and ``columns``; its ``unknown_headers`` come with the first chunk and its
    ``skipped_rows`` with the chunk they fell in. A file with no ledger raises :class:`LedgerFormatError` (after
    the sheets that hold none have been read through)."""
    p = Path(path)
    if not p.exists():
        raise LedgerFormatError("error.file_not_found", file=str(p))
    found_any = False
    for name, rows in _tables(p):
        header_rows: list[list[Any]] = []
        found = None
        for header in rows:  # a title row or two may stand above the header
            header_rows.append(header)
            det = _detect(header, kind)
            if det and len(det[1]) >= 2:
                found = det
                break
            if len(header_rows) >= 10:
                break
        if found is None:
            continue
        found_any = True
        k, mapping = found
        header = header_rows[-1]
        missing = [f for f in REQUIRED[k] if f not in mapping.values()]
        if k == "incidents" and not (
            {"lon", "lat"} <= set(mapping.values()) or {"road", "stake"} <= set(mapping.values())
        ):
            missing.append("lon/lat | road/stake")
        if missing:
            raise LedgerFormatError(
                "error.ledger_missing_columns", sheet=name or p.name, kind=k, columns=", ".join(missing)
            )
        columns = {f: str(header[i]).strip() for i, f in mapping.items()}
        unknown = [str(h) for i, h in enumerate(header) if i not in mapping and h not in (None, "")]
        yield from _chunks(name, k, columns, unknown, mapping, rows, len(header_rows) + 1, chunk_rows)
    if not found_any:
        raise LedgerFormatError("error.ledger_no_sheet", file=p.name)


def _chunks(name: str | None, kind: str, columns: dict[str, str], unknown: list[str], mapping: dict[int, str],
            rows: Iterable[list[Any]], first_row: int, chunk_rows: int) -> Iterator[LedgerSheet]:
    items = list(mapping.items())
    chunk = LedgerSheet(name=name, kind=kind, columns=columns, unknown_headers=unknown)
    for ri, r in enumerate(rows, start=first_row):
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in r):
            continue  # blank line
        if any(isinstance(v, str) and v.strip() in _TOTALS for v in r):
            chunk.skipped_rows.append(ri)  # a totals row under the table, not a record
            continue
        n = len(r)
        chunk.rows.append(LedgerRow(ri, {f: (r[i] if i < n else None) for i, f in items}))
        if len(chunk.rows) >= chunk_rows:
            yield chunk
            chunk = LedgerSheet(name=name, kind=kind, columns=columns)
    yield chunk


def file_sha256(path: str | Path) -> str:
    """The file's SHA-256, read block by block."""
    import hashlib

    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


__all__ = ["CHUNK_ROWS", "file_sha256", "iter_ledger"]
