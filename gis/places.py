"""Reference places of the district (real, from ``data/``): towns for grouping incidents, the boundary."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import numpy.typing as npt
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

DATA_DIR = Path(__file__).resolve().parent.parent / "patrol_app" / "data"  # shipped as package data
PLACES_FILE = DATA_DIR / "qilin_places_wgs84.geojson"
BOUNDARY_FILE = DATA_DIR / "qilin_boundary_wgs84.geojson"
DEMO_ROADS_FILE = DATA_DIR / "demo_roads_wgs84.geojson"

_SUFFIXES = ("街道办事处", "街道", "镇", "乡")


def short_town(name: str) -> str:
    """``"越州镇"`` stays, ``"南宁街道办事处"`` → ``"南宁街道"``."""
    return name.replace("街道办事处", "街道")


@functools.cache
def towns() -> tuple[tuple[str, ...], np.ndarray]:
    """Names and (lon, lat) of the district's 街道/镇 seats."""
    data = json.loads(PLACES_FILE.read_text(encoding="utf-8"))
    names, xy = [], []
    for f in data["features"]:
        if f["properties"].get("level") == "town":
            names.append(short_town(f["properties"]["name"]))
            xy.append(f["geometry"]["coordinates"][:2])
    return tuple(names), np.asarray(xy, dtype=float)


@overload
def nearest_town(lon: float, lat: float) -> str: ...
@overload
def nearest_town(
    lon: npt.NDArray[Any] | Sequence[float], lat: npt.NDArray[Any] | Sequence[float]
) -> list[str]: ...
def nearest_town(lon: npt.ArrayLike, lat: npt.ArrayLike) -> str | list[str]:
    """Town whose seat is nearest (an approximation of the town boundaries, which are not published openly).

    Accepts scalars or arrays; returns a name or a list of names.
    """
    names, xy = towns()
    lon_a = np.atleast_1d(np.asarray(lon, dtype=float))
    lat_a = np.atleast_1d(np.asarray(lat, dtype=float))
    coslat = np.cos(np.radians(25.5))
    d2 = ((lon_a[:, None] - xy[None, :, 0]) * coslat) ** 2 + (lat_a[:, None] - xy[None, :, 1]) ** 2
    idx = d2.argmin(axis=1)
    out = [names[i] for i in idx]
    return out[0] if np.ndim(lon) == 0 else out


@functools.cache
def boundary() -> BaseGeometry:
    data = json.loads(BOUNDARY_FILE.read_text(encoding="utf-8"))
    return shape(data["features"][0]["geometry"])
