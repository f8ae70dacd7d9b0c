"""Coordinate systems: GCJ-02 ⇄ WGS-84 and a local metric CRS.

The project stores WGS-84 (lon, lat) everywhere. GCJ-02 ("Mars coordinates", used by 高德 AMap, 腾讯 and
DataV boundary files) is converted to only for display on GCJ-02 tiles, and from only when importing GCJ-02
data. In eastern Yunnan the two differ by roughly 380–400 m, so skipping the conversion makes any
control-zone check (5–10 m) meaningless.

The GCJ-02 formula is the public one, as in the public-domain ``prcoords`` library (Krasovsky ellipsoid
a = 6378245.0, e² = 0.00669342162296594323). ``gcj02_to_wgs84`` is the iterative exact inverse
(prcoords ``gcj_wgs_bored`` style): its round-trip error is far below a centimetre.

Argument order is always (lon, lat). Both conversions accept scalars or numpy arrays (broadcast together)
and return the same kind: a tuple of Python floats for scalar input, a tuple of numpy arrays otherwise.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import numpy.typing as npt
import pyproj

__all__ = [
    "GCJ_A",
    "GCJ_EE",
    "gcj02_to_wgs84",
    "local_metric_crs",
    "out_of_china",
    "transformers",
    "wgs84_to_gcj02",
]

#: Semi-major axis of the Krasovsky 1940 ellipsoid used by the GCJ-02 formula, metres.
GCJ_A = 6378245.0
#: First eccentricity squared of the Krasovsky 1940 ellipsoid.
GCJ_EE = 0.00669342162296594323

# The usual rough "in China" box of the public formula (prcoords ``sanity_in_china_p``).
_CHINA_LON_MIN, _CHINA_LON_MAX = 72.004, 137.8347
_CHINA_LAT_MIN, _CHINA_LAT_MAX = 0.8293, 55.8271

# Inverse iteration: stop when the correction is below this (degrees, ≈ 1e-5 mm) or after this many steps.
_INVERSE_EPS_DEG = 1e-11
_INVERSE_MAX_ITER = 30


def _is_scalar(lon: npt.ArrayLike, lat: npt.ArrayLike) -> bool:
    return np.ndim(lon) == 0 and np.ndim(lat) == 0


def _as_arrays(lon: object, lat: object) -> tuple[np.ndarray, np.ndarray]:
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    # broadcast_arrays returns read-only views; the caller works on fresh copies.
    return np.array(lon_a, dtype=float), np.array(lat_a, dtype=float)


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < _CHINA_LON_MIN) | (lon > _CHINA_LON_MAX) | (lat < _CHINA_LAT_MIN) | (lat > _CHINA_LAT_MAX)


def out_of_china(lon, lat):
    """True where (lon, lat) lies outside the rough box in which GCJ-02 applies.

    Returns a bool for scalar input, a numpy bool array otherwise.
    """
    scalar = _is_scalar(lon, lat)
    lon_a, lat_a = _as_arrays(lon, lat)
    mask = _out_of_china(lon_a, lat_a)
    return bool(mask) if scalar else mask


def _gcj_offset_deg(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS-84 at a WGS-84 point, in degrees (dlon, dlat). No China check."""
    x = lon - 105.0
    y = lat - 35.0
    pi = math.pi
    # The obfuscation terms, in metres-ish units of the public formula.
    dlat_m = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * np.sqrt(np.abs(x))
        + (
            2.0 * np.sin(x * 6.0 * pi)
            + 2.0 * np.sin(x * 2.0 * pi)
            + 2.0 * np.sin(y * pi)
            + 4.0 * np.sin(y / 3.0 * pi)
            + 16.0 * np.sin(y / 12.0 * pi)
            + 32.0 * np.sin(y / 30.0 * pi)
        )
        * 20.0
        / 3.0
    )
    dlon_m = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * np.sqrt(np.abs(x))
        + (
            2.0 * np.sin(x * 6.0 * pi)
            + 2.0 * np.sin(x * 2.0 * pi)
            + 2.0 * np.sin(x * pi)
            + 4.0 * np.sin(x / 3.0 * pi)
            + 15.0 * np.sin(x / 12.0 * pi)
            + 30.0 * np.sin(x / 30.0 * pi)
        )
        * 20.0
        / 3.0
    )
    rad_lat = np.radians(lat)
    magic = 1.0 - GCJ_EE * np.sin(rad_lat) ** 2
    lat_deg_arclen = (pi / 180.0) * (GCJ_A * (1.0 - GCJ_EE)) / magic**1.5
    lon_deg_arclen = (pi / 180.0) * (GCJ_A * np.cos(rad_lat) / np.sqrt(magic))
    return dlon_m / lon_deg_arclen, dlat_m / lat_deg_arclen


