"""The columns of an export, named once: one table per record kind drives every writer.

Each :class:`Col` says what a column is called for people (a catalog key, so a zh and an en header: the
ledger's headers that ``patrol import`` recognises) and for GIS (a short English field name, ≤ 10 characters so
the Shapefile needs no truncation), how its values are read from a chunk of database columns, and how they are
masked for a reader whose role does not hold ``Perm.VIEW_PARTY``. CSV and XLSX take :func:`people_view`;
GeoJSON, GeoPackage, Shapefile and KML take :func:`gis_view`. :mod:`patrol_app.domain.masking` is the one place
that masks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from patrol_app.domain.catalog import BY_CODE
from patrol_app.domain.masking import mask_name, mask_phone, mask_text
from patrol_app.i18n import t
from patrol_app.io.cells import neutralise_column

#: a chunk of records: database column key → values
Columns = dict[str, list[Any]]
#: a view column: (catalog header key or GIS field name, value kind, values).
#: Kinds: str, int, float, bool, date, datetime
ViewColumn = tuple[str, str, list[Any]]


class Labels:
    """The display words of one export's language, looked up once."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self.types = {c: v.name(lang) for c, v in BY_CODE.items()}
        self.sides = {s: t("side." + s, lang) for s in ("left", "right")}
        self.zones = {
            z: t("zone." + z, lang) for z in ("road_land", "control_zone", "outside", "none", "unknown")
        }
        self.statuses = {s: t("export.status." + s, lang) for s in ("open", "closed")}
        # no internal code reaches an export: how a point was located and where a record came from, in words
        self.methods = {
            m: t("export.method." + m, lang)
            for m in ("gps", "map", "stake", "lonlat", "ledger", "demo", "app")
        }
        self.sources = {m: t("export.source." + m, lang) for m in ("app", "ledger", "demo")}
        self._none_special = t("zone.none_special", lang)
        self.yes, self.no = t("export.yes", lang), t("export.no", lang)
        self._measures: dict[str, str] = {"": ""}

    def zone(self, z: str | None, road_code: str | None) -> str:
        if z == "none" and (road_code or "").startswith("Z"):  # special-purpose roads (专用公路)
            return self._none_special
        return self.zones.get(z or "", z or "")

    def flags(self, v: str | None) -> str:
        return "；".join(t("export.flag." + f, self.lang) for f in (v or "").split(",") if f)

    def measure(self, m: str | None) -> str:
        m = m or ""
        if m not in self._measures:
            try:
                self._measures[m] = t("report.measure." + m, self.lang)
            except KeyError:
                self._measures[m] = m
        return self._measures[m]


Getter = Callable[[Columns, Labels], list[Any]]


@dataclass(frozen=True)
class Col:
    """One export column."""

    header: str | None  # people's header: catalog key ``export.col.<header>``; None: in GIS files only
    field: str | None  # GIS field name; None: in people's files only
    kind: str  # the people's value kind
    get: Getter  # the people's values from a chunk
    gis: Getter | None = None  # the GIS values, where they differ (codes as stored, not words)
    gis_kind: str | None = None  # the GIS kind, where it differs (dates are text in GIS files)
    source: str | None = None  # the chunk column that ``mask`` replaces
    mask: Callable[[Columns], list[Any]] | None = None  # ``source`` as a reader without VIEW_PARTY sees it

    def gis_kind_(self) -> str:
        if self.gis_kind:
            return self.gis_kind
        return "str" if self.kind in ("date", "datetime") else self.kind


def _minutes(v: str | None) -> str:
    return v[:16] if v else ""


def _day(v: str | None) -> str:
    return v[:10] if v else ""


def _raw(key: str) -> Getter:
    return lambda c, lb: c[key]


def _text(key: str) -> Getter:
    return lambda c, lb: ["" if v is None else v for v in c[key]]


def _days(key: str) -> Getter:
    return lambda c, lb: [_day(v) for v in c[key]]


def _words(key: str, table: str) -> Getter:
    """Codes shown as words of the export's language (``table``: a :class:`Labels` dict)."""
    return lambda c, lb: [getattr(lb, table).get(v, v or "") for v in c[key]]


_type_names: Getter = lambda c, lb: [lb.types.get(v, v) for v in c["type_code"]]
_zone_words: Getter = lambda c, lb: [lb.zone(v, r) for v, r in zip(c["zone"], c["road_code"])]
_source_words = _words("source", "sources")

