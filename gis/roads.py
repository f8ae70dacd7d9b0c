"""Road network: read road files, normalise codes and classes, assemble routes, index segments.

A *route* is everything under one road code; its pieces are chained into one continuous chainage
(桩号) in the route's forward direction. Geometry is kept in WGS-84 and, for metric work, in a local
transverse Mercator chosen from the network's position (:func:`gis.crs.local_metric_crs`).
"""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import LineString, MultiLineString
from shapely.geometry.base import BaseGeometry

from gis.codes import CLASS_BY_LETTER
from gis.crs import gcj02_to_wgs84, local_metric_crs, transformers
from gis.errors import RoadFileError, StakeOutOfRangeError, UnknownRoadError
from gis.stakes import format_stake, parse_stake
from gis.zones import ROAD_CLASSES, ControlLine, ZoneVerdict, is_expressway_code, zone_verdict

CLASS_ALIASES = {
    "expressway": "expressway",
    "高速公路": "expressway",
    "高速": "expressway",
    "motorway": "expressway",
    "national": "national",
    "国道": "national",
    "g": "national",
    "provincial": "provincial",
    "省道": "provincial",
    "s": "provincial",
    "county": "county",
    "县道": "county",
    "x": "county",
    "township": "township",
    "乡道": "township",
    "y": "township",
    "village": "village",
    "村道": "village",
    "c": "village",
    "special": "special",
    "专用公路": "special",
    "专用道": "special",
    "z": "special",
}

# Field names recognised without flags (lower-cased, full-width normalised).
CODE_FIELDS = ("code", "ref", "road_code", "roadcode", "route", "路线编号", "路线代码", "编号", "路线编码")
NAME_FIELDS = ("name", "road_name", "roadname", "路线名称", "名称", "道路名称")
CLASS_FIELDS = ("class", "road_class", "roadclass", "level", "行政等级", "等级", "公路等级", "路线等级")
START_FIELDS = ("start_stake", "start", "from_stake", "起点桩号", "起始桩号")
HALF_LAND_FIELDS = ("half_road_land_m", "half_land_m", "公路用地半宽", "用地半宽")
COUNTY_FIELDS = ("county_code", "adcode", "行政区划代码", "区划代码")

_CODE_RE = re.compile(r"^([GSXYCZ])\s*(\d{1,4})([A-Z]?)$")

JOIN_TOLERANCE_M = 5.0


def normalise_code(raw: Any) -> str:
    """``"x12"`` → ``"X012"``; raises ValueError for anything that is not a route code.

    National and provincial codes keep their digits as written: the number of digits tells an expressway
    (G60, G5611, S12) from an ordinary road (G320, S203), so ``G60`` is never padded to ``G060``."""
    return _normalise_text(str(raw or ""))


@functools.lru_cache(maxsize=4096)  # a ledger names the same few roads on every row
def _normalise_text(raw: str) -> str:
    s = unicodedata.normalize("NFKC", raw).strip().upper().replace(" ", "")
    m = _CODE_RE.match(s)
    if not m:
        raise ValueError(f"not a road code: {raw!r}")
    letter, digits, suffix = m.group(1), m.group(2), m.group(3)
    if letter in "GS":
        return f"{letter}{digits}{suffix}"
    return f"{letter}{int(digits):03d}{suffix}"


def normalise_class(raw: Any, code: str) -> str:
    """Road class from a class field (English or Chinese), else inferred from the code: G/S + 1–2 or 4 digits
    is an expressway (GB/T 917 [secondary]), otherwise the letter decides."""
    if raw is not None and str(raw).strip() and str(raw).strip().lower() not in ("nan", "none"):
        key = unicodedata.normalize("NFKC", str(raw)).strip().lower()
        found = CLASS_ALIASES.get(key)
        if found is None:
            found = next((v for a, v in CLASS_ALIASES.items() if len(a) > 1 and a in key), None)
        if found is None:
            raise ValueError(f"unknown road class {raw!r}")
        # an expressway's administrative class is 国道/省道; its code still makes it an expressway (条例 第十一条)
        if found in ("national", "provincial") and is_expressway_code(code):
            return "expressway"
        return found
    if is_expressway_code(code):
        return "expressway"
    return CLASS_BY_LETTER[code[0]]


