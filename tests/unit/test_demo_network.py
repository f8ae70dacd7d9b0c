"""patrol_app.demo_network: the synthetic demo road network and the committed file."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pyproj
import pytest
from shapely.geometry import LineString, Point, shape

from patrol_app.demo_network import DEMO_ROADS_FILE, build_demo_network

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA = PROJECT_ROOT / "patrol_app" / "data"
GEOD = pyproj.Geod(ellps="WGS84")
PROPERTY_KEYS = {"code", "name", "class", "county_code", "start_stake", "half_road_land_m", "synthetic"}


@pytest.fixture(scope="module")
def network() -> dict:
    return build_demo_network()


@pytest.fixture(scope="module")
def features(network) -> list[dict]:
    return network["features"]


@pytest.fixture(scope="module")
def roads(features) -> dict[str, list[dict]]:
    by_code: dict[str, list[dict]] = defaultdict(list)
    for f in features:
        by_code[f["properties"]["code"]].append(f)
    return dict(by_code)


@pytest.fixture(scope="module")
def boundary():
    data = json.loads((DATA / "qilin_boundary_wgs84.geojson").read_text(encoding="utf-8"))
    return shape(data["features"][0]["geometry"])


@pytest.fixture(scope="module")
def places() -> dict[str, tuple[float, float]]:
    data = json.loads((DATA / "qilin_places_wgs84.geojson").read_text(encoding="utf-8"))
    return {f["properties"]["name"]: tuple(f["geometry"]["coordinates"]) for f in data["features"]}


def _length_m(coords) -> float:
    return GEOD.geometry_length(LineString(coords))


def test_is_a_feature_collection_of_linestrings(network):
    assert network["type"] == "FeatureCollection"
    assert network["features"]
    for f in network["features"]:
        assert f["type"] == "Feature"
        assert f["geometry"]["type"] == "LineString"
        assert len(f["geometry"]["coordinates"]) >= 2


def test_enough_county_and_township_roads(roads):
    x_codes = {c for c in roads if c.startswith("X")}
    y_codes = {c for c in roads if c.startswith("Y")}
    assert len(x_codes) >= 8 and {f"X{i:03d}" for i in range(1, 9)} <= x_codes
    assert len(y_codes) >= 20 and {f"Y{i:03d}" for i in range(1, 21)} <= y_codes
    assert x_codes | y_codes == set(roads)


def test_properties(features):
    for f in features:
        p = f["properties"]
        assert set(p) == PROPERTY_KEYS
        assert re.fullmatch(r"[XY]\d{3}", p["code"])
        expected_class = {"X": "county", "Y": "township"}[p["code"][0]]
        assert p["class"] == expected_class
        assert p["half_road_land_m"] == {"county": 12.0, "township": 8.0}[expected_class]
        assert isinstance(p["half_road_land_m"], float)
        assert p["county_code"] == "530302"
        assert p["start_stake"] == "K0+000"
        assert p["synthetic"] is True


def test_names_in_the_usual_style(features):
    for f in features:
        name = f["properties"]["name"]
        assert re.fullmatch(r"[\u4e00-\u9fff]+—[\u4e00-\u9fff]+公路", name), name
        for suffix in ("街道办事处", "村委会", "社区", "镇—", "镇公路"):
            assert suffix not in name, name
    names = {f["properties"]["code"]: f["properties"]["name"] for f in features}
    assert len(set(names.values())) == len(names)  # one name per road, no two roads alike


def test_deterministic(network):
    assert build_demo_network() == network


def test_committed_file_equals_the_builder_output(network):
    assert DEMO_ROADS_FILE == DATA / "demo_roads_wgs84.geojson"
    text = DEMO_ROADS_FILE.read_text(encoding="utf-8")
    assert "麒麟" in text  # UTF-8, not \\u escapes
    assert json.loads(text) == network, "regenerate with: python -m patrol_app.demo_network"


def test_coordinates_are_rounded_to_seven_decimals(features):
    for f in features:
        for lon, lat in f["geometry"]["coordinates"]:
            assert round(lon, 7) == lon and round(lat, 7) == lat


def test_every_vertex_strictly_inside_the_boundary(features, boundary):
    for f in features:
        line = LineString(f["geometry"]["coordinates"])
        assert boundary.contains_properly(line), f["properties"]["code"]
        for lon, lat in f["geometry"]["coordinates"]:
            assert boundary.contains_properly(Point(lon, lat))


def test_every_road_is_at_least_2_km(roads):
    for code, parts in roads.items():
        length = sum(_length_m(f["geometry"]["coordinates"]) for f in parts)
        assert length >= 2000.0, (code, length)


def test_total_length_is_plausible(features):
    total_km = sum(_length_m(f["geometry"]["coordinates"]) for f in features) / 1000.0
    assert 150.0 < total_km < 500.0


def test_vertex_spacing(features):
    for f in features:
        coords = f["geometry"]["coordinates"]
        lons1, lats1 = zip(*coords[:-1])
        lons2, lats2 = zip(*coords[1:])
        gaps = GEOD.inv(lons1, lats1, lons2, lats2)[2]
        assert min(gaps) > 50.0, f["properties"]["code"]
        assert max(gaps) < 350.0, f["properties"]["code"]
        mean = sum(gaps) / len(gaps)
        assert 100.0 <= mean <= 300.0


def test_roads_are_not_straight_lines(features):
    # Plausible geometry: every piece bends away from the straight line between its ends by over 1 % of
    # that line's length, and is longer than it.
    for f in features:
        coords = f["geometry"]["coordinates"]
        chord = LineString([coords[0], coords[-1]])
        chord_m = GEOD.inv(*coords[0], *coords[-1])[2]
        deviation_deg = max(chord.distance(Point(p)) for p in coords)
        assert deviation_deg * 100_000 > 0.01 * chord_m, f["properties"]["code"]  # 1e-5 deg < 1.2 m here
        assert _length_m(coords) > 1.002 * chord_m, f["properties"]["code"]


def test_road_ends_are_real_places(features, places):
    lons, lats = zip(*places.values())
    for f in features:
        coords = f["geometry"]["coordinates"]
        for lon, lat in (coords[0], coords[-1]):
            dist = GEOD.inv([lon] * len(lons), [lat] * len(lats), lons, lats)[2]
            assert min(dist) <= 50.0, (f["properties"]["code"], lon, lat)


def test_network_is_connected_through_shared_vertices(features):
    # Roads meeting at a town share that exact vertex, so the whole network is one component.
    owner: dict[tuple[float, float], set[int]] = defaultdict(set)
    for i, f in enumerate(features):
        for lon, lat in f["geometry"]["coordinates"]:
            owner[(lon, lat)].add(i)
    parent = list(range(len(features)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for ids in owner.values():
        first, *rest = sorted(ids)
        for other in rest:
            parent[find(other)] = find(first)
    assert len({find(i) for i in range(len(features))}) == 1


def test_exactly_one_road_in_two_pieces_the_second_reversed(roads):
    multi = {code: parts for code, parts in roads.items() if len(parts) > 1}
    assert len(multi) == 1
    ((code, parts),) = multi.items()
    assert code.startswith("X") and len(parts) == 2
    first = parts[0]["geometry"]["coordinates"]
    second = parts[1]["geometry"]["coordinates"]
    # The junction: the end of the first piece is the END of the second (digitised in reverse) ...
    assert first[-1] == second[-1]
    # ... and the two pieces share nothing else.
    assert first[0] != second[0]
    assert set(map(tuple, first)) & set(map(tuple, second)) == {tuple(first[-1])}
    assert parts[0]["properties"] == parts[1]["properties"]


def test_data_readme_labels_the_demo_as_synthetic_and_credits_the_sources():
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert "demo_roads_wgs84.geojson" in readme and "SYNTHETIC" in readme
    assert "python -m patrol_app.demo_network" in readme
    assert "Vonng/adcode" in readme and "CC BY 4.0" in readme and "GCJ-02" in readme
    for name in ("qilin_boundary_wgs84.geojson", "qilin_places_wgs84.geojson"):
        assert name in readme
        assert (DATA / name).is_file()
