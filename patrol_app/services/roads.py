"""The road network in the store: import, list, and a cached :class:`gis.roads.RoadNetwork` for locating."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any, cast

import shapely
from shapely.geometry import LineString
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gis.errors import GisError
from gis.roads import RoadNetwork, RoadPiece, Route
from gis.stakes import format_stake, parse_stake
from gis.zones import ControlLine, has_statutory_zone
from patrol_app.clock import utc_now, utc_stamp
from patrol_app.domain.adcodes import prefix
from patrol_app.domain.rules import Perm
from patrol_app.services import audit
from patrol_app.services.errors import ServiceError
from patrol_app.services.users import actor_scope, require, require_county, write_county
from patrol_app.storage.models import (
    ControlLineRow,
    RoadPieceRow,
    RoadSetting,
    Setting,
    User,
    configured_county,
)

#: A half road-land width or control-line distance beyond this many metres is a typing error.
MAX_WIDTH_M = 500.0

_VERSION_KEY = "network_version"
_cache: dict[tuple[str, str, str], RoadNetwork] = {}
_lock = threading.Lock()


def import_roads(
    session: Session,
    actor: User,
    pieces: Sequence[RoadPiece],
    source: str = "",
    replace: bool = False,
    county: str | None = None,
) -> dict[str, int]:
    """Store road pieces of one county (the actor's; the command line's account: ``county``, default the
    configured one). Without ``replace``, codes already in that county are refused (all or nothing); other
    counties' roads, with the same codes or not, are never touched."""
    require(actor, Perm.MANAGE_ROADS)
    county = write_county(actor, county)
    codes = sorted({p.code for p in pieces})
    in_county = RoadPieceRow.adcode == county
    existing = set(session.execute(select(RoadPieceRow.code).where(in_county).distinct()).scalars())
    old_ids: list[int] = []
    if replace:
        old_ids = list(session.execute(select(RoadPieceRow.id).where(in_county)).scalars())
        session.execute(delete(RoadPieceRow).where(in_county))
    else:
        clash = sorted(existing & set(codes))
        if clash:
            raise ServiceError("error.roads_exist", codes="、".join(clash))
    now = utc_now()
    session.add_all(
        RoadPieceRow(
            adcode=county,
            code=p.code,
            name=p.name,
            road_class=p.road_class,
            county_code=p.county_code,
            start_m=p.start_m,
            half_road_land_m=p.half_road_land_m,
            geometry_wkb=shapely.to_wkb(p.geometry),
            source=source,
            imported_at=now,
        )
        for p in pieces
    )
    _bump_version(session)
    session.flush()
    # validate the assembled network before committing (raises on bad geometry)
    RoadNetwork(list(pieces) if replace else _pieces(session, county))
    result = {"routes": len(codes), "pieces": len(pieces), "replaced": len(existing) if replace else 0}
    audit.record(
        session,
        actor,
        "roads.import",
        "road_network",
        source,
        after={**result, "codes": codes, "county": county},
    )
    new_ids = session.execute(select(RoadPieceRow.id).where(RoadPieceRow.imported_at == now)).scalars().all()
    audit.record_rows(
        session, actor, "roads.import", "road_piece", [*old_ids, *new_ids], after={"source": source}
    )
    return result


def _bump_version(session: Session) -> None:
    row = session.get(Setting, _VERSION_KEY)
    stamp = utc_stamp()
    if row is None:
        session.add(Setting(key=_VERSION_KEY, value=stamp))
    else:
        row.value = stamp


def _pieces(session: Session, county: str) -> list[RoadPiece]:
    rows = session.execute(
        select(RoadPieceRow).where(RoadPieceRow.adcode == county).order_by(RoadPieceRow.id)
    ).scalars()
    return [
        RoadPiece(
            code=r.code,
            geometry=cast(LineString, shapely.from_wkb(r.geometry_wkb)),  # stored from RoadPiece.geometry
            name=r.name,
            road_class=r.road_class,
            start_m=r.start_m,
            half_road_land_m=r.half_road_land_m,
            county_code=r.county_code,
        )
        for r in rows
    ]


