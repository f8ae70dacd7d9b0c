"""A district's reference places, as the maps and the town lookup need them: the boundary, the seats of its
towns (街道/镇/乡) and the credit for that data. District-agnostic: the application builds a :class:`District`
from its own data (``patrol_app.district``) and passes it in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry


def short_town(name: str) -> str:
    """``"越州镇"`` stays, ``"南宁街道办事处"`` → ``"南宁街道"``."""
    return name.replace("街道办事处", "街道")


@dataclass(frozen=True, eq=False)
class District:
    """One district: ``boundary`` (WGS-84), its towns' names and seats (``town_xy``: lon, lat rows) and the
    ``attribution`` owed for that data (shown on the maps)."""

    name: str
    boundary: BaseGeometry
    town_names: tuple[str, ...]
    town_xy: np.ndarray
    attribution: str = ""

    @property
    def centre(self) -> tuple[float, float]:
        """(lat, lon) of a point inside the district (where a map opens before it is fitted)."""
        p = self.boundary.representative_point()
        return (p.y, p.x)

    @property
    def bounds(self) -> list[list[float]]:
        """[[south, west], [north, east]]."""
        minx, miny, maxx, maxy = self.boundary.bounds
        return [[miny, minx], [maxy, maxx]]

    def nearest_town(self, lon: Any, lat: Any) -> Any:
        """Town whose seat is nearest (an approximation of the town boundaries, which are not published openly).

        Accepts scalars or arrays; returns a name or a list of names.
        """
        names, xy = self.town_names, self.town_xy
        lon_a = np.atleast_1d(np.asarray(lon, dtype=float))
        lat_a = np.atleast_1d(np.asarray(lat, dtype=float))
        coslat = np.cos(np.radians(self.centre[0]))
        d2 = ((lon_a[:, None] - xy[None, :, 0]) * coslat) ** 2 + (lat_a[:, None] - xy[None, :, 1]) ** 2
        idx = d2.argmin(axis=1)
        out = [names[i] for i in idx]
        return out[0] if np.ndim(lon) == 0 else out


def load_district(name: str, boundary_file: Path, places_file: Path, attribution: str = "") -> District:
    """A district from two GeoJSON files: the boundary (its first feature) and places, of which those with
    ``level`` ``town`` are the towns' seats."""
    b = json.loads(boundary_file.read_text(encoding="utf-8"))
    data = json.loads(places_file.read_text(encoding="utf-8"))
    names, xy = [], []
    for f in data["features"]:
        if f["properties"].get("level") == "town":
            names.append(short_town(f["properties"]["name"]))
            xy.append(f["geometry"]["coordinates"][:2])
    return District(
        name=name,
        boundary=shape(b["features"][0]["geometry"]),
        town_names=tuple(names),
        town_xy=np.asarray(xy, dtype=float),
        attribution=attribution,
    )