@dataclass
class RoadPiece:
    """One imported line feature, WGS-84."""

    code: str
    geometry: LineString
    name: str = ""
    road_class: str = ""
    start_m: float | None = None
    half_road_land_m: float | None = None
    county_code: str = ""


@dataclass
class Route:
    code: str
    name: str
    road_class: str
    county_code: str
    half_road_land_m: float | None
    start_m: float
    end_m: float
    parts: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (start chainage, metric coords)
    control_lines: list[ControlLine] = field(default_factory=list)  # published by the county government

    def control_line_at(self, chainage_m: float) -> ControlLine | None:
        """The published control line covering a chainage (the newest notice wins where ranges overlap)."""
        best = None
        for c in self.control_lines:
            if c.covers(chainage_m) and (best is None or c.doc_date >= best.doc_date):
                best = c
        return best

    def verdict(self, chainage_m: float, offset_m: float) -> ZoneVerdict:
        """Road land / control zone / outside at this chainage: a published control line there wins over the
        statutory minimum."""
        return zone_verdict(
            self.road_class, offset_m, self.half_road_land_m, self.control_line_at(chainage_m)
        )

    @property
    def length_m(self) -> float:
        return self.end_m - self.start_m

    @property
    def start_stake(self) -> str:
        return format_stake(self.start_m)

    @property
    def end_stake(self) -> str:
        return format_stake(self.end_m)


#: What each column of a road file may hold, with the field names recognised without being told.
FIELD_ROLES: dict[str, tuple[str, ...]] = {
    "code": CODE_FIELDS,
    "name": NAME_FIELDS,
    "class": CLASS_FIELDS,
    "start": START_FIELDS,
    "half": HALF_LAND_FIELDS,
    "county": COUNTY_FIELDS,
}

#: A piece farther than this from every other piece of its route is reported (a code typed on the wrong line?).
FAR_PIECE_M = 2000.0


def propose_mapping(field_names: Sequence[str], **explicit: str | None) -> dict[str, str | None]:
    """Which field holds what (role → field name or None), recognising common names (code/ref/路线编号 …).

    ``explicit`` (e.g. ``code="ROUTE_NO"``) names a field for a role; a name not among ``field_names`` raises
    :class:`RoadFileError`. This is the one recognition used by ``patrol roads import`` and by the app.
    """
    names = list(field_names)
    lowered = {unicodedata.normalize("NFKC", str(k)).strip().lower(): k for k in names}
    out: dict[str, str | None] = {}
    for role, candidates in FIELD_ROLES.items():
        given = explicit.get(role)
        if given:
            if given not in names:
                raise RoadFileError(
                    detail=f"field {given!r} not found; fields are: {', '.join(map(str, names))}"
                )
            out[role] = given
            continue
        out[role] = next((lowered[c] for c in candidates if c in lowered), None)
    return out


@dataclass(frozen=True)
class RoadProblem:
    """Something wrong with one feature (1-based, in file order) of a road file.

    ``kind`` is a stable key (``missing_code``, ``bad_code``, ``unknown_class``, ``bad_start``, ``bad_half``,
    ``empty_geometry``, ``not_line``, ``zero_length``, ``self_crossing``, ``far_piece``); ``error`` problems keep
    the feature out of the network, warnings do not. ``detail`` is English (the command line's message).
    """

    feature: int
    code: str
    kind: str
    error: bool
    detail: str
    params: dict[str, Any] = field(default_factory=dict, compare=False)


def _lines(geom: BaseGeometry) -> list[LineString]:
    if geom is None or geom.is_empty:
        return []
    if isinstance(geom, LineString):
        return [geom]
    if isinstance(geom, MultiLineString):
        return list(geom.geoms)
    raise RoadFileError(detail=f"expected line geometries, got {geom.geom_type}")


def _approx_length_m(xy: np.ndarray) -> float:
    """Length of a lon/lat line in metres (equirectangular: good to a fraction of a percent over a county)."""
    if len(xy) < 2:
        return 0.0
    k = math.cos(math.radians(float(np.mean(xy[:, 1]))))
    dx = np.diff(xy[:, 0]) * k * 111_320.0
    dy = np.diff(xy[:, 1]) * 110_574.0
    return float(np.hypot(dx, dy).sum())


