"""Linear referencing: point → (road, chainage, stake, side, offset, zone verdict) and back.

Side is "left"/"right" facing the direction of increasing chainage (FACTS.md §3). The stake, side and offset
come from the nearest road; the zone verdict is the strictest over **every** road in reach (near a junction a
point outside a township road's 5 m zone may be inside a national road's 20 m zone), and names the road that
decides it (``zone_road_code``). Everything is
vectorised over the network's segments (shapely STRtree nearest query + numpy projection), so a batch
of 100,000 points costs about as much as geopandas ``sjoin_nearest`` + ``line_locate_point``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import shapely

from gis.errors import NoRoadInReachError
from gis.roads import RoadNetwork
from gis.stakes import format_stake, parse_stake
from gis.zones import (
    CLASS_RANK,
    CONTROL_ZONE_MIN_M,
    LEGAL_BASIS_ROAD_LAND,
    LEGAL_BASIS_VILLAGE,
    LEGAL_BASIS_ZONE,
    ZONE_CONTROL,
    ZONE_NONE,
    ZONE_OUTSIDE,
    ZONE_ROAD_LAND,
    ZoneVerdict,
    half_road_land,
    strictest,
)

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
        (ip, it), _ = sub.query_nearest(
            pts, max_distance=max_distance, return_distance=True, all_matches=False
        )
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
    pts = cast("npt.NDArray[np.object_]", shapely.points(px[ok], py[ok]))  # arrays in, an array out
    ip, iseg = network.tree.query(pts, predicate="dwithin", distance=reach)
    if not len(ip):
        return out
    d = cast("npt.NDArray[np.float64]", shapely.distance(pts[ip], network.segments[iseg]))
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
    for k, (dist, chain) in pairs.items():
        r = network.routes[network.codes[k]]
        verdicts.append((k, r.verdict(r.start_m if chain is None else chain, dist)))
    return strictest(verdicts)


def _position(
    network: RoadNetwork,
    b: LocateBatch,
    i: int,
    lon: float,
    lat: float,
    reach: float = DEFAULT_MAX_DISTANCE_M,
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
    lon, lat = offset_points(network, road_code, np.array([chainage_m]), np.array([offset_m]), [side])
    if np.isnan(lon[0]):
        network.point_at(road_code, chainage_m)  # raises the out-of-range error
        raise AssertionError("unreachable")
    return float(lon[0]), float(lat[0])


def offset_points(
    network: RoadNetwork, road_code: str, chainage_m: np.ndarray, offset_m: np.ndarray, sides: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`offset_point` for many points of one road at once (a ledger's road + stake + offset rows): NaN
    where the chainage is on no piece of the road."""
    route = network.route(road_code)
    ch = np.asarray(chainage_m, dtype=float)
    off = np.asarray(offset_m, dtype=float) * np.where(np.asarray(sides) == "left", 1.0, -1.0)
    x = np.full(len(ch), np.nan)
    y = np.full(len(ch), np.nan)
    todo = np.ones(len(ch), dtype=bool)
    for k, (start, c) in enumerate(route.parts):
        cum = network.cumulative(route.code, k, c)  # per piece, cached
        hit = todo & (ch >= start) & (ch <= start + cum[-1] + 1e-6)
        if not hit.any():
            continue
        todo &= ~hit
        along = ch[hit] - start
        i = np.clip(np.searchsorted(cum, along, side="right") - 1, 0, len(cum) - 2)
        seg = cum[i + 1] - cum[i]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(seg > 0, (along - cum[i]) / seg, 0.0)
            ux, uy = (c[i + 1, 0] - c[i, 0]) / seg, (c[i + 1, 1] - c[i, 1]) / seg
        x[hit] = c[i, 0] + t * (c[i + 1, 0] - c[i, 0]) - uy * off[hit]
        y[hit] = c[i, 1] + t * (c[i + 1, 1] - c[i, 1]) + ux * off[hit]
    lon, lat = (np.array(v, dtype=float) for v in network.to_wgs84(x, y))
    lon[todo] = lat[todo] = np.nan
    return lon, lat


