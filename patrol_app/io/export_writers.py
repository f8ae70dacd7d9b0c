"""The writers of an export: CSV (UTF-8 with BOM), XLSX, GeoJSON, GeoPackage, KML, KMZ and zipped Shapefile.

Each takes a stream of chunks (:data:`~patrol_app.io.export_columns.Columns`, already masked) and writes the
columns of :mod:`patrol_app.io.export_columns` chunk by chunk, so a 100k-row export holds one chunk in memory.
GeoPackage and Shapefile go through GDAL's Arrow stream writer; XLSX through a small streaming writer of its own
(see ``XlsxStream``). No database access here except the road network for patrol geometry (:class:`Geometry`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Self
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from patrol_app import clock
from patrol_app.domain.catalog import CATALOG, kml_color
from patrol_app.i18n import t
from patrol_app.io.export_columns import EMPTY, Columns, Labels, ViewColumn, gis_view, people_view

XLSX_MAX_ROWS = 1_048_575  # data rows per sheet below the header; more continue on the next sheet


def _day(v: str | None) -> str:
    return v[:10] if v else ""


#: a patrol's line: (county, road codes)
Key = tuple[str, tuple[str, ...]]


class Geometry:
    """Each patrol's geometry (the lines of its roads), as shapely, WKB, GeoJSON and KML, cached per road list."""

    def __init__(self, session: Session, kind: str) -> None:
        self._session = session if kind == "patrols" else None
        self._nets: dict[str, Any] = {}
        self._routes: dict[tuple[str, str], list[Any]] = {}
        self._shape: dict[Key, Any] = {}
        self._wkb: dict[Key, bytes | None] = {}
        self._json: dict[Key, str] = {}
        self._kml: dict[Key, str] = {}

    def _net(self, county: str) -> Any:
        """The road network of ``county`` (route codes are unique only within a county), or None."""
        if county not in self._nets:
            from patrol_app.services.errors import ServiceError
            from patrol_app.services.roads import network

            try:
                self._nets[county] = network(self._session, county) if self._session is not None else None
            except ServiceError:
                self._nets[county] = None
        return self._nets[county]

    def _route_lines(self, county: str, code: str) -> list[Any]:
        if (county, code) not in self._routes:
            net = self._net(county)
            lines = []
            if net is not None and code in net.routes:
                lines = list(net.route_geometry_wgs84(code).geoms)
            self._routes[(county, code)] = lines
        return self._routes[(county, code)]

    def shape(self, roads: Key) -> Any:
        from shapely.geometry import MultiLineString

        if roads not in self._shape:
            county, codes = roads
            lines = [ln for c in codes for ln in self._route_lines(county, c)]
            self._shape[roads] = MultiLineString(lines) if lines else None
        return self._shape[roads]

    def wkb(self, roads: Key) -> bytes | None:
        if roads not in self._wkb:
            g = self.shape(roads)
            self._wkb[roads] = None if g is None else g.wkb
        return self._wkb[roads]

    def geojson(self, roads: Key) -> str:
        if roads not in self._json:
            g = self.shape(roads)
            self._json[roads] = (
                "null"
                if g is None
                else json.dumps(
                    {
                        "type": "MultiLineString",
                        "coordinates": [[list(p) for p in ln.coords] for ln in g.geoms],
                    }
                )
            )
        return self._json[roads]

    def kml(self, roads: Key) -> str:
        if roads not in self._kml:
            g = self.shape(roads)
            if g is None:
                self._kml[roads] = ""
            else:
                parts = "".join(
                    "<LineString><tessellate>1</tessellate><coordinates>"
                    + " ".join(f"{x!r},{y!r}" for x, y, *_ in ln.coords)
                    + "</coordinates></LineString>"
                    for ln in g.geoms
                )
                self._kml[roads] = f"<MultiGeometry>{parts}</MultiGeometry>"
        return self._kml[roads]