def parse_features(
    features: Iterable[tuple[BaseGeometry, dict[str, Any]]],
    mapping: dict[str, str | None],
    gcj02: bool = False,
) -> tuple[list[RoadPiece], list[RoadProblem]]:
    """(geometry, properties) pairs → road pieces, and every problem found (nothing raised for a bad feature).

    Features with an error (no code, unknown class, no usable line …) are left out; warnings (self-crossing,
    far from the rest of the route) keep the piece. See :func:`check_pieces` for the geometric checks.
    """
    pieces: list[RoadPiece] = []
    feature_of: list[int] = []
    problems: list[RoadProblem] = []
    f = mapping
    for i, (geom, props) in enumerate(features, start=1):
        raw_code = props.get(c) if (c := f.get("code")) else None
        if not _present(raw_code):
            problems.append(RoadProblem(i, "", "missing_code", True, f"feature {i}: no road code"))
            continue
        try:
            code = normalise_code(raw_code)
        except ValueError as exc:
            problems.append(
                RoadProblem(
                    i, str(raw_code), "bad_code", True, f"feature {i}: {exc}", {"value": str(raw_code)}
                )
            )
            continue
        bad = False
        raw_class = props.get(c) if (c := f.get("class")) else None
        try:
            rclass = normalise_class(raw_class, code)
        except ValueError as exc:
            problems.append(
                RoadProblem(i, code, "unknown_class", True, f"feature {i}: {exc}", {"value": str(raw_class)})
            )
            bad = True
        start = None
        if (c := f.get("start")) and _present(props.get(c)):
            try:
                start = parse_stake(props[c])
            except ValueError as exc:
                problems.append(
                    RoadProblem(i, code, "bad_start", True, f"feature {i}: {exc}", {"value": str(props[c])})
                )
                bad = True
        half = None
        if (c := f.get("half")) and _present(props.get(c)):
            try:
                half = float(props[c])
                if not math.isfinite(half) or half <= 0:
                    raise ValueError(f"half road-land width must be a positive number, got {props[c]!r}")
            except ValueError as exc:
                problems.append(
                    RoadProblem(i, code, "bad_half", True, f"feature {i}: {exc}", {"value": str(props[c])})
                )
                bad = True
        try:
            lines = _lines(geom)
        except RoadFileError as exc:
            problems.append(
                RoadProblem(
                    i,
                    code,
                    "not_line",
                    True,
                    f"feature {i}: {exc}",
                    {"value": getattr(geom, "geom_type", "")},
                )
            )
            continue
        if not lines:
            problems.append(RoadProblem(i, code, "empty_geometry", True, f"feature {i}: empty geometry"))
            continue
        if bad:
            continue
        name = str(props.get(c) or "") if (c := f.get("name")) else ""
        county = str(props.get(c) or "") if (c := f.get("county")) else ""
        if name.lower() == "nan":
            name = ""
        for line in lines:
            xy = np.asarray(line.coords)[:, :2]
            if gcj02:
                lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
                xy = np.column_stack([lon, lat])
            if _approx_length_m(xy) < 0.01:
                problems.append(RoadProblem(i, code, "zero_length", True, f"feature {i}: a zero-length line"))
                continue
            pieces.append(RoadPiece(code, LineString(xy), name, rclass, start, half, county))
            feature_of.append(i)
    problems.extend(check_pieces(pieces, feature_of))
    problems.sort(key=lambda p: (p.feature, not p.error))
    return pieces, problems