def locate_columns(
    network: RoadNetwork, lon: np.ndarray, lat: np.ndarray, max_distance: float = DEFAULT_MAX_DISTANCE_M
) -> dict[str, list[Any]]:
    """Batch locate into columns (the ``patrol locate --batch`` output); empty values where no road is in
    reach. Same fields and rules as :func:`locate` (the deciding road: :func:`deciding_verdict`), vectorised over
    the points: one spatial query for the nearest segment and every road in reach, no Python work per point except
    turning the columns into lists. Where roads carry published control lines, point by point."""
    if any(network.routes[c].control_lines for c in network.codes):
        return _locate_columns_per_point(network, lon, lat, max_distance)
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    n = lon.shape[0]
    routes = [network.routes[c] for c in network.codes]
    px, py = (np.asarray(v, dtype=float) for v in network.to_metric(lon, lat))
    ok = np.flatnonzero(np.isfinite(px) & np.isfinite(py))
    pts = cast("npt.NDArray[np.object_]", shapely.points(px[ok], py[ok]))  # arrays in, an array out
    ip, iseg = network.tree.query(pts, predicate="dwithin", distance=max_distance)
    d = cast("npt.NDArray[np.float64]", shapely.distance(pts[ip], network.segments[iseg]))
    # the nearest segment of each point in reach (as query_nearest finds it; exact ties are asked of it)
    order = np.lexsort((d, ip))
    first = np.ones(len(order), dtype=bool)
    first[1:] = ip[order][1:] != ip[order][:-1]
    best = order[first]
    seg = np.full(len(ok), -1, dtype=np.int64)
    seg[ip[best]] = iseg[best]
    tied = np.zeros(len(ok), dtype=bool)
    second = order[np.flatnonzero(~first)]
    tied[ip[second][d[second] == d[best][np.searchsorted(ip[best], ip[second])]]] = True
    if tied.any():
        t_idx = np.flatnonzero(tied)
        (tp, tseg), _ = network.tree.query_nearest(
            pts[t_idx], max_distance=max_distance, return_distance=True, all_matches=False
        )
        seg[t_idx[tp]] = tseg
    in_reach = seg >= 0
    hit = ok[in_reach]
    s_ = seg[in_reach]
    qx, qy = px[hit], py[hit]
    ax, ay, bx, by = network.sx1[s_], network.sy1[s_], network.sx2[s_], network.sy2[s_]
    dx, dy = bx - ax, by - ay
    seglen2 = dx * dx + dy * dy
    t = np.clip(((qx - ax) * dx + (qy - ay) * dy) / np.where(seglen2 > 0, seglen2, 1.0), 0.0, 1.0)
    offset = np.hypot(qx - (ax + t * dx), qy - (ay + t * dy))
    ch = network.sch0[s_] + t * np.sqrt(seglen2)
    side_left = dx * (qy - ay) - dy * (qx - ax) > 0
    nearest = network.sroute[s_].astype(np.int64)

    # the deciding road: every (point, road) pair in reach, plus (point, nearest road)
    pos = np.full(len(ok), -1, dtype=np.int64)
    pos[np.flatnonzero(in_reach)] = np.arange(len(hit))
    keep = pos[ip] >= 0
    zroute, zoff = _deciding(
        routes, pos[ip[keep]], network.sroute[iseg[keep]].astype(np.int64), d[keep], nearest, offset
    )

    # per-route constants of the verdict rule (gis.zones.zone_verdict), then per point by fancy indexing
    halves, assumed = zip(*(half_road_land(r.road_class, r.half_road_land_m) for r in routes))
    half = np.asarray(halves, dtype=float)
    width = np.asarray([CONTROL_ZONE_MIN_M.get(r.road_class, np.nan) for r in routes], dtype=float)
    line = half + width
    village = np.asarray([r.road_class == "village" for r in routes])
    zone = _zone_codes(village[zroute], half[zroute], line[zroute], zoff)
    zone_names = np.asarray([ZONE_ROAD_LAND, ZONE_CONTROL, ZONE_OUTSIDE, ZONE_NONE], dtype=object)
    basis = np.where(
        village[zroute], LEGAL_BASIS_VILLAGE, np.where(zone == 0, LEGAL_BASIS_ROAD_LAND, LEGAL_BASIS_ZONE)
    ).astype(object)

    def column(values: Any) -> list[Any]:
        out = np.full(n, None, dtype=object)
        out[hit] = values
        return out.tolist()

    def nullable(values: np.ndarray) -> list[Any]:
        out = values.astype(object)
        out[np.isnan(values)] = None
        return column(out)

    codes = np.asarray([r.code for r in routes], dtype=object)
    return {
        "road_code": column(codes[nearest]),
        "road_name": column(np.asarray([r.name for r in routes], dtype=object)[nearest]),
        "road_class": column(np.asarray([r.road_class for r in routes], dtype=object)[nearest]),
        "chainage_m": column(np.round(ch, 1)),
        "stake": column(np.asarray(format_stakes(ch), dtype=object)),
        "side": column(np.where(side_left, "left", "right").astype(object)),
        "offset_m": column(np.round(offset, 1)),
        "zone": column(zone_names[zone]),
        "in_control_zone": column(zone == 1),
        "control_zone_m": nullable(width[zroute]),
        "legal_basis": column(basis),
        "half_road_land_m": column(half[zroute]),
        "half_road_land_assumed": column(np.asarray(assumed, dtype=bool)[zroute]),
        "control_line_m": nullable(line[zroute]),
        "zone_road_code": column(codes[zroute]),
        "zone_offset_m": column(np.round(zoff, 1)),
    }


