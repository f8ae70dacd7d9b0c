"""Linear referencing: point → (road, chainage, stake, side, offset, zone verdict) and back.

Side is "left"/"right" facing the direction of increasing chainage (FACTS.md §3). The stake, side and offset
come from the nearest road; the zone verdict is the strictest over **every** road in reach (near a junction a
point outside a township road's 5 m zone may be inside a national road's 20 m zone), and names the road that
decides it (``zone_road_code``). Everything is
vectorised over the network's segments (shapely STRtree nearest query + numpy projection), so a batch
of 100,000 points costs about as much as geopandas ``sjoin_nearest`` + ``line_locate_point``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import shapely

from gis.errors import NoRoadInReachError
from gis.roads import RoadNetwork
from gis.stakes import format_stake, parse_stake
from gis.zones import ZoneVerdict, strictest

DEFAULT_MAX_DISTANCE_M = 100.0


@dataclass(frozen=True)
class RoadPosition:
    road_code: str
    road_name: str
    road_class: str
    chainage_m: float
    stake: str
    side: str  # left | right
    offset_m: float
    zone: str  # road_land | control_zone | outside | none
    in_control_zone: bool  # True only for control_zone
    control_zone_m: float | None
    half_road_land_m: float
    half_road_land_assumed: bool
    control_line_m: float | None
    legal_basis: str
    lon: float
    lat: float
    road_lon: float
    road_lat: float
    zone_road_code: str = ""  # the road whose verdict decides (the strictest of all roads in reach)
    zone_road_name: str = ""
    zone_road_class: str = ""
    zone_offset_m: float = 0.0  # distance from that road's centreline
    published_doc: str = ""  # the government notice whose control line decided ("" : statutory minimum)
    published_date: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def label(self) -> str:
        side = "右侧" if self.side == "right" else "左侧"
        return f"{self.road_code} {self.stake} {side}"


@dataclass
class LocateBatch:
    """Vectorised result: arrays aligned with the input; ``found`` is False where no road is in reach."""

    found: np.ndarray
    route_index: np.ndarray
    chainage_m: np.ndarray
    offset_m: np.ndarray
    side_left: np.ndarray
    foot_x: np.ndarray
    foot_y: np.ndarray


def locate_arrays(
    network: RoadNetwork,
    lon: np.ndarray,
    lat: np.ndarray,
    max_distance: float = DEFAULT_MAX_DISTANCE_M,
    road_code: str | None = None,
) -> LocateBatch:
    """Locate many points at once."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    n = lon.shape[0]
    px, py = network.to_metric(lon, lat)
    px = np.asarray(px, dtype=float)
    py = np.asarray(py, dtype=float)
    found = np.zeros(n, dtype=bool)
    seg = np.full(n, -1, dtype=np.int64)
    finite = np.isfinite(px) & np.isfinite(py)
    if road_code is not None:
        k = network.codes.index(network.route(road_code).code)
        cand = np.flatnonzero(network.sroute == k)
        sub = shapely.STRtree(network.segments[cand])
        pts = shapely.points(px[finite], py[finite])
        (ip, it), _ = sub.query_nearest(pts, max_distance=max_distance, return_distance=True, all_matches=False)
        idx = np.flatnonzero(finite)[ip]
        seg[idx] = cand[it]
    else:
        pts = shapely.points(px[finite], py[finite])
        (ip, it), _ = network.tree.query_nearest(
            pts, max_distance=max_distance, return_distance=True, all_matches=False
        )
        idx = np.flatnonzero(finite)[ip]
        seg[idx] = it
    found[seg >= 0] = True
    s = np.where(found, seg, 0)
    ax, ay = network.sx1[s], network.sy1[s]
    bx, by = network.sx2[s], network.sy2[s]
    dx, dy = bx - ax, by - ay
    seglen2 = dx * dx + dy * dy
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / np.where(seglen2 > 0, seglen2, 1.0), 0.0, 1.0)
    fx, fy = ax + t * dx, ay + t * dy
    offset = np.hypot(px - fx, py - fy)
    chainage = network.sch0[s] + t * np.sqrt(seglen2)
    cross = dx * (py - ay) - dy * (px - ax)
    nan = np.where(found, 1.0, np.nan)
    return LocateBatch(
        found=found,
        route_index=np.where(found, network.sroute[s], -1),
        chainage_m=chainage * nan,
        offset_m=offset * nan,
        side_left=cross > 0,
        foot_x=fx,
        foot_y=fy,
    )