# --- writers -----------------------------------------------------------------------------------------------

#: XML text: escape markup characters and drop the control characters XML 1.0 forbids (only texts that need it).
_XML = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        **{chr(i): None for i in range(32) if i not in (9, 10, 13)},
    }
)


_XML_SPECIAL = re.compile(r'[&<>"\x00-\x08\x0b\x0c\x0e-\x1f]')


def _xml(v: Any) -> str:
    s = "" if v is None else str(v)
    return s.translate(_XML) if _XML_SPECIAL.search(s) else s


def _xml_column(values: list[Any]) -> list[str]:
    """A column of texts escaped for XML; a value that repeats (types, towns, roads …) is escaped once."""
    cache: dict[Any, str] = {}
    out: list[str] = []
    append = out.append
    for v in values:
        e = cache.get(v)
        if e is None:
            e = _xml(v)
            if len(cache) < 10_000:
                cache[v] = e
        append(e)
    return out


def _text_column(kind: str, values: list[Any]) -> list[str]:
    """A view column as XML text by its kind (KML values)."""
    if kind == "float":
        return ["" if v is None else repr(v) for v in values]
    if kind == "int":
        return ["" if v is None else str(v) for v in values]
    if kind == "bool":
        return ["" if v is None else "1" if v else "0" for v in values]
    return _xml_column(values)