def network(session: Session, county: str | None = None) -> RoadNetwork:
    """A county's road network (default the configured county: a single-county store's), built once per
    network version, county and process. Route codes are unique only within a county."""
    county = county or configured_county()
    url = str(session.get_bind().engine.url)
    row = session.get(Setting, _VERSION_KEY)
    if row is None:
        raise ServiceError("error.no_roads")
    key = (url, row.value, county)
    with _lock:
        net = _cache.get(key)
        if net is None:
            pieces = _pieces(session, county)
            if not pieces:
                raise ServiceError("error.no_roads")
            net = RoadNetwork(pieces)
            _apply_settings(session, net, county)
            for k in [k for k in _cache if k[0] == url and k[1] != row.value]:
                del _cache[k]
            _cache[key] = net
    return net


_device_cache: dict[tuple[str, str, str], tuple[bytes, str]] = {}


def network_version(session: Session) -> str:
    row = session.get(Setting, _VERSION_KEY)
    if row is None:
        raise ServiceError("error.no_roads")
    return row.value


_invented_cache: dict[tuple[str, str], bool] = {}


def invented_network(session: Session) -> bool:
    """Whether every road in the store is the demo's invented network (the maps then say so); asked once per
    network version and process."""
    from sqlalchemy import exists

    row = session.get(Setting, _VERSION_KEY)
    key = (str(session.get_bind().engine.url), row.value if row is not None else "")
    if key not in _invented_cache:
        any_road = session.execute(select(exists().where(RoadPieceRow.id.is_not(None)))).scalar()
        real = session.execute(select(exists().where(RoadPieceRow.source.not_like("demo:%")))).scalar()
        _invented_cache[key] = bool(any_road) and not real
    return _invented_cache[key]


def device_geojson(session: Session, county: str | None = None) -> tuple[bytes, str]:
    """A county's network (default the configured county) as compact GeoJSON for devices
    (``gis.roads.device_geojson``) and its ETag, built once per network version, county and process."""
    import hashlib
    import json

    from gis.roads import device_geojson as build

    version = network_version(session)
    county = county or configured_county()
    key = (str(session.get_bind().engine.url), version, county)
    hit = _device_cache.get(key)
    if hit is None:
        doc = build(network(session, county), version=version)
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        hit = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        with _lock:
            for k in [k for k in _device_cache if k[0] == key[0] and k[1] != version]:
                del _device_cache[k]
            _device_cache[key] = hit
    return hit


def _apply_settings(session: Session, net: RoadNetwork, county: str) -> None:
    """What the bureau set in the app: half road-land widths and published control lines."""
    for row in session.execute(select(RoadSetting).where(RoadSetting.adcode == county)).scalars():
        if row.code in net.routes and row.half_road_land_m is not None:
            net.routes[row.code].half_road_land_m = row.half_road_land_m
    for c in session.execute(
        select(ControlLineRow)
        .where(ControlLineRow.active.is_(True), ControlLineRow.adcode == county)
        .order_by(ControlLineRow.id)
    ).scalars():
        if c.road_code in net.routes:
            net.routes[c.road_code].control_lines.append(
                ControlLine(c.from_m, c.to_m, c.distance_m, c.doc_no, c.doc_date.isoformat())
            )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _route(session: Session, code: str, county: str | None = None) -> Route:
    try:
        return network(session, county).route(code)
    except GisError as exc:
        raise ServiceError(exc.key, **exc.params) from exc


def set_half_width(session: Session, actor: User, code: str, half_road_land_m: float | None) -> None:
    """Set a road's half road-land width (metres from the centreline to the outer edge of road land), or clear
    it (None: the road file's value, else the class default). Verdicts use it from then on. Audited."""
    require(actor, Perm.MANAGE_ROADS)
    county = write_county(actor)
    route = _route(session, code, county)
    if half_road_land_m is not None and not (0 < float(half_road_land_m) <= MAX_WIDTH_M):
        raise ServiceError("roads.error.bad_width", value=f"{half_road_land_m:g}", max=f"{MAX_WIDTH_M:g}")
    row = session.get(RoadSetting, (county, route.code))
    before = row.half_road_land_m if row else None
    if row is None:
        row = RoadSetting(adcode=county, code=route.code, updated_by=actor.id, updated_at=_now())
        session.add(row)
    row.half_road_land_m = None if half_road_land_m is None else float(half_road_land_m)
    row.updated_by, row.updated_at = actor.id, _now()
    _bump_version(session)
    session.flush()
    audit.record(
        session,
        actor,
        "roads.half_width",
        "road",
        route.code,
        before={"half_road_land_m": before},
        after={"half_road_land_m": row.half_road_land_m},
    )