def check_pieces(pieces: Sequence[RoadPiece], feature_of: Sequence[int] | None = None) -> list[RoadProblem]:
    """Geometric warnings: self-crossing pieces, and pieces far (> :data:`FAR_PIECE_M`) from the rest of their
    route."""
    feature_of = list(feature_of) if feature_of is not None else list(range(1, len(pieces) + 1))
    out: list[RoadProblem] = []
    simple = (
        shapely.is_simple(np.array([p.geometry for p in pieces], dtype=object))
        if pieces
        else np.zeros(0, dtype=bool)
    )
    for p, ok, i in zip(pieces, simple, feature_of):
        if not ok:
            out.append(
                RoadProblem(i, p.code, "self_crossing", False, f"feature {i}: the line crosses itself")
            )
    by_code: dict[str, list[int]] = {}
    for k, p in enumerate(pieces):
        by_code.setdefault(p.code, []).append(k)
    for code, idx in by_code.items():
        if len(idx) < 2:
            continue
        geoms = [pieces[k].geometry for k in idx]
        lat = float(np.mean([g.centroid.y for g in geoms]))
        kx = math.cos(math.radians(lat)) * 111_320.0
        scale = np.array([kx, 110_574.0])
        metric = [shapely.transform(g, lambda xy: xy * scale) for g in geoms]
        tree = shapely.STRtree(metric)
        for j, (k, g) in enumerate(zip(idx, metric)):
            near = [n for n in tree.query(g, predicate="dwithin", distance=FAR_PIECE_M) if n != j]
            if near:
                continue
            d = min(g.distance(metric[n]) for n in range(len(metric)) if n != j)
            out.append(
                RoadProblem(
                    feature_of[k],
                    code,
                    "far_piece",
                    False,
                    f"feature {feature_of[k]}: {d:.0f} m from the rest of route {code}",
                    {"distance": f"{d:,.0f}"},
                )
            )
    return out


def pieces_from_features(
    features: Iterable[tuple[BaseGeometry, dict[str, Any]]],
    *,
    code_field: str | None = None,
    name_field: str | None = None,
    class_field: str | None = None,
    start_field: str | None = None,
    gcj02: bool = False,
) -> list[RoadPiece]:
    """Turn (geometry, properties) pairs into road pieces, recognising common field names; any error (not a
    warning) raises :class:`RoadFileError` naming every bad feature."""
    feats = list(features)
    if not feats:
        raise RoadFileError(detail="the file holds no road lines")
    mapping = propose_mapping(
        list(feats[0][1]), code=code_field, name=name_field, **{"class": class_field}, start=start_field
    )
    if mapping["code"] is None:
        raise RoadFileError(
            detail="no road-code field found (tried code/ref/路线编号 …); name it with --code-field. "
            f"Fields are: {', '.join(map(str, feats[0][1]))}"
        )
    pieces, problems = parse_features(feats, mapping, gcj02)
    errors = [p.detail for p in problems if p.error]
    if errors:
        raise RoadFileError(detail="; ".join(errors))
    if not pieces:
        raise RoadFileError(detail="the file holds no road lines")
    return pieces


def _present(v: Any) -> bool:
    if v is None:
        return False
    if isinstance(v, float) and math.isnan(v):
        return False
    return str(v).strip() != ""


@dataclass
class RoadFile:
    """The features of a road file (WGS-84 unless GCJ-02 is declared later) and its field names."""

    name: str
    fields: list[str]
    features: list[tuple[BaseGeometry, dict[str, Any]]]


def read_road_features(path: str | Path, name: str | None = None) -> RoadFile:
    """Read GeoJSON, GeoPackage or Shapefile (also a zipped one) into WGS-84 features and their field names.

    Read through pyogrio's Arrow interface (no geopandas needed at run time): geometries as WKB, reprojected
    with pyproj when the file's CRS is not WGS-84.
    """
    import pyogrio

    p = Path(path)
    if not p.exists():
        raise RoadFileError(detail=f"file not found: {p}")
    shown = name or p.name
    src = f"/vsizip/{p}" if p.suffix.lower() == ".zip" else str(p)
    try:
        meta, table = pyogrio.read_arrow(src)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise RoadFileError(detail=f"cannot read {shown}: {exc}") from exc
    geom_col = meta.get("geometry_name") or "wkb_geometry"
    if geom_col not in table.column_names:
        raise RoadFileError(detail=f"{shown} holds no geometries")
    geoms = shapely.from_wkb(table.column(geom_col).to_numpy(zero_copy_only=False))
    crs = meta.get("crs")
    if crs is not None:
        from pyproj import CRS, Transformer

        src_crs = CRS.from_user_input(crs)
        if src_crs.to_epsg() != 4326 and not src_crs.equals("OGC:CRS84"):
            to_wgs84 = Transformer.from_crs(src_crs, "EPSG:4326", always_xy=True)
            geoms = shapely.transform(
                geoms, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1]))
            )
    elif len(geoms):
        b = shapely.total_bounds(geoms)
        if not (-180 <= b[0] <= 180 and -90 <= b[1] <= 90):
            raise RoadFileError(detail=f"{shown} has no CRS and its coordinates are not longitude/latitude")
    attrs = table.drop_columns([geom_col])
    return RoadFile(shown, [str(c) for c in attrs.column_names], list(zip(geoms, attrs.to_pylist())))


