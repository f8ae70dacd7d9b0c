"""gis.crs: GCJ-02 ⇄ WGS-84 and the local metric CRS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyproj
import pytest

from gis.crs import gcj02_to_wgs84, local_metric_crs, out_of_china, transformers, wgs84_to_gcj02

GEOD = pyproj.Geod(ellps="WGS84")
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: District seat of Qilin (WGS-84), from data/qilin_places_wgs84.geojson.
QILIN_SEAT = (103.8027267, 25.4983405)
#: District bbox (WGS-84), FACTS.md §5.
QILIN_BBOX = (103.65, 25.11, 104.22, 25.61)


def _metres(lon1, lat1, lon2, lat2):
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def _bbox_grid(n: int = 25) -> tuple[np.ndarray, np.ndarray]:
    lon_min, lat_min, lon_max, lat_max = QILIN_BBOX
    lon, lat = np.meshgrid(np.linspace(lon_min, lon_max, n), np.linspace(lat_min, lat_max, n))
    return lon.ravel(), lat.ravel()


# --- GCJ-02 ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wgs", "gcj"),
    [
        # The reference vector of the public formula (coordtransform, eviltransform, Hutool …).
        ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
    ],
)
def test_wgs84_to_gcj02_known_vector(wgs, gcj):
    lon, lat = wgs84_to_gcj02(*wgs)
    assert lon == pytest.approx(gcj[0], abs=1e-9)
    assert lat == pytest.approx(gcj[1], abs=1e-9)
    back = gcj02_to_wgs84(*gcj)
    assert _metres(*back, *wgs) < 0.01


@pytest.mark.parametrize(
    "wgs",
    [
        QILIN_SEAT,
        (103.8757323, 25.3012457),  # 越州镇
        (104.0604918, 25.2515727),  # 东山镇
        (103.7171232, 25.5383865),  # 王三屯社区
    ],
)
def test_gcj02_offset_in_qilin_is_a_few_hundred_metres(wgs):
    gcj = wgs84_to_gcj02(*wgs)
    offset = _metres(*wgs, *gcj)
    assert 300.0 < offset < 500.0
    # The offset points north-east-ish (east component dominant) in Yunnan.
    assert gcj[0] > wgs[0]


def test_gcj02_offset_at_the_seat_matches_facts():
    # FACTS.md §4: "offset ≈ 380–400 m inside Qilin District".
    assert 380.0 <= _metres(*QILIN_SEAT, *wgs84_to_gcj02(*QILIN_SEAT)) <= 400.0


def test_round_trip_over_the_district_is_below_a_centimetre():
    lon, lat = _bbox_grid()
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.max(_metres(lon, lat, back_lon, back_lat)) < 0.01


def test_inverse_then_forward_returns_the_gcj02_input():
    lon, lat = _bbox_grid()  # read as GCJ-02 coordinates this time
    fwd_lon, fwd_lat = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))
    assert np.max(_metres(lon, lat, fwd_lon, fwd_lat)) < 0.01


def test_inverse_is_exact_not_one_step():
    # The naive one-step inverse (gcj - offset(gcj)) is off by ~0.4 m here; the iterative one is not.
    gcj = wgs84_to_gcj02(*QILIN_SEAT)
    assert _metres(*gcj02_to_wgs84(*gcj), *QILIN_SEAT) < 0.001


def test_scalars_return_floats():
    lon, lat = wgs84_to_gcj02(*QILIN_SEAT)
    assert type(lon) is float and type(lat) is float
    lon, lat = gcj02_to_wgs84(np.float64(103.8), np.float64(25.5))
    assert type(lon) is float and type(lat) is float


@pytest.mark.parametrize("func", [wgs84_to_gcj02, gcj02_to_wgs84])
def test_arrays_and_scalars_agree(func):
    lon, lat = _bbox_grid(7)
    arr_lon, arr_lat = func(lon, lat)
    assert isinstance(arr_lon, np.ndarray) and arr_lon.shape == lon.shape
    for i in range(lon.size):
        s_lon, s_lat = func(float(lon[i]), float(lat[i]))
        assert s_lon == pytest.approx(arr_lon[i], abs=1e-12)
        assert s_lat == pytest.approx(arr_lat[i], abs=1e-12)


@pytest.mark.parametrize("func", [wgs84_to_gcj02, gcj02_to_wgs84])
def test_array_shape_is_kept_and_input_untouched(func):
    lon, lat = _bbox_grid(4)
    lon2d, lat2d = lon.reshape(4, 4), lat.reshape(4, 4)
    before = lon2d.copy()
    out_lon, out_lat = func(lon2d, lat2d)
    assert out_lon.shape == (4, 4) and out_lat.shape == (4, 4)
    np.testing.assert_array_equal(lon2d, before)


def test_lists_and_broadcasting():
    lon, lat = wgs84_to_gcj02([103.8, 103.9], 25.5)
    assert isinstance(lon, np.ndarray) and lon.shape == (2,)
    assert lat[0] == pytest.approx(wgs84_to_gcj02(103.8, 25.5)[1], abs=1e-12)


@pytest.mark.parametrize("point", [(2.3522, 48.8566), (-74.006, 40.7128), (151.2093, -33.8688), (72.0, 30.0)])
@pytest.mark.parametrize("func", [wgs84_to_gcj02, gcj02_to_wgs84])
def test_outside_china_is_unchanged(func, point):
    assert out_of_china(*point)
    assert func(*point) == point


def test_mixed_array_converts_only_points_in_china():
    lon = np.array([2.3522, QILIN_SEAT[0]])
    lat = np.array([48.8566, QILIN_SEAT[1]])
    np.testing.assert_array_equal(out_of_china(lon, lat), [True, False])
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    assert (g_lon[0], g_lat[0]) == (lon[0], lat[0])
    assert _metres(lon[1], lat[1], g_lon[1], g_lat[1]) > 300.0
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert np.max(_metres(lon, lat, w_lon, w_lat)) < 0.01


def test_empty_arrays():
    lon, lat = gcj02_to_wgs84(np.array([]), np.array([]))
    assert lon.size == 0 and lat.size == 0


# --- local metric CRS -----------------------------------------------------------------------------------


def test_local_metric_crs_parameters():
    crs = local_metric_crs(103.80271, 25.49834)
    assert crs.is_projected
    params = dict(item.lstrip("+").partition("=")[::2] for item in crs.srs.split())
    assert params["proj"] == "tmerc"
    assert float(params["lon_0"]) == pytest.approx(103.803)
    assert float(params["k"]) == 1.0
    assert float(params["x_0"]) == 500000.0
    assert params["ellps"] == "GRS80"
    assert crs.axis_info[0].unit_name == "metre"
    to_metric, _ = transformers(crs)
    x, _y = to_metric.transform(103.803, 25.5)
    assert x == pytest.approx(500000.0, abs=1e-6)


def test_local_metric_crs_rejects_nonsense():
    with pytest.raises(ValueError):
        local_metric_crs(250.0, 25.0)


@pytest.mark.parametrize("origin", [QILIN_SEAT, (104.06, 25.25), (103.72, 25.54)])
@pytest.mark.parametrize("azimuth", [0.0, 45.0, 90.0, 137.0, 200.0, 300.0])
def test_one_kilometre_is_one_kilometre(origin, azimuth):
    crs = local_metric_crs(*QILIN_SEAT)  # one CRS for the whole district
    to_metric, _ = transformers(crs)
    lon2, lat2, _ = GEOD.fwd(origin[0], origin[1], azimuth, 1000.0)
    x1, y1 = to_metric.transform(*origin)
    x2, y2 = to_metric.transform(lon2, lat2)
    assert np.hypot(x2 - x1, y2 - y1) == pytest.approx(1000.0, abs=0.5)


def test_transformers_round_trip_and_axis_order():
    to_metric, to_wgs84 = transformers(local_metric_crs(*QILIN_SEAT))
    x, y = to_metric.transform(*QILIN_SEAT)
    assert 400000 < x < 600000 and 2_000_000 < y < 3_500_000  # (lon, lat) in, (easting, northing) out
    lon, lat = to_wgs84.transform(x, y)
    assert _metres(lon, lat, *QILIN_SEAT) < 1e-6


def test_transformers_are_cached_by_proj_string():
    first = transformers(local_metric_crs(103.8, 25.5))
    again = transformers(local_metric_crs(103.8004, 25.0))  # same central meridian after rounding
    assert first[0] is again[0] and first[1] is again[1]
    other = transformers(local_metric_crs(103.9, 25.5))
    assert other[0] is not first[0]


def test_transformers_accept_epsg_codes():
    to_metric, to_wgs84 = transformers("EPSG:4544")  # CGCS2000 3° Gauss-Krüger CM 105°E
    x, y = to_metric.transform(*QILIN_SEAT)
    assert _metres(*to_wgs84.transform(x, y), *QILIN_SEAT) < 1e-3


def test_gis_crs_does_not_import_streamlit():
    code = "import sys, gis.crs; assert 'streamlit' not in sys.modules, 'streamlit imported'"
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True)
