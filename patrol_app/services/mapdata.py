"""Managers' incident maps: incidents, charts, road coverage and hotspots — read only, filtered in SQL.

Every function takes the acting user and checks ``Perm.VIEW`` itself. The filters (:class:`MapFilter`) are
applied in the database, so a map of one road in one month never reads the other 99,999 incidents.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import DateTime, Integer, String, case, cast, extract, func, literal_column, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement, SQLColumnExpression

from gis import maps
from gis.maps import Basemap, CoverageRow, HotspotRow, IncidentPoints
from gis.maps.standalone import incident_map_html  # no folium: a third of a second less for ``patrol map``
from gis.roads import RoadNetwork
from patrol_app.district import district
from patrol_app.domain.masking import can_see_parties, mask_text
from patrol_app.domain.rules import Perm
from patrol_app.i18n import catalog, t
from patrol_app.services.errors import ServiceError
from patrol_app.services.record_filter import RecordFilter
from patrol_app.services.roads import invented_network
from patrol_app.services.users import require
from patrol_app.storage.coverage import patrol_road_pairs
from patrol_app.storage.models import AuditHead, Incident, Patrol, Setting, User

__all__ = [
    "DEFAULT_HOTSPOT_MIN_COUNT",
    "DEFAULT_SEGMENT_M",
    "MapCharts",
    "MapFilter",
    "RoadCoverage",
    "basemap_from_env",
    "charts",
    "data_stamp",
    "filter_summary",
    "hotspots",
    "incident_count",
    "incident_points",
    "map_labels",
    "photo_thumbnails",
    "road_coverage",
    "standalone_map_html",
]

#: Hotspot segment length along a road, metres (a stake segment, e.g. K3+000–K3+500).
DEFAULT_SEGMENT_M = 500
#: A segment is a hotspot from this many incidents on.
DEFAULT_HOTSPOT_MIN_COUNT = 3


#: What a map shows: the one record filter (``patrol_app.services.record_filter``).
MapFilter = RecordFilter


# --------------------------------------------------------------------------------------------------------
# Incidents on the map
# --------------------------------------------------------------------------------------------------------


def _where(session: Session, f: MapFilter) -> list[ColumnElement[bool]]:
    """The filter's WHERE terms, written for speed on SQLite.

    A period that keeps most of the table (a year out of two) is faster read by scanning the table in id order
    than by walking the ``found_at`` index and sorting; SQLite, without statistics, always takes the index.
    There the date terms are written on ``+found_at``, which SQLite does not look up in an index. PostgreSQL
    plans with its own statistics and gets the plain terms.
    """
    if session.get_bind().dialect.name != "sqlite" or not (f.date_from or f.date_to):
        return f.incident_conditions()
    decided = session.info.setdefault("mapdata_scan", {})  # one decision per period, county and session
    period = (f.date_from, f.date_to, f.county)
    if period not in decided:
        dates_only = f.dates_only().incident_conditions()
        in_period = session.execute(
            select(func.count()).select_from(Incident).where(*dates_only)
        ).scalar_one()
        total = session.execute(select(func.count()).select_from(Incident)).scalar_one()
        decided[period] = in_period * 4 >= total
    if not decided[period]:
        return f.incident_conditions()
    return f.incident_conditions(
        found_at=literal_column("+incidents.found_at", DateTime()),
        adcode=literal_column("+incidents.adcode", String()),
    )


def data_stamp(session: Session, actor: User) -> str:
    """A value that changes whenever records or the road network change — the cache key of maps and charts.

    Every write through the services appends an audit entry (the audit head's ``last_id``); the largest ids of
    incidents and patrols also catch rows written around the services (bulk loads, benchmarks).
    """
    require(actor, Perm.VIEW)
    head = session.execute(select(AuditHead.last_id).where(AuditHead.id == 1)).scalar_one_or_none()
    version = session.execute(
        select(Setting.value).where(Setting.key == "network_version")
    ).scalar_one_or_none()
    inc = session.execute(select(func.max(Incident.id))).scalar_one_or_none()
    pat = session.execute(select(func.max(Patrol.id))).scalar_one_or_none()
    return f"{version}|{head}|{inc}|{pat}"


def incident_count(session: Session, actor: User, f: MapFilter) -> int:
    require(actor, Perm.VIEW)
    f = f.for_actor(actor)  # the reader's county (a city or province: its counties)
    return int(
        session.execute(
            select(func.count()).select_from(Incident).where(*f.incident_conditions())
        ).scalar_one()
    )


#: Popups carry descriptions up to this many incidents; beyond it the map stays lean (details are
#: one click away in the incident list) and the query skips the column.
DESCRIPTION_ROW_LIMIT = 20_000


def _day_number(session: Session) -> ColumnElement[int]:
    """Days since 1970-01-01 of ``found_at`` (a local wall-clock time), computed in SQL: numbers travel faster
    than 100,000 datetimes or date strings."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(func.julianday(Incident.found_at) - 2440587.5, Integer)
    return cast(func.floor(extract("epoch", Incident.found_at) / 86400.0), Integer)


_POINT_DTYPE = np.dtype(
    [
        ("id", "i8"),
        ("lon", "f8"),
        ("lat", "f8"),
        ("chainage", "f8"),
        ("day", "i8"),
        ("type", "O"),
        ("status", "O"),
        ("road", "O"),
        ("side", "O"),
        ("town", "O"),
    ]
)


def _fetch(session: Session, stmt: Any, dtype: np.dtype) -> np.ndarray:
    """Rows of ``stmt`` as a numpy structured array. On SQLite the statement (its values rendered inline by
    SQLAlchemy, quoted) goes straight to the driver: for 100,000 rows that skips 0.3 s of row objects."""
    if session.get_bind().dialect.name == "sqlite":
        sql = str(stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
        raw = session.connection().connection.driver_connection  # the sqlite3 connection
        assert raw is not None
        rows = raw.execute(sql).fetchall()
    else:
        rows = [tuple(r) for r in session.connection().execute(stmt)]
    return np.array(rows, dtype=dtype)


def incident_points(session: Session, actor: User, f: MapFilter, descriptions: bool = True) -> IncidentPoints:
    """The filtered incidents as columns for :func:`gis.maps.incident_payload`, in id order.

    Descriptions come along while there are at most :data:`DESCRIPTION_ROW_LIMIT` incidents, with parties'
    names and phone numbers masked for roles without ``Perm.VIEW_PARTY``.
    """
    require(actor, Perm.VIEW)
    f = f.for_actor(actor)  # the reader's county (a city or province: its counties)
    where = _where(session, f)
    cols = [
        Incident.id,
        Incident.lon,
        Incident.lat,
        Incident.chainage_m,
        _day_number(session).label("day"),
        Incident.type_code,
        Incident.status,
        Incident.road_code,
        Incident.side,
        Incident.town,
    ]
    a = _fetch(session, select(*cols).where(*where).order_by(Incident.id), _POINT_DTYPE)
    if not len(a):
        return IncidentPoints.empty()
    points = IncidentPoints(
        ids=a["id"],
        lon=a["lon"],
        lat=a["lat"],
        chainage_m=a["chainage"],
        day=a["day"].astype("datetime64[D]"),
        type_code=a["type"],
        status=a["status"],
        road_code=a["road"],
        side=a["side"],
        town=a["town"],
    )
    if descriptions and len(a) <= DESCRIPTION_ROW_LIMIT:
        if can_see_parties(actor):
            texts = dict(
                session.connection().execute(select(Incident.id, Incident.description).where(*where)).all()
            )
        else:  # a party's name or phone written into the description is masked for roles that may not see it
            texts = {
                i: mask_text(d, p)
                for i, d, p in session.connection().execute(
                    select(Incident.id, Incident.description, Incident.party).where(*where)
                )
            }
        points.description = [texts.get(i) or "" for i in points.ids.tolist()]
    points.thumbnails = photo_thumbnails(session, actor, points.ids)
    return points


def photo_thumbnails(
    session: Session, actor: User, incident_ids: Sequence[int] | np.ndarray
) -> dict[int, str]:
    """Incident id → URL of a small thumbnail for the map popups (``gis.maps`` shows one when given).

    Empty for now: the photo store (:mod:`patrol_app.photos`) keeps a thumbnail of every photo, but nothing
    serves photos over HTTP yet, and a standalone map file would need them inlined. Wiring it means a route
    that checks the viewer's session and ``Perm.VIEW`` and serves ``photos.thumbnail_file`` of each incident's
    first photo, in one query for all ``incident_ids``.
    """
    require(actor, Perm.VIEW)
    return {}


# --------------------------------------------------------------------------------------------------------
# Charts
# --------------------------------------------------------------------------------------------------------


@dataclass
class MapCharts:
    """Figures beside the map. Months are ``"YYYY-MM"``; every list is (key, value…) sorted for display."""

    incidents_per_month: list[tuple[str, int]] = field(default_factory=list)
    by_type: list[tuple[str, int]] = field(default_factory=list)
    by_road: list[tuple[str, int]] = field(default_factory=list)
    by_town: list[tuple[str, int]] = field(default_factory=list)
    by_status: list[tuple[str, int]] = field(default_factory=list)
    patrols_per_month: list[tuple[str, int, int, int]] = field(
        default_factory=list
    )  # month, patrols, vehicle
    # trips (台次), person trips (人次)

    @property
    def total(self) -> int:
        return sum(n for _, n in self.by_type)


def _month(y: Any, m: Any) -> str:
    return f"{int(y):04d}-{int(m):02d}"


def charts(session: Session, actor: User, f: MapFilter) -> MapCharts:
    """Incidents per month, type, road, town and status; patrols, vehicle and person trips per month.

    Two passes over the incidents: (year, month, type, status) and (road, town), summed up here.
    """
    require(actor, Perm.VIEW)
    f = f.for_actor(actor)  # the reader's county (a city or province: its counties)
    where = _where(session, f)
    out = MapCharts()
    y, m = extract("year", Incident.found_at), extract("month", Incident.found_at)
    months: dict[str, int] = {}
    by: dict[str, dict[str, int]] = {"type": {}, "status": {}, "road": {}, "town": {}}

    def add(table: dict[str, int], key: Any, n: int) -> None:
        table[str(key or "")] = table.get(str(key or ""), 0) + n

    for a, b, type_code, status, n in session.execute(
        select(y, m, Incident.type_code, Incident.status, func.count())
        .where(*where)
        .group_by(y, m, Incident.type_code, Incident.status)
    ):
        add(months, _month(a, b), n)
        add(by["type"], type_code, n)
        add(by["status"], status, n)
    for road, town, n in session.execute(
        select(Incident.road_code, Incident.town, func.count())
        .where(*where)
        .group_by(Incident.road_code, Incident.town)
    ):
        add(by["road"], road, n)
        add(by["town"], town, n)

    def ranked(table: dict[str, int]) -> list[tuple[str, int]]:
        return sorted(table.items(), key=lambda kv: (-kv[1], kv[0]))

    out.incidents_per_month = sorted(months.items())
    out.by_type, out.by_status = ranked(by["type"]), ranked(by["status"])
    out.by_road, out.by_town = ranked(by["road"]), ranked(by["town"])
    py, pm = extract("year", Patrol.date), extract("month", Patrol.date)
    out.patrols_per_month = [
        (_month(a, b), int(n), int(v or 0), int(p or 0))
        for a, b, n, v, p in session.execute(
            select(py, pm, func.count(), func.sum(Patrol.vehicles), func.sum(Patrol.personnel))
            .where(*f.patrol_conditions())
            .group_by(py, pm)
            .order_by(py, pm)
        )
    ]
    return out


# --------------------------------------------------------------------------------------------------------
# Road coverage and hotspots
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoadCoverage:
    """How many patrols covered a road in the period (0: not patrolled at all)."""

    code: str
    name: str
    road_class: str
    length_km: float
    times: int
    last_date: dt.date | None

    def as_row(self) -> CoverageRow:
        return CoverageRow(self.code, self.times, self.last_date)


def road_coverage(session: Session, actor: User, network: RoadNetwork, f: MapFilter) -> list[RoadCoverage]:
    """Times each road of the network was patrolled in the filter's period (by a patrol's track where it has one,
    else by its declared roads: ``tracks.patrol_road_pairs``), never-patrolled
    roads first, then the least patrolled. Only the filter's roads when it names some."""
    require(actor, Perm.VIEW)
    f = f.for_actor(actor)  # the reader's county (a city or province: its counties)
    period = f.dates_only().patrol_conditions()
    pairs = patrol_road_pairs()  # the roads a patrol's track covered, else those it declared
    rows = session.execute(
        select(pairs.c.road_code, func.count(func.distinct(pairs.c.patrol_id)), func.max(Patrol.date))
        .join(Patrol, Patrol.id == pairs.c.patrol_id)
        .where(*period)
        .group_by(pairs.c.road_code)
    )
    seen = {code: (int(n), last) for code, n, last in rows}
    codes = [c for c in network.codes if not f.roads or c in f.roads]
    out = []
    for code in codes:
        r = network.routes[code]
        times, last = seen.get(code, (0, None))
        if isinstance(last, str):  # an aggregate over a Date column comes back as text on some drivers
            last = dt.date.fromisoformat(last[:10])
        out.append(RoadCoverage(code, r.name, r.road_class, round(r.length_m / 1000.0, 1), times, last))
    out.sort(key=lambda c: (c.times, c.code))
    return out


def _segment_index(session: Session, segment_m: float) -> ColumnElement[int]:
    """floor(chainage_m / segment_m) in SQL. Chainage is never negative (stakes start at K0+000 or
    later), so on SQLite — which has no floor() unless built with its maths functions — a cast to
    integer is the floor."""
    q = Incident.chainage_m / float(segment_m)
    if session.get_bind().dialect.name == "sqlite":
        return cast(q, Integer)
    return cast(func.floor(q), Integer)


def hotspots(
    session: Session,
    actor: User,
    f: MapFilter,
    segment_m: float = DEFAULT_SEGMENT_M,
    min_count: int = DEFAULT_HOTSPOT_MIN_COUNT,
    limit: int = 50,
    network: RoadNetwork | None = None,
) -> list[HotspotRow]:
    """Stake segments of ``segment_m`` metres with at least ``min_count`` incidents, the busiest first.

    One pass in SQL: ``GROUP BY road_code, floor(chainage_m / segment_m), type_code`` with the segment's total
    as a window sum over (road, segment) and ``total >= min_count`` applied in SQL; the main type
    per segment is picked here. Segments are clipped to the road's stake range when the network is given.
    """
    require(actor, Perm.VIEW)
    f = f.for_actor(actor)  # the reader's county (a city or province: its counties)
    if segment_m <= 0:
        raise ValueError("segment_m must be positive")
    k = _segment_index(session, segment_m).label("k")
    n = func.count().label("n")
    road: SQLColumnExpression[str] = Incident.road_code
    if session.get_bind().dialect.name == "sqlite":
        # Without statistics SQLite walks the (road_code, chainage_m) index for this GROUP BY, fetching every
        # row by its id: scanning the table is twice as fast. "+road_code" keeps it off the index.
        road = literal_column("+incidents.road_code", String())
    inner = (
        select(
            road.label("road"),
            k,
            Incident.type_code.label("type"),
            n,
            func.sum(case((Incident.status == "open", 1), else_=0)).label("open_n"),
            func.sum(func.count()).over(partition_by=[road, k]).label("total"),
        )
        .where(*_where(session, f))
        .group_by(road, k, Incident.type_code)
        .subquery()
    )
    rows = session.execute(select(inner).where(inner.c.total >= min_count)).all()
    segments: dict[tuple[str, int], list[Any]] = {}
    for road_code, kk, type_code, cnt, opn, total in rows:
        seg = segments.setdefault((road_code, int(kk)), [int(total), 0, (0, "")])
        seg[1] += int(opn or 0)
        seg[2] = max(seg[2], (int(cnt), type_code))
    ranked = sorted(segments.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
    out = []
    for (code, kk), (total, opn, (_, top_type)) in ranked:
        lo, hi = kk * float(segment_m), (kk + 1) * float(segment_m)
        if network is not None and code in network.routes:
            r = network.routes[code]
            lo, hi = max(lo, r.start_m), min(hi, r.end_m)
        out.append(HotspotRow(code, lo, hi, total, opn, top_type))
    return out


# --------------------------------------------------------------------------------------------------------
# Labels, basemap, filter text, the standalone file
# --------------------------------------------------------------------------------------------------------


def map_labels(lang: str) -> dict[str, str]:
    """Text for :mod:`gis.maps` from the catalogs: every ``map.*`` key without its prefix, plus
    road classes and sides."""
    labels: dict[str, str] = {}
    for key, text in catalog(lang).items():
        if key.startswith("map."):
            labels[key[4:]] = text
        elif key.startswith(("class.", "side.")):
            labels[key] = text
    from patrol_app.domain.catalog import CATALOG  # one name and colour per violation type: the catalog's

    labels.update({"type." + v.code: v.name(lang) for v in CATALOG})
    labels.update({"color.type." + v.code: v.color for v in CATALOG})
    return labels


def basemap_from_env(environ: Mapping[str, str] | None = None) -> Basemap:
    """The basemap configured for this installation.

    ``PATROL_BASEMAP``: ``none`` (default: vector layers only, always draws), ``osm``, ``tianditu`` (key in
    ``PATROL_TIANDITU_KEY``), ``amap`` (GCJ-02: positions converted for display) or an intranet tile URL
    template with ``{z}``/``{x}``/``{y}`` (``PATROL_BASEMAP_GCJ02=1`` when that server serves GCJ-02 tiles).
    """
    env = os.environ if environ is None else environ
    try:
        return maps.basemap(
            env.get("PATROL_BASEMAP"),
            env.get("PATROL_TIANDITU_KEY"),
            gcj02=(env.get("PATROL_BASEMAP_GCJ02") or "").strip().lower() in ("1", "true", "yes"),
        )
    except ValueError as exc:
        raise ServiceError("map.error.basemap", value=env.get("PATROL_BASEMAP", ""), detail=str(exc)) from exc


def filter_summary(f: MapFilter, lang: str) -> str:
    """One line naming the period and filters, e.g. "2025-01-01 至 2025-12-31 · 类型：堆放物品 ·
    路线：X001"."""
    labels = map_labels(lang)
    parts = []
    if f.date_from or f.date_to:
        parts.append(t("map.summary.period", lang, start=f.date_from or "…", end=f.date_to or "…"))
    else:
        parts.append(t("map.summary.all_time", lang))
    if f.types:
        parts.append(
            t("map.summary.types", lang, values="、".join(labels.get("type." + c, c) for c in f.types))
        )
    if f.roads:
        parts.append(t("map.summary.roads", lang, values="、".join(f.roads)))
    if f.statuses:
        parts.append(
            t(
                "map.summary.statuses",
                lang,
                values="、".join(labels.get("status." + c, c) for c in f.statuses),
            )
        )
    if f.towns:
        parts.append(t("map.summary.towns", lang, values="、".join(f.towns)))
    if f.batch is not None:
        parts.append(t("imports.map.summary_batch", lang, batch=f.batch))
    if f.bbox is not None:
        w, s, e, n = f.bbox
        parts.append(t("map.summary.bbox", lang, west=w, south=s, east=e, north=n))
    return " · ".join(parts)


def standalone_map_html(
    session: Session,
    actor: User,
    network: RoadNetwork,
    f: MapFilter,
    *,
    lang: str = "zh",
    color_by: str = "type",
    bm: Basemap | None = None,
    segment_m: float = DEFAULT_SEGMENT_M,
) -> tuple[str, int]:
    """The filtered incident map as one self-contained HTML file (every script and stylesheet inlined; nothing
    is fetched unless a tile basemap is configured). Returns (html, number of incidents)."""
    bm = basemap_from_env() if bm is None else bm
    labels = map_labels(lang)
    points = incident_points(session, actor, f)
    coverage = [c.as_row() for c in road_coverage(session, actor, network, f)]
    spots = hotspots(session, actor, f, segment_m=segment_m, network=network)
    title = t("map.standalone_title", lang)
    subtitle = t("map.standalone_subtitle", lang, summary=filter_summary(f, lang), count=len(points))
    html = incident_map_html(
        points,
        network,
        labels,
        bm,
        color_by=color_by,
        title=title,
        subtitle=subtitle,
        page_title=f"{title} · {filter_summary(f, lang)}",
        coverage=coverage,
        hotspots=spots,
        district=district(),
        invented_roads=invented_network(session),
    )
    return html, len(points)


def top(items: Sequence[tuple[str, int]], n: int) -> list[tuple[str, int]]:
    """The first ``n`` items, the rest summed under ``""`` (charts of many roads)."""
    if len(items) <= n:
        return list(items)
    return list(items[:n]) + [("", sum(v for _, v in items[n:]))]