def read_road_file(path: str | Path, **kwargs: Any) -> list[RoadPiece]:
    """Read GeoJSON, GeoPackage or Shapefile (also a zipped one) into road pieces in WGS-84."""
    return pieces_from_features(read_road_features(path).features, **kwargs)


def _assemble(
    code: str, parts_xy: list[np.ndarray], starts: list[float | None]
) -> list[tuple[float, np.ndarray]]:
    """Order and orient a route's pieces; return (start chainage, coords) per piece in chainage order."""
    explicit = [s for s in starts if s is not None]
    if len(parts_xy) > 1 and len(explicit) == len(starts) and len(set(explicit)) == len(explicit):
        # every piece carries its own start stake: trust it, keep digitised direction
        # (``explicit`` is ``starts`` itself here: no start is None)
        order = sorted(range(len(parts_xy)), key=lambda i: explicit[i])
        return [(float(explicit[i]), parts_xy[i]) for i in order]
    origin = explicit[0] if explicit else 0.0
    if len(parts_xy) == 1:
        return [(origin, parts_xy[0])]
    # chain by nearest endpoints, starting from a free end
    n = len(parts_xy)
    ends = [(p[0], p[-1]) for p in parts_xy]

    def has_neighbour(i: int, pt: np.ndarray) -> bool:
        return any(
            j != i and min(np.hypot(*(pt - ends[j][0])), np.hypot(*(pt - ends[j][1]))) <= JOIN_TOLERANCE_M
            for j in range(n)
        )

    start_i, reverse_first = 0, False
    for i in range(n):
        if not has_neighbour(i, ends[i][0]):
            start_i, reverse_first = i, False
            break
        if not has_neighbour(i, ends[i][1]):
            start_i, reverse_first = i, True
            break
    chain = [parts_xy[start_i][::-1] if reverse_first else parts_xy[start_i]]
    flipped = [reverse_first]
    chain_ids = [start_i]
    lengths = [_length(parts_xy[start_i])]
    used = {start_i}
    while len(used) < n:
        tail = chain[-1][-1]
        best = None
        for j in range(n):
            if j in used:
                continue
            d0 = np.hypot(*(tail - ends[j][0]))
            d1 = np.hypot(*(tail - ends[j][1]))
            cand = (d0, j, False) if d0 <= d1 else (d1, j, True)
            if best is None or cand[0] < best[0]:
                best = cand
        assert best is not None
        _, j, rev = best
        chain.append(parts_xy[j][::-1] if rev else parts_xy[j])
        flipped.append(rev)
        chain_ids.append(j)
        lengths.append(_length(parts_xy[j]))
        used.add(j)
    # forward direction: the first piece's (in file order) as digitised; where pieces carry distinct start
    # stakes those decide instead (above)
    reverse_all = flipped[chain_ids.index(0)]
    if reverse_all:
        chain = [c[::-1] for c in reversed(chain)]
    out: list[tuple[float, np.ndarray]] = []
    ch = origin
    for c in chain:
        out.append((ch, c))
        ch += _length(c)
    return out


def _length(xy: np.ndarray) -> float:
    return float(np.hypot(np.diff(xy[:, 0]), np.diff(xy[:, 1])).sum())