class Writer:
    """One export: the chunk stream, the language's labels and the patrol geometry cache."""

    def __init__(self, kind: str, chunks: Iterator[Columns], lang: str, geo: Geometry) -> None:
        self.kind, self.chunks, self.lang, self.geo = kind, chunks, lang, geo
        self.labels = Labels(lang)

    def csv(self, path: Path) -> int:
        n = 0
        with path.open("w", encoding="utf-8-sig", newline="") as fh:  # the BOM makes Excel and WPS read UTF-8
            w = csv.writer(fh)
            header = None
            for c in self.chunks:
                view = people_view(self.kind, c, self.labels)
                if header is None:
                    header = [t(k, self.lang) for k, _, _ in view]
                    w.writerow(header)
                w.writerows(zip(*(vals for _, _, vals in view)))
                n += len(c["id"])
            if header is None:
                w.writerow([t(k, self.lang) for k, _, _ in people_view(self.kind, EMPTY, self.labels)])
        return n

    def xlsx(self, path: Path) -> int:
        title = t("export.sheet." + self.kind, self.lang)
        headers = [t(k, self.lang) for k, _, _ in people_view(self.kind, EMPTY, self.labels)]
        n = 0
        with XlsxStream(path, title, headers) as book:
            for c in self.chunks:
                book.write(people_view(self.kind, c, self.labels))
                n += len(c["id"])
        return n

    def geojson(self, path: Path) -> int:
        n = 0
        with path.open("w", encoding="utf-8") as fh:
            fh.write('{"type":"FeatureCollection","name":' + json.dumps(self.kind) + ',"features":[\n')
            for c in self.chunks:
                view = gis_view(self.kind, c, self.labels)
                names = [name for name, _, _ in view]
                if self.kind == "incidents":
                    geoms = [
                        f'{{"type":"Point","coordinates":[{x!r},{y!r}]}}' for x, y in zip(c["lon"], c["lat"])
                    ]
                else:
                    geoms = [self.geo.geojson(k) for k in zip(c["adcode"], c["roads"])]
                dumps = json.JSONEncoder(ensure_ascii=False).encode
                feats = [
                    f'{{"type":"Feature","id":{fid},"properties":{dumps(dict(zip(names, row)))},'
                    f'"geometry":{g}}}'
                    for fid, g, row in zip(c["id"], geoms, zip(*(vals for _, _, vals in view)))
                ]
                fh.write((",\n" if n else "") + ",\n".join(feats))
                n += len(feats)
            fh.write("\n]}\n")
        return n

    def ogr(self, path: Path, driver: str) -> int:
        """GeoPackage or Shapefile through GDAL's Arrow stream writer: one open dataset, chunks streamed in."""
        import pyarrow as pa
        import pyogrio
        import shapely

        types = {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "str": pa.string()}
        fields = [(name, types[k]) for name, k, _ in gis_view(self.kind, EMPTY, self.labels)]
        schema = pa.schema(fields + [("geometry", pa.binary())])
        count = [0]

        def batches() -> Iterator[Any]:
            for c in self.chunks:
                view = gis_view(self.kind, c, self.labels)
                wkb: object  # the WKB of each row: an array of bytes, or a list
                if self.kind == "incidents":
                    wkb = shapely.to_wkb(shapely.points(c["lon"], c["lat"]))
                else:
                    wkb = [self.geo.wkb(k) for k in zip(c["adcode"], c["roads"])]
                arrays = [pa.array(vals, type=typ) for (_, _, vals), (_, typ) in zip(view, fields)]
                count[0] += len(c["id"])
                yield pa.record_batch(arrays + [pa.array(wkb, type=pa.binary())], schema=schema)

        opts: dict[str, Any] = {"layer": self.kind} if driver == "GPKG" else {"encoding": "UTF-8"}
        pyogrio.write_arrow(
            pa.RecordBatchReader.from_batches(schema, batches()),
            path,
            driver=driver,
            geometry_name="geometry",
            crs="EPSG:4326",
            geometry_type="Point" if self.kind == "incidents" else "MultiLineString",
            **opts,
        )
        return count[0]

    def shp_zip(self, path: Path) -> int:
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            n = self.ogr(Path(tmp) / f"{self.kind}.shp", "ESRI Shapefile")
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                for part in sorted(Path(tmp).iterdir()):
                    zf.write(part, part.name)
        return n

    def kml_to(self, fh: IO[str]) -> int:
        tz = clock.tz()
        fh.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<kml xmlns="http://www.opengis.net/kml/2.2">\n<Document>\n'
        )
        fh.write(f"<name>{_xml(t('export.sheet.' + self.kind, self.lang))}</name>\n")
        for code, color in _KML_COLORS.items():
            fh.write(
                f'<Style id="{code}"><IconStyle><color>{color}</color><scale>0.8</scale></IconStyle></Style>\n'
            )
        fh.write(
            '<Style id="patrol"><LineStyle><color>ffbf5f1f</color><width>3</width></LineStyle></Style>\n'
        )
        fh.write(f"<Folder><name>{self.kind}</name>\n")
        offset = _utc_offset(tz)
        n = 0
        template = None
        for c in self.chunks:
            view = gis_view(self.kind, c, self.labels)
            if (
                template is None
            ):  # KML readers keep "id" for the placemark's own id: the record's is record_id
                data = "".join(
                    f'<Data name="{"record_id" if name == "id" else name}"><value>{{{j}}}</value></Data>'
                    for j, (name, _, _) in enumerate(view)
                )
                k = len(view)
                template = (
                    f'<Placemark id="{self.kind[:-1]}-{{0}}"><name>{{{k}}}</name>{{{k + 1}}}'
                    f"<ExtendedData>{data}</ExtendedData>{{{k + 2}}}</Placemark>\n"
                )
            cols = [_text_column(kind, vals) for _, kind, vals in view]
            if self.kind == "incidents":
                type_names = next(vals for name, _, vals in view if name == "type_name")
                names = [
                    _xml(f"{lb} {road} {stake}")
                    for lb, road, stake in zip(type_names, c["road_code"], c["stake"])
                ]
                extra = [
                    f"<TimeStamp><when>{_kml_when(v, offset)}</when></TimeStamp><styleUrl>#"
                    f"{code if code in _KML_COLORS else 'other'}</styleUrl>"
                    for v, code in zip(c["found_at"], c["type_code"])
                ]
                geoms = [
                    f"<Point><coordinates>{x!r},{y!r}</coordinates></Point>"
                    for x, y in zip(c["lon"], c["lat"])
                ]
            else:
                names = [_xml(f"{_day(d)} {'、'.join(r)}") for d, r in zip(c["date"], c["roads"])]
                extra = [
                    f"<TimeStamp><when>{_day(d)}</when></TimeStamp><styleUrl>#patrol</styleUrl>"
                    for d in c["date"]
                ]
                geoms = [self.geo.kml(k) for k in zip(c["adcode"], c["roads"])]
            fh.write("".join(template.format(*row) for row in zip(*cols, names, extra, geoms)))
            n += len(c["id"])
        fh.write("</Folder>\n</Document>\n</kml>\n")
        return n

    def kml(self, path: Path) -> int:
        with path.open("w", encoding="utf-8") as fh:
            return self.kml_to(fh)

    def kmz(self, path: Path) -> int:
        # no zip64 entry: KMZ readers (libkml's minizip) refuse it; a KML over 2 GB is out of reach anyway
        with (
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
            zf.open("doc.kml", "w") as raw,
        ):
            fh = io.TextIOWrapper(raw, encoding="utf-8")
            n = self.kml_to(fh)
            fh.flush()
            fh.detach()
        return n