def _zone_codes(village: np.ndarray, half: np.ndarray, line: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """0 road land, 1 control zone, 2 outside, 3 none — :func:`gis.zones.zone_verdict`, vectorised."""
    with np.errstate(invalid="ignore"):
        return np.where(
            village,
            3,
            np.where(offset <= half, 0, np.where(np.isnan(line), 3, np.where(offset <= line, 1, 2))),
        )


def _deciding(
    routes: list[Any],
    p: np.ndarray,
    r: np.ndarray,
    d: np.ndarray,
    nearest: np.ndarray,
    nearest_offset: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """For each located point, the route whose verdict decides and the point's distance to it, from the pairs
    ``(point p, route r, distance d)`` in reach plus each point's nearest route — :func:`deciding_verdict`,
    vectorised."""
    m = len(nearest)
    p_all = np.concatenate([np.arange(m), p])
    r_all = np.concatenate([nearest, r])
    d_all = np.concatenate([np.asarray(nearest_offset, dtype=float), d])
    halves = np.asarray([half_road_land(x.road_class, x.half_road_land_m)[0] for x in routes], dtype=float)
    width = np.asarray([CONTROL_ZONE_MIN_M.get(x.road_class, np.nan) for x in routes], dtype=float)
    village = np.asarray([x.road_class == "village" for x in routes])
    rank = np.asarray([CLASS_RANK.get(x.road_class, 99) for x in routes])
    zone = _zone_codes(village[r_all], halves[r_all], halves[r_all] + width[r_all], d_all)
    severity = np.select([zone == 0, zone == 1], [2, 1], 0)
    # verdict_key: strictest first; among equals the more senior road, then the nearer; where nothing restricts
    # the point, the nearest road. Ties: the nearest road first, then in route order (as deciding_verdict).
    k_rank = np.where(severity > 0, rank[r_all], 0)
    tie = np.where(r_all == nearest[p_all], -1, r_all)
    order = np.lexsort((tie, d_all, k_rank, -severity, p_all))
    first = np.ones(len(order), dtype=bool)
    first[1:] = p_all[order][1:] != p_all[order][:-1]
    best = order[first]
    return r_all[best], d_all[best]


def format_stakes(chainage_m: np.ndarray) -> list[str]:
    """:func:`gis.stakes.format_stake` for many chainages at once (whole metres)."""
    value = np.round(np.abs(np.asarray(chainage_m, dtype=float)))
    km = (value // 1000).astype(np.int64)
    metres = (value - km * 1000).astype(np.int64)
    sign = np.asarray(chainage_m) < 0
    return [
        f"{'-' if s else ''}K{k}+{mm:03d}" for s, k, mm in zip(sign.tolist(), km.tolist(), metres.tolist())
    ]


def _locate_columns_per_point(
    network: RoadNetwork, lon: np.ndarray, lat: np.ndarray, max_distance: float = DEFAULT_MAX_DISTANCE_M
) -> dict[str, list[Any]]:
    """:func:`locate_columns` point by point, through :func:`deciding_verdict`: used when roads carry control lines
    published by the county government, whose stake ranges the vectorised rule does not know."""
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


LOCATE_COLUMNS = (
    "road_code",
    "road_name",
    "road_class",
    "chainage_m",
    "stake",
    "side",
    "offset_m",
    "zone",
    "in_control_zone",
    "control_zone_m",
    "legal_basis",
    "half_road_land_m",
    "half_road_land_assumed",
    "control_line_m",
    "zone_road_code",
    "zone_offset_m",
)
