"""The synthetic demo road network of Qilin District (麒麟区, 530302).

No open road network of the district exists, so the demo roads are drawn here: county roads (县道, X…)
join the district seat with the outlying towns, township roads (乡道, Y…) join towns with villages and
communities, and a few village-to-village links close loops. Their ends are REAL places
(``patrol_app/data/qilin_places_wgs84.geojson``, Vonng/adcode, CC BY 4.0) and every vertex lies inside the REAL
district boundary (``patrol_app/data/qilin_boundary_wgs84.geojson``), but the codes, names and geometry are invented:
they are not the district's real 县道/乡道. Every feature carries ``synthetic: true``.

The build is fully deterministic (one ``random.Random`` per road and attempt, seeded with a fixed string),
so ``build_demo_network()`` always returns the same FeatureCollection and ``patrol_app/data/demo_roads_wgs84.geojson``
is just its output, regenerated with::

    python -m patrol_app.demo_network

County road X001 comes as two features under the same code, the second digitised in reverse direction; the two
share the junction vertex (三宝). Consumers must assemble multi-part routes.

Roads are drawn in code order; a road is redrawn (other random draws, less jitter) until it stays inside the
boundary and does not run alongside, or re-meet, a road drawn before it away from the places.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shapely.geometry import LineString, Point, Polygon, shape
from shapely.ops import unary_union

from patrol_app.district import BOUNDARY_FILE, DATA_DIR, DEMO_ROADS_FILE, PLACES_FILE

__all__ = [
    "BOUNDARY_FILE",
    "COUNTY_CODE",
    "DATA_DIR",
    "DEMO_ROADS_FILE",
    "PLACES_FILE",
    "build_demo_network",
    "short_place_name",
    "write_demo_network",
]


COUNTY_CODE = "530302"
START_STAKE = "K0+000"
HALF_ROAD_LAND_M = {"county": 12.0, "township": 8.0}

_SEED = "qilin-demo-roads-v1"
_DECIMALS = 7
# Vertex spacing along a road, metres.
_STEP_MIN_M, _STEP_MAX_M, _MAX_GAP_M = 120.0, 280.0, 300.0
# Large bends: control points every ~3 km, lateral jitter (typical) as a fraction of the segment length.
_BEND_SPACING_M, _BEND_SIGMA_FRAC = 3000.0, 0.03
# Small wiggles: control points every ~600 m, lateral jitter (typical) in metres.
_WIGGLE_SPACING_M, _WIGGLE_SIGMA_M = 600.0, 30.0
# Keep every vertex at least this far inside the boundary (degrees, ≈ 30 m).
_BOUNDARY_MARGIN_DEG = 0.0003
# Roads may come close only inside these zones around places (junctions); elsewhere no more than
# _MAX_ALONGSIDE_M of a road may lie within _CLEARANCE_M of another.
_JUNCTION_ZONE_M = 400.0
_CLEARANCE_M = 150.0
_MAX_ALONGSIDE_M = 350.0
# Attempts per road, each with its own random draws and the jitter scaled by _ATTEMPT_DAMPING ** attempt.
_MAX_ATTEMPTS = 16
_ATTEMPT_DAMPING = 0.9
_EARTH_RADIUS_M = 6371008.8

_SUFFIXES = ("街道办事处", "街道", "村委会", "社区", "镇", "乡", "区")


@dataclass(frozen=True)
class _RoadSpec:
    code: str
    road_class: str  # "county" | "township"
    via: tuple[str, ...]  # full place names, in the route's forward direction
    name: str | None = None  # default: "<first>—<last>公路" from the short place names
    split_at: str | None = None  # digitise as two pieces meeting here, the second one reversed


# County roads (县道): the district seat (in 南宁街道) and the central subdistricts to the outlying towns.
_COUNTY_ROADS: tuple[_RoadSpec, ...] = (
    _RoadSpec(
        "X001",
        "county",
        ("麒麟区", "潇湘街道办事处", "益宁街道办事处", "雅户社区", "三宝街道办事处", "马坊村委会", "越州镇"),
        split_at="三宝街道办事处",
    ),
    _RoadSpec("X002", "county", ("麒麟区", "沿江街道办事处", "茨营镇")),
    _RoadSpec("X003", "county", ("越州镇", "向桂社区", "东山镇")),
    _RoadSpec("X004", "county", ("茨营镇", "东山镇")),
    _RoadSpec("X005", "county", ("麒麟区", "文华街道办事处", "代河社区", "长河社区", "珠街街道办事处")),
    _RoadSpec(
        "X006", "county", ("麒麟区", "建宁街道办事处", "西城街道办事处", "王三屯社区"), name="麒麟—翠峰公路"
    ),
    _RoadSpec("X007", "county", ("越州镇", "茨营镇")),
    _RoadSpec("X008", "county", ("珠街街道办事处", "杨家村委会", "茨营镇")),
    _RoadSpec("X009", "county", ("麒麟区", "白石江街道办事处", "太和街道办事处")),
)

# Township roads (乡道): towns to villages/communities, and a few village-to-village links.
_TOWNSHIP_ROADS: tuple[_RoadSpec, ...] = (
    _RoadSpec("Y001", "township", ("马坊村委会", "上坡村委会")),
    _RoadSpec("Y002", "township", ("越州镇", "黄泥堡村委会")),
    _RoadSpec("Y003", "township", ("越州镇", "鸡汤村委会")),
    _RoadSpec("Y004", "township", ("三宝街道办事处", "兴龙村委会")),
    _RoadSpec("Y005", "township", ("三宝街道办事处", "黄旗村委会")),
    _RoadSpec("Y006", "township", ("黄旗村委会", "上坡村委会")),
    _RoadSpec("Y007", "township", ("鸡汤村委会", "马坊村委会")),
    _RoadSpec("Y008", "township", ("茨营镇", "上坡村委会")),
    _RoadSpec("Y009", "township", ("茨营镇", "向桂社区")),
    _RoadSpec("Y010", "township", ("杨家村委会", "哈马寨村委会")),
    _RoadSpec("Y011", "township", ("东山镇", "石头寨村委会")),
    _RoadSpec("Y012", "township", ("向桂社区", "石头寨村委会")),
    _RoadSpec("Y013", "township", ("珠街街道办事处", "堡子村委会")),
    _RoadSpec("Y014", "township", ("珠街街道办事处", "桂花社区")),
    _RoadSpec("Y015", "township", ("丰登社区", "桂花社区")),
    _RoadSpec("Y016", "township", ("西城街道办事处", "麻黄社区")),
    _RoadSpec("Y017", "township", ("太和街道办事处", "王三屯社区")),
    _RoadSpec("Y018", "township", ("金麟社区", "雅户社区")),
    _RoadSpec("Y019", "township", ("沿江街道办事处", "兴龙村委会")),
    _RoadSpec("Y020", "township", ("沿江街道办事处", "长河社区")),
    _RoadSpec("Y021", "township", ("黄泥堡村委会", "石头寨村委会")),
)

ROAD_SPECS: tuple[_RoadSpec, ...] = _COUNTY_ROADS + _TOWNSHIP_ROADS


def short_place_name(name: str) -> str:
    """A place name without its administrative suffix: "越州镇" → "越州", "上坡村委会" → "上坡"."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _road_name(spec: _RoadSpec) -> str:
    if spec.name:
        return spec.name
    return f"{short_place_name(spec.via[0])}—{short_place_name(spec.via[-1])}公路"


