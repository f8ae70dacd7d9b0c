"""``locate_columns`` (the vectorised ``patrol locate --batch``) says exactly what ``locate`` says point by point:
the same road, stake, side, offset and deciding road — near junctions (ties of the nearest segment, several roads
in reach), on village and special roads, and out of reach."""

import math

import numpy as np
import pytest
from shapely.geometry import LineString

from gis.errors import NoRoadInReachError
from gis.linref import LOCATE_COLUMNS, format_stakes, locate, locate_columns
from gis.roads import RoadNetwork, RoadPiece, read_road_file
from gis.stakes import format_stake
from patrol_app.district import DEMO_ROADS_FILE


def _junction_network() -> RoadNetwork:
    """Four roads of four classes meeting at one vertex, plus a parallel pair 20 m apart."""
    c = (103.80, 25.50)
    d = 0.01
    return RoadNetwork(
        [
            RoadPiece("X001", LineString([c, (c[0] + d, c[1])]), "", "county"),
            RoadPiece("Y001", LineString([c, (c[0], c[1] + d)]), "", "township", half_road_land_m=10.0),
            RoadPiece("C001", LineString([c, (c[0] - d, c[1])]), "", "village"),
            RoadPiece("Z001", LineString([c, (c[0], c[1] - d)]), "", "special"),
            RoadPiece("X002", LineString([(103.90, 25.50), (103.92, 25.50)]), "", "county"),
            RoadPiece("Y002", LineString([(103.90, 25.5001796), (103.92, 25.5001796)]), "", "township"),
        ]
    )


@pytest.mark.parametrize("which", ["junctions", "demo"])
def test_batch_equals_point_by_point(which):
    net = _junction_network() if which == "junctions" else RoadNetwork(read_road_file(DEMO_ROADS_FILE))
    rng = np.random.default_rng(1)
    if which == "junctions":
        lon = np.concatenate(
            [rng.normal(103.80, 0.0006, 300), rng.uniform(103.90, 103.92, 200), [103.80, 103.85]]
        )
        lat = np.concatenate(
            [rng.normal(25.50, 0.0006, 300), rng.normal(25.50009, 0.0002, 200), [25.50, 25.60]]
        )
    else:
        seg = rng.integers(0, net.segment_count, 400)
        x = (net.sx1[seg] + net.sx2[seg]) / 2 + rng.normal(0, 40, 400)
        y = (net.sy1[seg] + net.sy2[seg]) / 2 + rng.normal(0, 40, 400)
        lon, lat = (np.asarray(v) for v in net.to_wgs84(x, y))
    cols = locate_columns(net, lon, lat, 100.0)
    assert set(cols) == set(LOCATE_COLUMNS)
    misses = 0
    for i in range(len(lon)):
        try:
            pos = locate(net, float(lon[i]), float(lat[i]), 100.0).as_dict()
        except NoRoadInReachError:
            misses += 1
            assert all(cols[k][i] is None for k in LOCATE_COLUMNS), i
            continue
        for k in LOCATE_COLUMNS:
            assert cols[k][i] == pos[k], (i, k, cols[k][i], pos[k])
    assert 0 < misses < len(lon) // 3


def test_format_stakes_is_format_stake():
    ch = np.array([0.0, 0.4, 0.5, 1.5, 999.5, 1000.0, 3250.4, 3250.5, 3251.5, 123456.7, -12.6, -0.4])
    assert format_stakes(ch) == [format_stake(float(v)) for v in ch]
    assert not any(math.isnan(v) for v in ch)