class RoadNetwork:
    """Routes plus a vectorised segment index for linear referencing."""

    def __init__(self, pieces: Sequence[RoadPiece]) -> None:
        if not pieces:
            raise RoadFileError(detail="empty road network")
        all_xy = np.concatenate([np.asarray(p.geometry.coords)[:, :2] for p in pieces])
        lon0, lat0 = float(all_xy[:, 0].mean()), float(all_xy[:, 1].mean())
        self.crs = local_metric_crs(lon0, lat0)
        self._to_m, self._to_wgs = transformers(self.crs)
        self.bounds = (
            float(all_xy[:, 0].min()),
            float(all_xy[:, 1].min()),
            float(all_xy[:, 0].max()),
            float(all_xy[:, 1].max()),
        )
        by_code: dict[str, list[RoadPiece]] = {}
        for p in pieces:
            by_code.setdefault(p.code, []).append(p)
        self.routes: dict[str, Route] = {}
        x1: list[np.ndarray] = []
        y1: list[np.ndarray] = []
        x2: list[np.ndarray] = []
        y2: list[np.ndarray] = []
        ch0: list[np.ndarray] = []
        ridx: list[np.ndarray] = []
        self.codes: list[str] = sorted(by_code)
        for k, code in enumerate(self.codes):
            group = by_code[code]
            parts_xy = []
            for p in group:
                xy = np.asarray(p.geometry.coords)[:, :2]
                mx, my = self._to_m.transform(xy[:, 0], xy[:, 1])
                parts_xy.append(np.column_stack([mx, my]))
            parts = _assemble(code, parts_xy, [p.start_m for p in group])
            first = group[0]
            end = max(s + _length(c) for s, c in parts)
            halves = [p.half_road_land_m for p in group if p.half_road_land_m is not None]
            self.routes[code] = Route(
                code=code,
                name=next((p.name for p in group if p.name), ""),
                road_class=first.road_class,
                county_code=next((p.county_code for p in group if p.county_code), ""),
                half_road_land_m=halves[0] if halves else None,
                start_m=min(s for s, _ in parts),
                end_m=end,
                parts=parts,
            )
            for start, c in parts:
                seg_len = np.hypot(np.diff(c[:, 0]), np.diff(c[:, 1]))
                cum = start + np.concatenate([[0.0], np.cumsum(seg_len)[:-1]])
                keep = seg_len > 0
                x1.append(c[:-1, 0][keep])
                y1.append(c[:-1, 1][keep])
                x2.append(c[1:, 0][keep])
                y2.append(c[1:, 1][keep])
                ch0.append(cum[keep])
                ridx.append(np.full(int(keep.sum()), k, dtype=np.int32))
        self.sx1 = np.concatenate(x1)
        self.sy1 = np.concatenate(y1)
        self.sx2 = np.concatenate(x2)
        self.sy2 = np.concatenate(y2)
        self.sch0 = np.concatenate(ch0)
        self.sroute = np.concatenate(ridx)
        # one line per (start, end) pair: an array of LineStrings
        segs = cast(
            "npt.NDArray[np.object_]",
            shapely.linestrings(
                np.stack(
                    [np.column_stack([self.sx1, self.sy1]), np.column_stack([self.sx2, self.sy2])], axis=1
                )
            ),
        )
        self.segments = segs
        self.tree = shapely.STRtree(segs)
        self._classes = np.array([self.routes[c].road_class for c in self.codes], dtype=object)
        self._cum: dict[tuple[str, int], np.ndarray] = {}

    # --- basic accessors -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.routes)

    @property
    def segment_count(self) -> int:
        return len(self.sx1)

    def route(self, code: str) -> Route:
        try:
            key = normalise_code(code)
        except ValueError:
            raise UnknownRoadError(code=str(code)) from None
        if key not in self.routes:
            raise UnknownRoadError(code=str(code))
        return self.routes[key]

    def to_metric(self, lon: Any, lat: Any) -> tuple[Any, Any]:
        return self._to_m.transform(lon, lat)

    def to_wgs84(self, x: Any, y: Any) -> tuple[Any, Any]:
        return self._to_wgs.transform(x, y)

    def route_geometry_wgs84(self, code: str) -> MultiLineString:
        r = self.route(code)
        lines = []
        for _, c in r.parts:
            lon, lat = self.to_wgs84(c[:, 0], c[:, 1])
            lines.append(LineString(np.column_stack([lon, lat])))
        return MultiLineString(lines)

    def point_at(self, code: str, chainage_m: float) -> tuple[float, float]:
        """Road + chainage → (lon, lat) on the centreline (reverse locate)."""
        r = self.route(code)
        tol = 0.5
        if chainage_m < r.start_m - tol or chainage_m > r.end_m + tol:
            raise StakeOutOfRangeError(
                code=r.code, stake=format_stake(chainage_m), start=r.start_stake, end=r.end_stake
            )
        best: tuple[float, np.ndarray, np.ndarray] | None = None
        for k, (start, c) in enumerate(r.parts):
            cum = self.cumulative(r.code, k, c)
            if start - tol <= chainage_m <= start + cum[-1] + tol:
                best = (start, c, cum)
                break
        if best is None:  # in a gap between pieces with explicit stakes
            raise StakeOutOfRangeError(
                code=r.code, stake=format_stake(chainage_m), start=r.start_stake, end=r.end_stake
            )
        start, c, cum = best
        along = min(max(chainage_m - start, 0.0), float(cum[-1]))
        x = float(np.interp(along, cum, c[:, 0]))
        y = float(np.interp(along, cum, c[:, 1]))
        lon, lat = self.to_wgs84(x, y)
        return float(lon), float(lat)

    def cumulative(self, code: str, k: int, c: np.ndarray) -> np.ndarray:
        """Distance along piece ``k`` of a route at each vertex (cached: ledgers locate many stakes)."""
        key = (code, k)
        cum = self._cum.get(key)
        if cum is None:
            cum = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(c[:, 0]), np.diff(c[:, 1])))])
            self._cum[key] = cum
        return cum

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "code": r.code,
                "name": r.name,
                "road_class": r.road_class,
                "county_code": r.county_code,
                "start_stake": r.start_stake,
                "end_stake": r.end_stake,
                "length_km": round(r.length_m / 1000.0, 3),
                "pieces": len(r.parts),
                "half_road_land_m": r.half_road_land_m,
            }
            for r in (self.routes[c] for c in self.codes)
        ]


