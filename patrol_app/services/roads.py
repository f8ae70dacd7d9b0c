"""The road network in the store: import, list, and a cached :class:`gis.roads.RoadNetwork` for locating."""

from __future__ import annotations

import threading
from typing import Sequence

import shapely
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gis.roads import RoadNetwork, RoadPiece
from patrol_app.clock import utc_now, utc_stamp
from patrol_app.domain.rules import Perm
from patrol_app.services import audit
from patrol_app.services.errors import ServiceError
from patrol_app.services.users import require
from patrol_app.storage.models import RoadPieceRow, Setting, User

_VERSION_KEY = "network_version"
_cache: dict[tuple[str, str], RoadNetwork] = {}
_lock = threading.Lock()


def import_roads(
    session: Session, actor: User, pieces: Sequence[RoadPiece], source: str = "", replace: bool = False
) -> dict[str, int]:
    """Store road pieces. Without ``replace``, codes already in the store are refused (all or nothing)."""
    require(actor, Perm.MANAGE_ROADS)
    codes = sorted({p.code for p in pieces})
    existing = set(session.execute(select(RoadPieceRow.code).distinct()).scalars())
    old_ids: list[int] = []
    if replace:
        old_ids = list(session.execute(select(RoadPieceRow.id)).scalars())
        session.execute(delete(RoadPieceRow))
    else:
        clash = sorted(existing & set(codes))
        if clash:
            raise ServiceError("error.roads_exist", codes="、".join(clash))
    now = utc_now()
    session.add_all(
        RoadPieceRow(
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
    RoadNetwork(list(pieces) if replace else _pieces(session))
    result = {"routes": len(codes), "pieces": len(pieces), "replaced": len(existing) if replace else 0}
    audit.record(session, actor, "roads.import", "road_network", source, after={**result, "codes": codes})
    new_ids = session.execute(select(RoadPieceRow.id).where(RoadPieceRow.imported_at == now)).scalars().all()
    audit.record_rows(session, actor, "roads.import", "road_piece", [*old_ids, *new_ids], after={"source": source})
    return result


def _bump_version(session: Session) -> None:
    row = session.get(Setting, _VERSION_KEY)
    stamp = utc_stamp()
    if row is None:
        session.add(Setting(key=_VERSION_KEY, value=stamp))
    else:
        row.value = stamp


def _pieces(session: Session) -> list[RoadPiece]:
    rows = session.execute(select(RoadPieceRow).order_by(RoadPieceRow.id)).scalars()
    return [
        RoadPiece(
            code=r.code,
            geometry=shapely.from_wkb(r.geometry_wkb),
            name=r.name,
            road_class=r.road_class,
            start_m=r.start_m,
            half_road_land_m=r.half_road_land_m,
            county_code=r.county_code,
        )
        for r in rows
    ]


def network(session: Session) -> RoadNetwork:
    """The store's road network, built once per network version and process."""
    bind = session.get_bind()
    url = str(bind.url)
    row = session.get(Setting, _VERSION_KEY)
    if row is None:
        raise ServiceError("error.no_roads")
    key = (url, row.value)
    with _lock:
        net = _cache.get(key)
        if net is None:
            pieces = _pieces(session)
            if not pieces:
                raise ServiceError("error.no_roads")
            net = RoadNetwork(pieces)
            for k in [k for k in _cache if k[0] == url]:
                del _cache[k]
            _cache[key] = net
    return net



_device_cache: dict[tuple[str, str], tuple[bytes, str]] = {}


def network_version(session: Session) -> str:
    row = session.get(Setting, _VERSION_KEY)
    if row is None:
        raise ServiceError("error.no_roads")
    return row.value


def device_geojson(session: Session) -> tuple[bytes, str]:
    """The network as compact GeoJSON for devices (``gis.roads.device_geojson``) and its ETag, built once per
    network version and process."""
    import hashlib
    import json

    from gis.roads import device_geojson as build

    version = network_version(session)
    key = (str(session.get_bind().url), version)
    hit = _device_cache.get(key)
    if hit is None:
        doc = build(network(session), version=version)
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        hit = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        with _lock:
            for k in [k for k in _device_cache if k[0] == key[0]]:
                del _device_cache[k]
            _device_cache[key] = hit
    return hit