_KML_COLORS = {v.code: kml_color(v.color) for v in CATALOG}  # the catalog's colours, as the map shows them


def _utc_offset(tz: ZoneInfo) -> Callable[[str], str]:
    cache: dict[str, str] = {}

    def offset(day: str) -> str:
        if day not in cache:
            d = dt.datetime.fromisoformat(day + "T12:00").replace(tzinfo=tz)
            cache[day] = d.isoformat()[-6:]
        return cache[day]

    return offset


def _kml_when(v: str | None, offset: Callable[[str], str]) -> str:
    """``2021-03-05T09:30:00+08:00`` from the stored local text (the offset of that day in ``PATROL_TZ``)."""
    if not v:
        return ""
    return f"{v[:10]}T{v[11:19] or '00:00:00'}{offset(v[:10])}"


# --- a streaming XLSX writer ---------------------------------------------------------------------------------
# xlsxwriter spends ~15 µs per cell even in constant_memory mode (> 30 s for 100k incidents × 22 columns);
# this writes the sheet XML straight into the zip, a chunk of rows at a time: inline strings, no shared-string
# table, real Excel dates, a bold frozen header. Excel, WPS, LibreOffice and openpyxl read it.

_XLSX_EPOCH = dt.date(1899, 12, 30)
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "{sheets}</Types>"
)
_SHEET_TYPE = (
    '<Override PartName="/xl/worksheets/sheet{n}.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
)
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFDDE4EE"/><bgColor indexed="64"/></patternFill></fill>'
    '</fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>'
)
_SHEET_HEAD = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
    'state="frozen"/></sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>'
)
_SHEET_TAIL = "</sheetData></worksheet>"


def _col_letter(j: int) -> str:
    s = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s