assert set(CLASS_BY_LETTER.values()) <= set(ROAD_CLASSES)


def device_geojson(net: RoadNetwork, tolerance_m: float = 0.5, version: str = "") -> dict[str, Any]:
    """The network for a device that computes stakes offline: one LineString per route piece, digitised in the
    direction of increasing chainage, simplified to ``tolerance_m`` (Douglas-Peucker in metres), lon/lat rounded
    to 6 decimals (~0.1 m). ``properties.m`` holds the true chainage (metres) at each vertex, so that a device
    interpolating between vertices gets the server's chainage; the zone widths and defaults that decide the
    control-zone verdict come along (``zones``)."""
    from gis.zones import (
        CONTROL_ZONE_MIN_M,
        DEFAULT_HALF_ROAD_LAND_M,
        LEGAL_BASIS_ROAD_LAND,
        LEGAL_BASIS_ZONE,
    )

    features = []
    for code in net.codes:
        r = net.routes[code]
        for start, c in r.parts:
            seg_len = np.hypot(np.diff(c[:, 0]), np.diff(c[:, 1]))
            m = start + np.concatenate([[0.0], np.cumsum(seg_len)])
            line = shapely.simplify(shapely.linestrings(c[:, 0], c[:, 1], m), tolerance_m)
            xyz = shapely.get_coordinates(line, include_z=True)
            lon, lat = net.to_wgs84(xyz[:, 0], xyz[:, 1])
            features.append(
                {
                    "type": "Feature",
                    "geometry": {
                        "type": "LineString",
                        "coordinates": [[round(float(x), 6), round(float(y), 6)] for x, y in zip(lon, lat)],
                    },
                    "properties": {
                        "code": r.code,
                        "name": r.name,
                        "class": r.road_class,
                        "start_stake": r.start_stake,
                        "end_stake": r.end_stake,
                        "half_road_land_m": r.half_road_land_m,
                        "m": [round(float(v), 1) for v in xyz[:, 2]],
                    },
                }
            )
    return {
        "type": "FeatureCollection",
        "version": version,
        "zones": {
            "control_zone_min_m": CONTROL_ZONE_MIN_M,
            "default_half_road_land_m": DEFAULT_HALF_ROAD_LAND_M,
            "legal_basis_zone": LEGAL_BASIS_ZONE,
            "legal_basis_road_land": LEGAL_BASIS_ROAD_LAND,
        },
        "features": features,
    }
