"""Issue targets: batch locate of 100,000 points against 5,000 segments ≤ 2 s; one locate < 5 ms."""

from gis.linref import locate, locate_arrays, locate_columns


def test_batch_locate_100k_points_5000_segments(benchmark, big_network, points_100k):
    lon, lat = points_100k
    res = benchmark.pedantic(locate_arrays, args=(big_network, lon, lat, 100.0), rounds=5, iterations=1)
    assert res.found.mean() > 0.99


def test_batch_locate_columns_100k(benchmark, big_network, points_100k):
    """The whole --batch output (stake text, side, zone verdict per row), beyond the locate step."""
    lon, lat = points_100k
    cols = benchmark.pedantic(locate_columns, args=(big_network, lon, lat, 100.0), rounds=3, iterations=1)
    assert sum(c is not None for c in cols["stake"]) > 99_000


def test_single_locate(benchmark, big_network, points_100k):
    lon, lat = points_100k
    pos = benchmark(locate, big_network, float(lon[0]), float(lat[0]))
    assert pos.road_code