def add_control_line(
    session: Session,
    actor: User,
    code: str,
    from_stake: str | float,
    to_stake: str | float,
    distance_m: float,
    doc_no: str,
    doc_date: dt.date,
    today: dt.date | None = None,
) -> int:
    """Record a control line published by the county government for a stake range of a road (条例 第十一条、
    第十二条): ``distance_m`` from the centreline on both sides. Verdicts use it from then on. Audited."""
    require(actor, Perm.MANAGE_ROADS)
    county = write_county(actor)
    route = _route(session, code, county)
    if not has_statutory_zone(
        route.road_class
    ):  # village and special-purpose roads: 条例 第十一条 sets no zone
        raise ServiceError("roads.error.no_statutory_zone", code=route.code)
    try:
        a = parse_stake(from_stake) if isinstance(from_stake, str) else float(from_stake)
        b = parse_stake(to_stake) if isinstance(to_stake, str) else float(to_stake)
    except GisError as exc:
        raise ServiceError(exc.key, **exc.params) from exc
    if b <= a:
        raise ServiceError("roads.error.bad_range", start=format_stake(a), end=format_stake(b))
    if a < route.start_m - 0.5 or b > route.end_m + 0.5:
        raise ServiceError(
            "error.stake_out_of_range",
            code=route.code,
            stake=format_stake(a if a < route.start_m else b),
            start=route.start_stake,
            end=route.end_stake,
        )
    half = route.verdict(a, 0.0).half_road_land_m
    if not (half < float(distance_m) <= MAX_WIDTH_M):
        raise ServiceError(
            "roads.error.bad_line", value=f"{float(distance_m):g}", half=f"{half:g}", max=f"{MAX_WIDTH_M:g}"
        )
    doc = (doc_no or "").strip()
    if not doc:
        raise ServiceError("roads.error.doc_required")
    if doc_date > (today or dt.date.today()):
        raise ServiceError("error.future_date", value=doc_date.isoformat())
    row = ControlLineRow(
        adcode=county,
        road_code=route.code,
        from_m=round(a, 1),
        to_m=round(b, 1),
        distance_m=float(distance_m),
        doc_no=doc,
        doc_date=doc_date,
        active=True,
        created_by=actor.id,
        created_at=_now(),
    )
    session.add(row)
    _bump_version(session)
    session.flush()
    audit.record(
        session,
        actor,
        "roads.control_line",
        "control_line",
        row.id,
        after={
            "road": route.code,
            "from": format_stake(a),
            "to": format_stake(b),
            "distance_m": row.distance_m,
            "doc_no": doc,
            "doc_date": doc_date.isoformat(),
        },
    )
    return row.id


def withdraw_control_line(session: Session, actor: User, line_id: int) -> None:
    """Withdraw a recorded control line (kept for the record, no longer used). Audited."""
    require(actor, Perm.MANAGE_ROADS)
    row = session.get(ControlLineRow, line_id)
    if row is None or not row.active:
        raise ServiceError("roads.error.no_line", id=line_id)
    require_county(actor, row.adcode)
    row.active = False
    _bump_version(session)
    session.flush()
    audit.record(
        session,
        actor,
        "roads.control_line_withdrawn",
        "control_line",
        row.id,
        before={"road": row.road_code, "doc_no": row.doc_no, "distance_m": row.distance_m},
    )


def control_lines(session: Session, actor: User, code: str | None = None) -> list[dict[str, Any]]:
    """The control lines in force, newest notice first."""
    require(actor, Perm.VIEW)
    stmt = select(ControlLineRow).where(
        ControlLineRow.active.is_(True), ControlLineRow.adcode.startswith(prefix(actor_scope(actor)))
    )
    if code:
        stmt = stmt.where(ControlLineRow.road_code == code)
    rows = session.execute(stmt.order_by(ControlLineRow.doc_date.desc(), ControlLineRow.id.desc())).scalars()
    return [
        {
            "id": r.id,
            "road_code": r.road_code,
            "from_stake": format_stake(r.from_m),
            "to_stake": format_stake(r.to_m),
            "distance_m": r.distance_m,
            "doc_no": r.doc_no,
            "doc_date": r.doc_date.isoformat(),
        }
        for r in rows
    ]


def half_width_set(session: Session, actor: User, code: str) -> float | None:
    """The half road-land width set in the app for a road (None: not set)."""
    require(actor, Perm.VIEW)
    row = session.get(RoadSetting, (actor_scope(actor), code))
    return row.half_road_land_m if row else None