class XlsxStream:
    """Rows go straight into ``xl/worksheets/sheetN.xml`` inside the zip; more than ``XLSX_MAX_ROWS`` rows
    continue on the next sheet."""

    def __init__(self, path: Path, title: str, headers: list[str]) -> None:
        self.path, self.title, self.headers = path, title, headers
        self.letters = [_col_letter(j) for j in range(len(headers))]
        self.zf = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        self.sheets: list[str] = []
        self.fh: Any = None
        self.row = 0
        self._days: dict[str, int] = {}

    def __enter__(self) -> Self:
        self._new_sheet()
        return self

    def _new_sheet(self) -> None:
        self._close_sheet()
        n = len(self.sheets) + 1
        self.sheets.append(self.title if n == 1 else f"{self.title}({n})")
        # the zip's own level (1: fast) and no zip64 entry (some readers refuse it): a sheet stays below 2 GB
        self.fh = io.TextIOWrapper(self.zf.open(f"xl/worksheets/sheet{n}.xml", "w"), encoding="utf-8")
        widths = "".join(
            f'<col min="{j + 1}" max="{j + 1}" width="{max(10, min(40, 2 * len(h) + 4))}" customWidth="1"/>'
            for j, h in enumerate(self.headers)
        )
        self.fh.write(_SHEET_HEAD.format(cols=widths))
        cells = "".join(
            f'<c r="{L}1" s="3" t="inlineStr"><is><t>{_xml(h)}</t></is></c>'
            for L, h in zip(self.letters, self.headers)
        )
        self.fh.write(f'<row r="1">{cells}</row>')
        self.row = 1

    def _close_sheet(self) -> None:
        if self.fh is not None:
            self.fh.write(_SHEET_TAIL)
            self.fh.close()
            self.fh = None

    def _serial(self, text: str, with_time: bool) -> str:
        day = text[:10]
        n = self._days.get(day)
        if n is None:
            n = self._days[day] = (dt.date.fromisoformat(day) - _XLSX_EPOCH).days
        if with_time and len(text) >= 16:
            return repr(n + (int(text[11:13]) * 60 + int(text[14:16])) / 1440)
        return str(n)

    def _cells(self, letter: str, kind: str, values: list[Any], rows: range) -> list[str]:
        if kind == "str":
            return [
                f'<c r="{letter}{r}" t="inlineStr"><is><t>{v}</t></is></c>' if v else ""
                for r, v in zip(rows, _xml_column(values))
            ]
        if kind in ("date", "datetime"):
            style = "1" if kind == "datetime" else "2"
            return [
                f'<c r="{letter}{r}" s="{style}"><v>{self._serial(v, kind == "datetime")}</v></c>'
                if v
                else ""
                for r, v in zip(rows, values)
            ]
        return [f'<c r="{letter}{r}"><v>{v!r}</v></c>' if v is not None else "" for r, v in zip(rows, values)]

    def write(self, view: list[ViewColumn]) -> None:
        total = len(view[0][2]) if view else 0
        start = 0
        while start < total:
            if self.row >= XLSX_MAX_ROWS + 1:
                self._new_sheet()
            take = min(total - start, XLSX_MAX_ROWS + 1 - self.row)
            rows = range(self.row + 1, self.row + 1 + take)
            cols = [
                self._cells(L, kind, vals[start : start + take], rows)
                for L, (_, kind, vals) in zip(self.letters, view)
            ]
            self.fh.write(
                "".join(f'<row r="{r}">{"".join(cells)}</row>' for r, cells in zip(rows, zip(*cols)))
            )
            self.row += take
            start += take

    def __exit__(self, *exc: object) -> None:
        self._close_sheet()
        try:
            if exc[0] is None:
                self._finish()
        finally:
            self.zf.close()

    def _finish(self) -> None:
        sheets = "".join(
            f'<sheet name="{_xml(name)}" sheetId="{i}" r:id="rId{i}"/>'
            for i, name in enumerate(self.sheets, start=1)
        )
        self.zf.writestr(
            "[Content_Types].xml",
            _CONTENT_TYPES.format(
                sheets="".join(_SHEET_TYPE.format(n=i) for i in range(1, len(self.sheets) + 1))
            ),
        )
        self.zf.writestr("_rels/.rels", _ROOT_RELS)
        self.zf.writestr(
            "xl/workbook.xml",
            (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                f"<sheets>{sheets}</sheets></workbook>"
            ),
        )
        rels = "".join(
            f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
            f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(self.sheets) + 1)
        )
        rels += (
            f'<Relationship Id="rId{len(self.sheets) + 1}" Type="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships/styles" Target="styles.xml"/>'
        )
        self.zf.writestr(
            "xl/_rels/workbook.xml.rels",
            (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                f"{rels}</Relationships>"
            ),
        )
        self.zf.writestr("xl/styles.xml", _STYLES)
