import numpy as np
import pytest
from shapely.geometry import LineString

from gis.roads import RoadNetwork, RoadPiece


@pytest.fixture(scope="session")
def big_pieces():
    """5,000 segments: 50 county/township roads of 100 segments each, wandering over the district."""
    rng = np.random.default_rng(7)
    pieces = []
    for k in range(50):
        lon0, lat0 = rng.uniform(103.70, 104.10), rng.uniform(25.15, 25.55)
        ang = rng.uniform(0, 2 * np.pi)
        steps = rng.normal(0, 0.15, 100).cumsum() + ang
        dx, dy = 0.0025 * np.cos(steps), 0.0025 * np.sin(steps)  # ~250 m steps
        xy = np.column_stack(
            [lon0 + np.concatenate([[0], dx.cumsum()]), lat0 + np.concatenate([[0], dy.cumsum()])]
        )
        code = f"X{k + 1:03d}" if k < 20 else f"Y{k + 1:03d}"
        pieces.append(RoadPiece(code, LineString(xy), "", "county" if k < 20 else "township"))
    return pieces


@pytest.fixture(scope="session")
def big_network(big_pieces):
    net = RoadNetwork(big_pieces)
    assert net.segment_count == 5000
    return net


@pytest.fixture(scope="session")
def points_100k(big_network):
    rng = np.random.default_rng(11)
    n = 100_000
    seg = rng.integers(0, big_network.segment_count, n)
    t = rng.uniform(0, 1, n)
    x = big_network.sx1[seg] + t * (big_network.sx2[seg] - big_network.sx1[seg]) + rng.normal(0, 30, n)
    y = big_network.sy1[seg] + t * (big_network.sy2[seg] - big_network.sy1[seg]) + rng.normal(0, 30, n)
    lon, lat = big_network.to_wgs84(x, y)
    return np.asarray(lon), np.asarray(lat)
