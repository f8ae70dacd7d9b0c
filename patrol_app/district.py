"""The district this installation serves, from the reference data shipped in ``patrol_app/data`` (real
boundary and places of 曲靖市麒麟区, see ``data/README.md``). :mod:`gis` knows no district: it is given this one."""

from __future__ import annotations

import functools
from pathlib import Path

from gis.places import District, load_district

DATA_DIR = Path(__file__).resolve().parent / "data"  # shipped as package data
BOUNDARY_FILE = DATA_DIR / "qilin_boundary_wgs84.geojson"
PLACES_FILE = DATA_DIR / "qilin_places_wgs84.geojson"
DEMO_ROADS_FILE = DATA_DIR / "demo_roads_wgs84.geojson"
#: the credit the boundary and place data ask for (shown on every map)
ATTRIBUTION = "© Vonng/adcode (CC BY 4.0)"


@functools.cache
def district() -> District:
    return load_district("麒麟区", BOUNDARY_FILE, PLACES_FILE, ATTRIBUTION)
