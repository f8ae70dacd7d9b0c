"""Data exports of incidents and patrols for any filter: CSV (UTF-8 with BOM), XLSX, GeoJSON, GeoPackage, KML,
KMZ and zipped Shapefile. This module is the export service: which records (the filter and the database reads),
who may (``Perm.EXPORT``; parties masked without ``Perm.VIEW_PARTY``) and the audit entry. What the columns are
is :mod:`patrol_app.io.export_columns` (one table for every format); how each format is written is
:mod:`patrol_app.io.export_writers`.

Everything streams: rows come from the database in chunks of plain Core rows (``yield_per`` partitions, never
ORM objects), are turned into columns, converted column by column and written chunk by chunk, so a 100k-row
export holds one chunk (``CHUNK`` rows) in memory.

- CSV and XLSX are for people: headers and values in the user's language. The Chinese headers are the ledger
  headers that ``patrol import`` recognises, so an export can be read back as a ledger.
- GeoJSON, GeoPackage, Shapefile and KML are for GIS: one schema of short English field names (≤ 10 characters,
  so the Shapefile needs no truncation), codes as stored plus a ``type_name``; WGS-84 (EPSG:4326). Incidents are
  points; patrols are the lines of the roads they patrolled (empty geometry when no road is in the network).
  In KML the record number is ``record_id`` (KML readers keep ``id`` for the placemark's own id).
- Parties' names and phone numbers are masked (王某某 → 王**, 13812345678 → 138****5678) unless the acting user's
  role holds ``Perm.VIEW_PARTY``; :mod:`patrol_app.domain.masking` is the one place that masks.

A failed export leaves nothing at ``out`` (files are written beside it and moved into place at the end).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Select, String, cast, func, select
from sqlalchemy.orm import Session

from patrol_app.domain.masking import can_see_parties, mask_name, mask_phone, mask_text  # noqa: F401
from patrol_app.domain.rules import Perm
from patrol_app.i18n import t
from patrol_app.io.export_columns import Columns, mask_parties
from patrol_app.io.export_writers import Geometry, Writer
from patrol_app.services.record_filter import RecordFilter
from patrol_app.services.users import require
from patrol_app.storage.models import Incident, Patrol, PatrolRoad, User

KINDS = ("incidents", "patrols")
FORMATS = ("csv", "xlsx", "geojson", "gpkg", "kml", "kmz", "shp")
#: File name suffix per format (a Shapefile travels as a zip of its .shp/.shx/.dbf/.prj/.cpg).
SUFFIX = {
    "csv": ".csv",
    "xlsx": ".xlsx",
    "geojson": ".geojson",
    "gpkg": ".gpkg",
    "kml": ".kml",
    "kmz": ".kmz",
    "shp": ".zip",
}
MIME = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
    "gpkg": "application/geopackage+sqlite3",
    "kml": "application/vnd.google-earth.kml+xml",
    "kmz": "application/vnd.google-earth.kmz",
    "shp": "application/zip",
}
CHUNK = 5000


# --- masking: patrol_app.domain.masking is the one place --------------------------------------------------

# can_see_parties, mask_name, mask_phone and mask_text are imported above and stay importable from here.


# --- filters ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportFilter(RecordFilter):
    """Which records: the one record filter (``patrol_app.services.record_filter``); ``status`` is one status
    (the command line's ``--status``), the same as ``statuses=(status,)``."""

    status: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.status and self.status not in self.statuses:
            object.__setattr__(self, "statuses", (*self.statuses, self.status))

    def audit_dict(self) -> dict[str, Any]:
        d = super().audit_dict()
        if self.status and d.get("statuses") == [self.status]:
            del d["statuses"]
        return d


def _incident_where(stmt: Select, f: RecordFilter) -> Select:
    return stmt.where(*f.incident_conditions())


def _patrol_where(stmt: Select, f: RecordFilter) -> Select:
    return stmt.where(*f.patrol_conditions())


# --- records: columns of plain values, read from the database a chunk at a time --------------------------


def _as_text(col: Any) -> Any:
    """A date/datetime column read as its ISO text (no per-row parsing into Python datetimes and back)."""
    return cast(col, String).label(col.key)


INCIDENT_COLUMNS = (
    Incident.id,
    _as_text(Incident.found_at),
    Incident.type_code,
    Incident.road_code,
    Incident.stake,
    Incident.chainage_m,
    Incident.side,
    Incident.offset_m,
    Incident.lon,
    Incident.lat,
    Incident.zone,
    Incident.in_control_zone,
    Incident.town,
    Incident.description,
    Incident.party,
    Incident.party_phone,
    Incident.measure,
    _as_text(Incident.deadline),
    Incident.status,
    _as_text(Incident.closed_at),
    Incident.patrol_id,
    Incident.location_method,
    Incident.source,
)
PATROL_COLUMNS = (
    Patrol.id,
    _as_text(Patrol.date),
    Patrol.start_time,
    Patrol.end_time,
    Patrol.vehicles,
    Patrol.personnel,
    Patrol.km,
    Patrol.crew,
    Patrol.joint,
    Patrol.weather,
    Patrol.notes,
    Patrol.source,
    Patrol.flags,
    Patrol.adcode,  # whose roads the patrol's line is drawn on (route codes repeat between counties)
)


def count(session: Session, actor: User, kind: str, flt: RecordFilter = ExportFilter()) -> int:
    """How many records an export with this filter would write."""
    require(actor, Perm.EXPORT)
    flt = flt.for_actor(actor)  # the reader's county (a city or province: its counties)
    if kind == "incidents":
        return int(
            session.execute(_incident_where(select(func.count()).select_from(Incident), flt)).scalar_one()
        )
    return int(session.execute(_patrol_where(select(func.count()).select_from(Patrol), flt)).scalar_one())


def _stream(session: Session, stmt: Select, keys: Sequence[str]) -> Iterator[Columns]:
    """``CHUNK`` rows at a time as columns (Core rows, no ORM objects)."""
    result = session.connection().execute(stmt.execution_options(yield_per=CHUNK))
    for part in result.partitions():
        if part:
            yield dict(zip(keys, (list(c) for c in zip(*part))))


def _incident_chunks(session: Session, flt: RecordFilter, visible: bool) -> Iterator[Columns]:
    """Incidents ordered by time found, ``CHUNK`` at a time, parties masked unless ``visible``."""
    stmt = _incident_where(select(*INCIDENT_COLUMNS), flt).order_by(Incident.found_at, Incident.id)
    for c in _stream(session, stmt, [col.key for col in INCIDENT_COLUMNS]):
        yield c if visible else mask_parties("incidents", c)


def _patrol_chunks(session: Session, flt: RecordFilter) -> Iterator[Columns]:
    """Patrols ordered by date, ``CHUNK`` at a time, with ``roads``: the tuple of road codes of each."""
    stmt = _patrol_where(select(*PATROL_COLUMNS), flt).order_by(Patrol.date, Patrol.id)
    for c in _stream(session, stmt, [col.key for col in PATROL_COLUMNS]):
        roads: dict[int, list[str]] = {}
        for pid, code in session.connection().execute(
            select(PatrolRoad.patrol_id, PatrolRoad.road_code)
            .where(PatrolRoad.patrol_id.in_(c["id"]))
            .order_by(PatrolRoad.patrol_id, PatrolRoad.seq)
        ):
            roads.setdefault(pid, []).append(code)
        c["roads"] = [tuple(roads.get(pid, ())) for pid in c["id"]]
        yield c


# --- entry points ----------------------------------------------------------------------------------------


@dataclass
class ExportResult:
    kind: str
    fmt: str
    rows: int
    path: Path
    masked: bool
    filter: RecordFilter = field(default_factory=ExportFilter)


def export(
    session: Session,
    actor: User,
    kind: str,
    fmt: str,
    out: str | Path,
    flt: RecordFilter = ExportFilter(),
    lang: str = "zh",
    audited: bool = True,
) -> ExportResult:
    """Write ``kind`` (incidents or patrols) matching ``flt`` to ``out`` in ``fmt``. Needs ``Perm.EXPORT``;
    parties are masked unless the actor also holds ``Perm.VIEW_PARTY``. Recorded in the audit trail (who, what,
    filters, rows) unless ``audited`` is False (the app records each download click itself)."""
    require(actor, Perm.EXPORT)
    if kind not in KINDS:
        raise ValueError(f"unknown export kind {kind!r}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}")
    visible = can_see_parties(actor)
    out = Path(out)
    if (
        fmt == "shp" and out.suffix.lower() != ".zip"
    ):  # GIS software opens a zipped Shapefile by its .zip suffix
        out = out.with_suffix(".zip") if out.suffix.lower() == ".shp" else out.with_name(out.name + ".zip")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.{os.getpid()}.part{out.suffix}")  # the suffix tells GDAL the format
    scoped = flt.for_actor(actor)  # the reader's county (a city or province: its counties)
    chunks = (
        _incident_chunks(session, scoped, visible) if kind == "incidents" else _patrol_chunks(session, scoped)
    )
    w = Writer(kind, chunks, lang, Geometry(session, kind))
    try:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if fmt in ("gpkg", "shp"):
            n = w.ogr(tmp, "GPKG") if fmt == "gpkg" else w.shp_zip(tmp)
        else:
            n = getattr(w, fmt)(tmp)
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    if audited:
        from patrol_app.services.audit_log import record_access

        record_access(
            session,
            actor,
            f"export.{kind}",
            "export",
            "",
            after=export_audit(kind, fmt, flt, n, not visible, out.name),
        )
    return ExportResult(kind, fmt, n, out, not visible, flt)


def export_audit(
    kind: str, fmt: str, flt: RecordFilter, rows: int, masked: bool, file: str
) -> dict[str, Any]:
    """What the audit trail records of an export: what, which filters, how many rows, to which file."""
    return {
        "kind": kind,
        "format": fmt,
        "filters": flt.audit_dict(),
        "rows": rows,
        "masked": masked,
        "file": file,
    }


def export_bytes(
    session: Session,
    actor: User,
    kind: str,
    fmt: str,
    flt: RecordFilter = ExportFilter(),
    lang: str = "zh",
    audited: bool = True,
) -> bytes:
    """The export as bytes (for a download button), through a temporary file."""
    tmp = Path(tempfile.mkdtemp(prefix="patrol-export-"))
    try:
        res = export(session, actor, kind, fmt, tmp / f"{kind}{SUFFIX[fmt]}", flt, lang, audited)
        return res.path.read_bytes()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def file_name(kind: str, fmt: str, flt: RecordFilter, lang: str = "zh") -> str:
    """A download name such as ``问题_2021.csv``, ``patrols_2021-03-01_2021-06-30.kmz``."""
    base = t("export.sheet." + kind, lang)
    if (
        flt.date_from
        and flt.date_to
        and (flt.date_from.month, flt.date_from.day, flt.date_to.month, flt.date_to.day) == (1, 1, 12, 31)
        and flt.date_from.year == flt.date_to.year
    ):
        span = str(flt.date_from.year)
    else:
        span = "_".join(d.isoformat() for d in (flt.date_from, flt.date_to) if d)
    return f"{base}_{span}{SUFFIX[fmt]}" if span else f"{base}{SUFFIX[fmt]}"