def _wgs_to_gcj(lon: np.ndarray, lat: np.ndarray, inside: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlon, dlat = _gcj_offset_deg(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def _pack(lon: np.ndarray, lat: np.ndarray, scalar: bool):
    if scalar:
        return float(lon), float(lat)
    return lon, lat


def wgs84_to_gcj02(lon, lat):
    """Convert WGS-84 (lon, lat) to GCJ-02 (lon, lat).

    Parameters
    ----------
    lon, lat : float or array_like
        WGS-84 longitude and latitude in degrees; arrays broadcast together.

    Returns
    -------
    (lon, lat)
        GCJ-02 coordinates: Python floats for scalar input, numpy arrays otherwise. Points outside
        China's rough box are returned unchanged.
    """
    scalar = _is_scalar(lon, lat)
    lon_a, lat_a = _as_arrays(lon, lat)
    inside = ~_out_of_china(lon_a, lat_a)
    return _pack(*_wgs_to_gcj(lon_a, lat_a, inside), scalar)


def gcj02_to_wgs84(lon, lat):
    """Convert GCJ-02 (lon, lat) to WGS-84 (lon, lat), exactly (iterative inverse).

    Starts from the one-step approximation ``gcj - offset(gcj)`` and repeats
    ``wgs -= wgs84_to_gcj02(wgs) - gcj`` until the correction is negligible (prcoords ``gcj_wgs_bored``).
    The round-trip error is well below 1 mm.

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 longitude and latitude in degrees; arrays broadcast together.

    Returns
    -------
    (lon, lat)
        WGS-84 coordinates: Python floats for scalar input, numpy arrays otherwise. Points outside China's
        rough box are returned unchanged.
    """
    scalar = _is_scalar(lon, lat)
    g_lon, g_lat = _as_arrays(lon, lat)
    inside = ~_out_of_china(g_lon, g_lat)
    # First guess: subtract the offset taken at the GCJ-02 point itself.
    dlon, dlat = _gcj_offset_deg(g_lon, g_lat)
    w_lon = np.where(inside, g_lon - dlon, g_lon)
    w_lat = np.where(inside, g_lat - dlat, g_lat)
    for _ in range(_INVERSE_MAX_ITER):
        f_lon, f_lat = _wgs_to_gcj(w_lon, w_lat, inside)
        e_lon = f_lon - g_lon
        e_lat = f_lat - g_lat
        w_lon = w_lon - e_lon
        w_lat = w_lat - e_lat
        if w_lon.size == 0 or float(np.max(np.maximum(np.abs(e_lon), np.abs(e_lat)))) <= _INVERSE_EPS_DEG:
            break
    return _pack(w_lon, w_lat, scalar)


def local_metric_crs(lon0: float, lat0: float) -> pyproj.CRS:
    """A transverse Mercator CRS in metres centred on ``lon0``, for metric work near (lon0, lat0).

    GRS80 ellipsoid (that of CGCS2000; WGS-84 differs from it by centimetres, so no datum shift is
    applied), central meridian ``lon0`` rounded to 0.001°, scale factor 1, false easting 500 000 m, false
    northing 0. Within a few tens of kilometres of the central meridian the scale error is below
    1e-5 (1 cm per km), so distances and offsets measured in it are true to the centimetre.

    ``lat0`` is accepted for symmetry and validation only: a transverse Mercator needs no origin latitude.
    """
    if not (-180.0 <= float(lon0) <= 180.0 and -90.0 <= float(lat0) <= 90.0):
        raise ValueError(f"invalid origin lon={lon0!r}, lat={lat0!r}")
    cm = round(float(lon0), 3) + 0.0  # "+ 0.0" turns -0.0 into 0.0
    proj = (
        f"+proj=tmerc +lat_0=0 +lon_0={cm:.3f} +k=1 +x_0=500000 +y_0=0 "
        "+ellps=GRS80 +towgs84=0,0,0,0,0,0,0 +units=m +no_defs +type=crs"
    )
    return pyproj.CRS.from_proj4(proj)


@functools.lru_cache(maxsize=64)
def _transformers_for(key: str) -> tuple[pyproj.Transformer, pyproj.Transformer]:
    crs = pyproj.CRS.from_user_input(key)
    wgs84 = pyproj.CRS.from_epsg(4326)
    to_metric = pyproj.Transformer.from_crs(wgs84, crs, always_xy=True)
    to_wgs84 = pyproj.Transformer.from_crs(crs, wgs84, always_xy=True)
    return to_metric, to_wgs84


def _crs_key(crs: pyproj.CRS | str | int) -> str:
    """The cache key of a CRS: the PROJ string (or authority code) it was made from."""
    if isinstance(crs, pyproj.CRS):
        return crs.srs or crs.to_wkt()
    return pyproj.CRS.from_user_input(crs).srs


def transformers(crs: pyproj.CRS | str | int) -> tuple[pyproj.Transformer, pyproj.Transformer]:
    """(to_metric, to_wgs84) transformers between WGS-84 and ``crs``, both with ``always_xy=True``.

    Cached: the same CRS (by its PROJ string) always yields the same pair of Transformer objects.
    """
    return _transformers_for(_crs_key(crs))