def _load_places(path: Path = PLACES_FILE) -> dict[str, tuple[float, float]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    places: dict[str, tuple[float, float]] = {}
    for feature in data["features"]:
        lon, lat = feature["geometry"]["coordinates"][:2]
        places[feature["properties"]["name"]] = (float(lon), float(lat))
    return places


def _load_boundary(path: Path = BOUNDARY_FILE) -> Polygon:
    data = json.loads(path.read_text(encoding="utf-8"))
    geom = shape(data["features"][0]["geometry"])
    if not isinstance(geom, Polygon):
        raise ValueError(f"{path.name}: expected one Polygon, got {geom.geom_type}")
    return geom


class _LocalPlane:
    """Equirectangular metres around a fixed origin: plenty for drawing synthetic roads, and pure math."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0 = lon0
        self.lat0 = lat0
        self.m_per_deg_lat = _EARTH_RADIUS_M * math.pi / 180.0
        self.m_per_deg_lon = self.m_per_deg_lat * math.cos(math.radians(lat0))

    def to_xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.m_per_deg_lon, (lat - self.lat0) * self.m_per_deg_lat

    def to_lonlat(self, x: float, y: float) -> tuple[float, float]:
        return self.lon0 + x / self.m_per_deg_lon, self.lat0 + y / self.m_per_deg_lat


def _spline(ts: list[float], vs: list[float], t: float) -> float:
    """Cubic Hermite (Catmull-Rom style slopes) through the knots (ts, vs), evaluated at t."""
    i = max(0, min(len(ts) - 2, bisect.bisect_right(ts, t) - 1))
    t0, t1 = ts[i], ts[i + 1]
    v0, v1 = vs[i], vs[i + 1]

    def slope(k: int) -> float:
        lo, hi = max(0, k - 1), min(len(ts) - 1, k + 1)
        return (vs[hi] - vs[lo]) / (ts[hi] - ts[lo])

    h = t1 - t0
    s = (t - t0) / h
    h00 = 2 * s**3 - 3 * s**2 + 1
    h10 = s**3 - 2 * s**2 + s
    h01 = -2 * s**3 + 3 * s**2
    h11 = s**3 - s**2
    return h00 * v0 + h10 * h * slope(i) + h01 * v1 + h11 * h * slope(i + 1)


def _jitter_knots(rng: random.Random, n_inner: int, sigma: float) -> tuple[list[float], list[float]]:
    """Knots at t = 0, ~1/(n+1), …, 1 with lateral offsets of 0.4–1.6 sigma, 0 at both ends.

    Consecutive offsets usually swap sides, so the road meanders instead of drifting to one side.
    """
    ts = [0.0]
    vs = [0.0]
    side = rng.choice((-1.0, 1.0))
    for k in range(1, n_inner + 1):
        ts.append((k + rng.uniform(-0.25, 0.25)) / (n_inner + 1))
        if rng.random() < 0.7:
            side = -side
        vs.append(side * sigma * rng.uniform(0.4, 1.6))
    ts.append(1.0)
    vs.append(0.0)
    return ts, vs


def _segment(
    rng: random.Random, plane: _LocalPlane, a: tuple[float, float], b: tuple[float, float], scale: float
) -> list[tuple[float, float]]:
    """Vertices (lon, lat) of a bending road from place a to place b, both ends exact, ~100–300 m apart.

    The lateral offset from the chord is the sum of two smooth curves through jittered control points:
    large bends (a few % of the length) and small wiggles (tens of metres), both zero at the ends and
    multiplied by ``scale``.
    """
    ax, ay = plane.to_xy(*a)
    bx, by = plane.to_xy(*b)
    length = math.hypot(bx - ax, by - ay)
    ux, uy = (bx - ax) / length, (by - ay) / length
    nx, ny = -uy, ux

    bend_t, bend_v = _jitter_knots(rng, max(1, round(length / _BEND_SPACING_M)), _BEND_SIGMA_FRAC * length)
    wiggle_t, wiggle_v = _jitter_knots(rng, max(1, round(length / _WIGGLE_SPACING_M)), _WIGGLE_SIGMA_M)

    def at(d: float) -> tuple[float, float]:
        t = d / length
        off = scale * (_spline(bend_t, bend_v, t) + _spline(wiggle_t, wiggle_v, t))
        return ax + ux * d + nx * off, ay + uy * d + ny * off

    distances = [0.0]
    while True:
        d = distances[-1] + rng.uniform(_STEP_MIN_M, _STEP_MAX_M)
        if d > length - _STEP_MIN_M / 2:
            break
        distances.append(d)
    distances.append(length)
    # Bends stretch the gaps a little: split any gap that came out longer than allowed.
    samples = [0.0]
    for d0, d1 in zip(distances[:-1], distances[1:]):
        if math.dist(at(d0), at(d1)) > _MAX_GAP_M:
            samples.append((d0 + d1) / 2)
        samples.append(d1)

    vertices = [a]
    for d in samples[1:-1]:
        lon, lat = plane.to_lonlat(*at(d))
        vertices.append((round(lon, _DECIMALS), round(lat, _DECIMALS)))
    vertices.append(b)
    return vertices


class _Layout:
    """The rules a new road must satisfy: inside the boundary, and clear of the roads already drawn.

    Roads may cross (at-grade crossings without a shared vertex are fine for a demo), but outside the
    junction zones around places a road must not run alongside another one, and two roads that meet at a
    place must not meet again elsewhere.
    """

    def __init__(self, inner: Polygon, plane: _LocalPlane, places: dict[str, tuple[float, float]]) -> None:
        self.inner = inner
        self.plane = plane
        self.zones = unary_union([Point(plane.to_xy(*p)).buffer(_JUNCTION_ZONE_M) for p in places.values()])
        self.built: list[tuple[frozenset[str], LineString, Polygon]] = []

    def _xy(self, coords: list[tuple[float, float]]) -> LineString:
        return LineString([self.plane.to_xy(lon, lat) for lon, lat in coords])

    def inside(self, coords: list[tuple[float, float]]) -> bool:
        return bool(self.inner.contains_properly(LineString(coords)))

    def clear(self, via: tuple[str, ...], coords: list[tuple[float, float]]) -> bool:
        outside_zones = self._xy(coords).difference(self.zones)
        for other_via, other, other_corridor in self.built:
            if outside_zones.intersection(other_corridor).length > _MAX_ALONGSIDE_M:
                return False
            if other_via.intersection(via) and outside_zones.intersects(other):
                return False
        return True

    def add(self, via: tuple[str, ...], coords: list[tuple[float, float]]) -> None:
        line = self._xy(coords)
        self.built.append((frozenset(via), line, line.buffer(_CLEARANCE_M)))


def _route(
    spec: _RoadSpec, places: dict[str, tuple[float, float]], layout: _Layout
) -> list[tuple[float, float]]:
    """The whole route's vertices in its forward direction.

    Tries a few deterministic variants with less and less jitter until the road fits the layout; the last
    resort is straight lines between the places, which only has to stay inside the boundary.
    """
    points = [places[name] for name in spec.via]
    for attempt in range(_MAX_ATTEMPTS + 1):
        last = attempt == _MAX_ATTEMPTS
        scale = 0.0 if last else _ATTEMPT_DAMPING**attempt
        rng = random.Random(f"{_SEED}:{spec.code}:{attempt}")
        coords: list[tuple[float, float]] = [points[0]]
        for a, b in zip(points[:-1], points[1:]):
            coords.extend(_segment(rng, layout.plane, a, b, scale)[1:])
        if layout.inside(coords) and (last or layout.clear(spec.via, coords)):
            layout.add(spec.via, coords)
            return coords
    raise ValueError(f"demo road {spec.code}: cannot keep {spec.via} inside the district boundary")


def _feature(spec: _RoadSpec, coords: list[tuple[float, float]]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {
            "code": spec.code,
            "name": _road_name(spec),
            "class": spec.road_class,
            "county_code": COUNTY_CODE,
            "start_stake": START_STAKE,
            "half_road_land_m": HALF_ROAD_LAND_M[spec.road_class],
            "synthetic": True,
        },
        "geometry": {"type": "LineString", "coordinates": [[lon, lat] for lon, lat in coords]},
    }


def build_demo_network() -> dict[str, Any]:
    """Build the synthetic demo road network as a GeoJSON FeatureCollection (WGS-84 lon/lat).

    Deterministic: every call returns an equal dict. Coordinates are rounded to 7 decimals; road ends are the
    exact coordinates of real places, so roads meeting at a town share that vertex.

    Returns
    -------
    dict
        ``{"type": "FeatureCollection", "description": ..., "features": [...]}``, one LineString feature per
        road, except X001 which comes as two pieces (the second digitised in reverse). Properties: ``code``,
        ``name``, ``class`` ("county"/"township"), ``county_code``, ``start_stake``, ``half_road_land_m``,
        ``synthetic``.
    """
    places = _load_places()
    boundary = _load_boundary()
    inner = boundary.buffer(-_BOUNDARY_MARGIN_DEG)
    plane = _LocalPlane(round(boundary.centroid.x, 3), round(boundary.centroid.y, 3))
    layout = _Layout(inner, plane, places)

    features: list[dict[str, Any]] = []
    for spec in ROAD_SPECS:
        missing = [name for name in spec.via if name not in places]
        if missing:
            raise KeyError(f"demo road {spec.code}: unknown places {missing}")
        if not all(inner.contains_properly(Point(places[name])) for name in spec.via):
            raise ValueError(f"demo road {spec.code}: a place of {spec.via} is too close to the boundary")
        coords = _route(spec, places, layout)
        if spec.split_at is None:
            features.append(_feature(spec, coords))
            continue
        junction = coords.index(places[spec.split_at])
        features.append(_feature(spec, coords[: junction + 1]))
        features.append(_feature(spec, coords[junction:][::-1]))

    return {
        "type": "FeatureCollection",
        "description": (
            "SYNTHETIC demo road network of Qilin District (530302): road codes, names and geometry are "
            "invented, not the real county/township roads. Generated by patrol_app.demo_network."
        ),
        "features": features,
    }


def _dumps(collection: dict[str, Any]) -> str:
    """Compact GeoJSON text with one feature per line."""
    head = {k: v for k, v in collection.items() if k != "features"}
    lines = [json.dumps(f, ensure_ascii=False) for f in collection["features"]]
    return json.dumps(head, ensure_ascii=False)[:-1] + ', "features": [\n' + ",\n".join(lines) + "\n]}\n"


def write_demo_network(path: Path | str = DEMO_ROADS_FILE) -> Path:
    """Write ``build_demo_network()`` to ``path`` (UTF-8 GeoJSON) and return the path."""
    path = Path(path)
    path.write_text(_dumps(build_demo_network()), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m patrol_app.demo_network", description="Write the synthetic demo road network."
    )
    parser.add_argument("--output", "-o", type=Path, default=DEMO_ROADS_FILE, help="default: %(default)s")
    args = parser.parse_args(argv)
    path = write_demo_network(args.output)

    from pyproj import Geod  # only for the summary line

    geod = Geod(ellps="WGS84")
    features = json.loads(path.read_text(encoding="utf-8"))["features"]
    km = sum(geod.geometry_length(shape(f["geometry"])) for f in features) / 1000.0
    codes = {f["properties"]["code"] for f in features}
    print(f"wrote {path}: {len(codes)} roads ({len(features)} features), {km:.1f} km")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