def locate(
    network: RoadNetwork,
    lon: float,
    lat: float,
    max_distance: float = DEFAULT_MAX_DISTANCE_M,
    road_code: str | None = None,
) -> RoadPosition:
    """Locate one WGS-84 point on the nearest road within ``max_distance`` metres.

    Raises :class:`NoRoadInReachError` when no road (or not the given road) is in reach.
    """
    b = locate_arrays(network, np.array([lon]), np.array([lat]), max_distance, road_code)
    if not b.found[0]:
        raise NoRoadInReachError(lon=lon, lat=lat, max_distance=f"{max_distance:g}")
    return _position(network, b, 0, lon, lat, max_distance)


def zone_candidates(
    network: RoadNetwork, lon: np.ndarray, lat: np.ndarray, reach: float = DEFAULT_MAX_DISTANCE_M
) -> list[list[tuple[int, float, float]]]:
    """For each point, every route within ``reach`` metres as ``(route index, distance to its centreline,
    chainage of the nearest point on it)`` — the chainage picks a published control line on that road."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    n = lon.shape[0]
    out: list[list[tuple[int, float, float]]] = [[] for _ in range(n)]
    px, py = network.to_metric(lon, lat)
    px, py = np.asarray(px, dtype=float), np.asarray(py, dtype=float)
    ok = np.flatnonzero(np.isfinite(px) & np.isfinite(py))
    if not len(ok):
        return out
    pts = shapely.points(px[ok], py[ok])
    ip, iseg = network.tree.query(pts, predicate="dwithin", distance=reach)
    if not len(ip):
        return out
    d = shapely.distance(pts[ip], network.segments[iseg])
    r = network.sroute[iseg].astype(np.int64)
    key = ip.astype(np.int64) * (len(network.codes) + 1) + r
    order = np.lexsort((d, key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    for j in order[first]:
        s = int(iseg[j])
        ax, ay, bx, by = network.sx1[s], network.sy1[s], network.sx2[s], network.sy2[s]
        qx, qy = px[ok[ip[j]]], py[ok[ip[j]]]
        dx, dy = bx - ax, by - ay
        seglen2 = dx * dx + dy * dy
        t = min(max(((qx - ax) * dx + (qy - ay) * dy) / seglen2, 0.0), 1.0) if seglen2 > 0 else 0.0
        chain = float(network.sch0[s] + t * np.sqrt(seglen2))
        out[int(ok[ip[j]])].append((int(r[j]), float(d[j]), chain))
    return out


def deciding_verdict(
    network: RoadNetwork,
    candidates: list[tuple[int, float, float]],
    nearest: int,
    nearest_offset: float,
    nearest_chainage: float | None = None,
) -> tuple[int, ZoneVerdict]:
    """The strictest verdict over the roads in reach (the nearest road always among them); on each road a
    control line published for that chainage replaces the statutory minimum."""
    pairs: dict[int, tuple[float, float | None]] = {nearest: (nearest_offset, nearest_chainage)}
    for k, d, ch in candidates:
        if k not in pairs or d < pairs[k][0] or pairs[k][1] is None:
            pairs[k] = (min(d, pairs[k][0]) if k in pairs else d, ch)
    verdicts = []
    for k, (d, ch) in pairs.items():
        r = network.routes[network.codes[k]]
        verdicts.append((k, r.verdict(r.start_m if ch is None else ch, d)))
    return strictest(verdicts)


def _position(
    network: RoadNetwork, b: LocateBatch, i: int, lon: float, lat: float, reach: float = DEFAULT_MAX_DISTANCE_M
) -> RoadPosition:
    route = network.routes[network.codes[int(b.route_index[i])]]
    offset = float(b.offset_m[i])
    chain = float(b.chainage_m[i])
    cands = zone_candidates(network, np.array([lon]), np.array([lat]), reach)[0]
    k, verdict = deciding_verdict(network, cands, int(b.route_index[i]), offset, chain)
    zroute = network.routes[network.codes[k]]
    rlon, rlat = network.to_wgs84(b.foot_x[i], b.foot_y[i])
    return RoadPosition(
        road_code=route.code,
        road_name=route.name,
        road_class=route.road_class,
        chainage_m=round(chain, 1),
        stake=format_stake(chain),
        side="left" if bool(b.side_left[i]) else "right",
        offset_m=round(offset, 1),
        zone=verdict.zone,
        in_control_zone=verdict.in_control_zone,
        control_zone_m=verdict.control_zone_m,
        half_road_land_m=verdict.half_road_land_m,
        half_road_land_assumed=verdict.half_road_land_assumed,
        control_line_m=verdict.control_line_m,
        legal_basis=verdict.legal_basis,
        lon=float(lon),
        lat=float(lat),
        road_lon=round(float(rlon), 7),
        road_lat=round(float(rlat), 7),
        zone_road_code=zroute.code,
        zone_road_name=zroute.name,
        zone_road_class=zroute.road_class,
        zone_offset_m=round(verdict.offset_m, 1),
        published_doc=verdict.published_doc,
        published_date=verdict.published_date,
    )


def stake_to_point(network: RoadNetwork, road_code: str, stake: str | float) -> tuple[float, float]:
    """Road + stake → (lon, lat) on the centreline."""
    return network.point_at(road_code, parse_stake(stake))


def offset_point(
    network: RoadNetwork, road_code: str, chainage_m: float, offset_m: float, side: str
) -> tuple[float, float]:
    """The point ``offset_m`` metres to the ``side`` ("left"/"right", facing increasing chainage) of the
    centreline at ``chainage_m`` — for building test and demo data at known positions."""
    route = network.route(road_code)
    for start, c in route.parts:
        seg_len = np.hypot(np.diff(c[:, 0]), np.diff(c[:, 1]))
        if start <= chainage_m <= start + seg_len.sum() + 1e-6:
            along = chainage_m - start
            cum = np.concatenate([[0.0], np.cumsum(seg_len)])
            i = int(min(max(np.searchsorted(cum, along, side="right") - 1, 0), len(seg_len) - 1))
            t = (along - cum[i]) / seg_len[i] if seg_len[i] else 0.0
            ax, ay = c[i]
            bx, by = c[i + 1]
            ux, uy = (bx - ax) / seg_len[i], (by - ay) / seg_len[i]
            sign = 1.0 if side == "left" else -1.0
            x = ax + t * (bx - ax) - sign * uy * offset_m
            y = ay + t * (by - ay) + sign * ux * offset_m
            lon, lat = network.to_wgs84(x, y)
            return float(lon), float(lat)
    network.point_at(road_code, chainage_m)  # raises the out-of-range error
    raise AssertionError("unreachable")


def locate_columns(
    network: RoadNetwork, lon: np.ndarray, lat: np.ndarray, max_distance: float = DEFAULT_MAX_DISTANCE_M
) -> dict[str, list[Any]]:
    """Batch locate into columns (the ``patrol locate --batch`` output); empty values where no road is in
    reach. Same fields and rules as :func:`locate`."""
    b = locate_arrays(network, lon, lat, max_distance)
    n = len(b.found)
    routes = [network.routes[c] for c in network.codes]
    cols: dict[str, list[Any]] = {k: [None] * n for k in LOCATE_COLUMNS}
    cands = zone_candidates(network, lon, lat, max_distance)
    for i in np.flatnonzero(b.found):
        r = routes[int(b.route_index[i])]
        off = float(b.offset_m[i])
        ch = float(b.chainage_m[i])
        k, v = deciding_verdict(network, cands[i], int(b.route_index[i]), off, ch)
        cols["road_code"][i] = r.code
        cols["road_name"][i] = r.name
        cols["road_class"][i] = r.road_class
        cols["chainage_m"][i] = round(ch, 1)
        cols["stake"][i] = format_stake(ch)
        cols["side"][i] = "left" if b.side_left[i] else "right"
        cols["offset_m"][i] = round(off, 1)
        cols["zone"][i] = v.zone
        cols["in_control_zone"][i] = v.in_control_zone
        cols["control_zone_m"][i] = v.control_zone_m
        cols["legal_basis"][i] = v.legal_basis
        cols["half_road_land_m"][i] = v.half_road_land_m
        cols["half_road_land_assumed"][i] = v.half_road_land_assumed
        cols["control_line_m"][i] = v.control_line_m
        cols["zone_road_code"][i] = routes[k].code
        cols["zone_offset_m"][i] = round(v.offset_m, 1)
    return cols


LOCATE_COLUMNS = ("road_code", "road_name", "road_class", "chainage_m", "stake", "side", "offset_m", "zone",
                  "in_control_zone", "control_zone_m", "legal_basis", "half_road_land_m", "half_road_land_assumed",
                  "control_line_m", "zone_road_code", "zone_offset_m")