INCIDENT_COLS: tuple[Col, ...] = (
    Col("id", "id", "int", _raw("id")),
    Col("found_at", "found_at", "datetime", lambda c, lb: [_minutes(v) for v in c["found_at"]]),
    Col("type", "type", "str", _type_names, gis=_raw("type_code")),
    Col(None, "type_name", "str", _type_names),
    Col("road_code", "road_code", "str", _raw("road_code")),
    Col("stake", "stake", "str", _raw("stake")),
    Col(None, "chainage_m", "float", _raw("chainage_m")),
    Col("side", "side", "str", _words("side", "sides")),
    Col("offset_m", "offset_m", "float", _raw("offset_m")),
    Col("lon", None, "float", _raw("lon")),
    Col("lat", None, "float", _raw("lat")),
    Col("zone", "zone", "str", _zone_words),
    Col(  # from the verdict: road land is not the control zone
        "in_control_zone",
        "in_zone",
        "str",
        lambda c, lb: ["" if z == "unknown" else lb.yes if z == "control_zone" else lb.no for z in c["zone"]],
        gis=lambda c, lb: [None if z == "unknown" else z == "control_zone" for z in c["zone"]],
        gis_kind="bool",
    ),
    Col("town", "town", "str", _text("town")),
    Col(
        "description",
        "descr",
        "str",
        _text("description"),
        source="description",
        mask=lambda c: [mask_text(d, p) for d, p in zip(c["description"], c["party"])],
    ),
    Col(
        "party",
        "party",
        "str",
        _text("party"),
        source="party",
        mask=lambda c: list(map(mask_name, c["party"])),
    ),
    Col(
        "party_phone",
        "phone",
        "str",
        _text("party_phone"),
        source="party_phone",
        mask=lambda c: list(map(mask_phone, c["party_phone"])),
    ),
    Col("measure", "measure", "str", lambda c, lb: [lb.measure(v) for v in c["measure"]]),
    Col("deadline", "deadline", "date", _days("deadline")),
    Col("status", "status", "str", lambda c, lb: [lb.statuses.get(v, v) for v in c["status"]]),
    Col("closed_at", "closed_at", "date", _days("closed_at")),
    Col("patrol_id", "patrol_id", "int", _raw("patrol_id")),
    Col("location_method", "loc_method", "str", _words("location_method", "methods")),
    Col("source", "source", "str", _source_words),
)

PATROL_COLS: tuple[Col, ...] = (
    Col("id", "id", "int", _raw("id")),
    Col("date", "date", "date", _days("date")),
    # not start/end: KML readers take "end" for a TimeSpan field
    Col("start_time", "start_time", "str", _text("start_time")),
    Col("end_time", "end_time", "str", _text("end_time")),
    Col(
        "roads",
        "roads",
        "str",
        lambda c, lb: ["、".join(r) for r in c["roads"]],
        gis=lambda c, lb: [",".join(r) for r in c["roads"]],
    ),
    Col("vehicles", "vehicles", "int", _raw("vehicles")),
    Col("personnel", "personnel", "int", _raw("personnel")),
    Col("km", "km", "float", _raw("km")),
    Col("crew", "crew", "str", _text("crew")),
    Col("joint", "joint", "str", _text("joint")),
    Col("weather", "weather", "str", _text("weather")),
    Col("notes", "notes", "str", _text("notes")),
    Col("source", "source", "str", _source_words),
    Col("flags", "flags", "str", lambda c, lb: [lb.flags(v) for v in c["flags"]]),
)

COLS = {"incidents": INCIDENT_COLS, "patrols": PATROL_COLS}

#: a chunk without rows (for the header of an empty export)
EMPTY: Columns = defaultdict(list)


def mask_parties(kind: str, c: Columns) -> Columns:
    """``c`` as a reader without ``Perm.VIEW_PARTY`` sees it (every masked value from the unmasked chunk)."""
    masked = {col.source: col.mask(c) for col in COLS[kind] if col.mask and col.source}
    return {**c, **masked}


def people_view(kind: str, c: Columns, lb: Labels) -> list[ViewColumn]:
    """CSV/XLSX columns: catalog header keys, values in the export's language (the ledger's headers). Text
    cells that a spreadsheet could run as a formula are neutralised (:mod:`patrol_app.io.cells`)."""
    out = []
    for col in COLS[kind]:
        if col.header is None:
            continue
        vals = col.get(c, lb)
        out.append(
            ("export.col." + col.header, col.kind, neutralise_column(vals) if col.kind == "str" else vals)
        )
    return out


def gis_view(kind: str, c: Columns, lb: Labels) -> list[ViewColumn]:
    """GIS fields: short English names (≤ 10 characters), codes as stored."""
    return [
        (col.field, col.gis_kind_(), (col.gis or col.get)(c, lb))
        for col in COLS[kind]
        if col.field is not None
    ]
