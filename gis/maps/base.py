"""What every map draws from, without folium: basemaps (tiles and the GCJ-02 rule), labels and escaping,
colours, the district boundary and the roads by class as GeoJSON, legend HTML, and the JavaScript templates
shipped beside this package (``templates/``).

Positions are stored in WGS-84. On a GCJ-02 basemap (高德 AMap) everything drawn is converted with
:func:`gis.crs.wgs84_to_gcj02` so markers line up with the tiles; on every other basemap nothing is converted.

Text on the maps comes from the caller as a ``labels`` mapping (keys such as ``"type.materials"``,
``"info.stake"``, ``"tip.hotspot"``); a missing key shows as the key itself.
"""

from __future__ import annotations

import functools
import html
import json
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gis import mapassets
from gis.crs import wgs84_to_gcj02
from gis.places import District
from gis.roads import RoadNetwork

STATIC_PREFIX = mapassets.STATIC_PREFIX

ROAD_STYLE: dict[str, dict[str, Any]] = {
    "expressway": {"color": "#6d1a1a", "weight": 6},
    "national": {"color": "#c0392b", "weight": 5},
    "provincial": {"color": "#d35400", "weight": 4},
    "county": {"color": "#1f5fbf", "weight": 4},
    "township": {"color": "#27ae60", "weight": 3},
    "village": {"color": "#7f8c8d", "weight": 2},
    "special": {"color": "#8e44ad", "weight": 2},
}


def attribution(district: District, labels: Labels | None = None, invented_roads: bool = False) -> str:
    """The map's credit line: the district's data, and that the roads are invented when they are (the demo)."""
    text = _label(labels or {}, "attribution_places", credit=district.attribution)
    return text + ("；" + _label(labels or {}, "attribution_demo_roads") if invented_roads else "")


@functools.cache
def template_text(name: str) -> str:
    """The text of ``gis/maps/templates/<name>`` (package data)."""
    return resources.files("gis.maps").joinpath("templates", name).read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------------------
# Basemaps
# ------------------------------------------------------------------------------------------------------------

BASEMAP_KINDS = ("none", "osm", "tianditu", "amap")

_OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_TIANDITU_TILES = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
)
_AMAP_TILES = (
    "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"
)


@dataclass(frozen=True)
class Basemap:
    """Background tiles under the vector layers.

    ``kind`` is ``none`` (vector layers only), ``osm``, ``tianditu``, ``amap`` or ``custom`` (an intranet tile
    server's URL template). ``gcj02`` says the tiles are in GCJ-02 (AMap, or an intranet server
    that serves AMap tiles): then every drawn position is converted from WGS-84 for display.
    """

    kind: str = "none"
    tiles: tuple[str, ...] = ()  # URL templates, drawn bottom to top (base, then labels)
    attribution: str = ""
    subdomains: str = "abc"
    gcj02: bool = False
    max_zoom: int = 18

    def display_xy(self, lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
        """WGS-84 → the coordinates to draw on these tiles (GCJ-02 only for GCJ-02 tiles)."""
        lon_a = np.asarray(lon, dtype=float)
        lat_a = np.asarray(lat, dtype=float)
        if not self.gcj02:
            return lon_a, lat_a
        g_lon, g_lat = wgs84_to_gcj02(lon_a, lat_a)
        return np.asarray(g_lon, dtype=float), np.asarray(g_lat, dtype=float)

    def display_geometry(self, geom: BaseGeometry) -> BaseGeometry:
        """A WGS-84 geometry as drawn on these tiles."""
        if not self.gcj02 or geom is None or geom.is_empty:
            return geom
        return shapely.transform(geom, _to_gcj02_xy)


def _to_gcj02_xy(xy: np.ndarray) -> np.ndarray:
    lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


NO_BASEMAP = Basemap()


def basemap(setting: str | None = None, tianditu_key: str | None = None, gcj02: bool = False) -> Basemap:
    """The basemap named by a setting: ``none`` (or empty), ``osm``, ``tianditu`` (needs ``tianditu_key``),
    ``amap`` (GCJ-02), or a tile URL template with ``{z}``, ``{x}`` and ``{y}`` (an intranet tile server;
    ``gcj02=True`` when it serves GCJ-02 tiles). Raises ValueError for anything else.
    """
    s = (setting or "").strip()
    kind = s.lower()
    if kind in ("", "none", "off", "no"):
        return NO_BASEMAP
    if kind in ("osm", "openstreetmap"):
        return Basemap("osm", (_OSM_TILES,), "© OpenStreetMap contributors", "", False, 19)
    if kind in ("tianditu", "tdt", "天地图"):
        key = (tianditu_key or "").strip()
        if not key:
            raise ValueError("the Tianditu basemap needs a key (PATROL_TIANDITU_KEY)")
        tiles = tuple(
            _TIANDITU_TILES.replace("{layer}", layer).replace("{key}", key) for layer in ("vec", "cva")
        )
        return Basemap("tianditu", tiles, "© 天地图 Tianditu", "01234567", False, 18)
    if kind in ("amap", "gaode", "高德"):
        return Basemap("amap", (_AMAP_TILES,), "© 高德地图 AMap", "1234", True, 18)
    if all(p in s for p in ("{z}", "{x}", "{y}")):
        return Basemap("custom", (s,), "", "abc", bool(gcj02), 18)
    raise ValueError(
        f"unknown basemap {setting!r}: none, osm, tianditu, amap or a tile URL with {{z}}/{{x}}/{{y}}"
    )


# ------------------------------------------------------------------------------------------------------------
# Labels, colours and small layers
# ------------------------------------------------------------------------------------------------------------

Labels = Mapping[str, str]

#: Marker colours by status. Types' colours come with the labels (``color.type.<code>``, from the
#: application's catalog: one colour per type for the map, KML and the report), in the labels' order.
STATUS_COLORS = {"open": "#d62728", "closed": "#2ca02c"}
OTHER_COLOR = "#7f7f7f"

COVERAGE_NONE_COLOR = "#d62728"
COVERAGE_RAMP = ("#9ecae1", "#4292c6", "#2171b5", "#08306b")
HOTSPOT_COLOR = "#7b1fa2"
ZONE_COLOR = "#ff9800"
ROAD_LAND_COLOR = "#607d8b"


def type_colors(labels: Labels) -> dict[str, str]:
    """Violation type code → colour, in the order the labels list the types (``color.type.<code>``)."""
    return {k[len("color.type.") :]: v for k, v in labels.items() if k.startswith("color.type.")}


def _label(labels: Labels, key: str, **params: Any) -> str:
    text = labels.get(key, key)
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def _esc(text: Any) -> str:
    """HTML-escaped; braces too, so that no text can ever read as a Jinja tag where folium re-templates, and
    backticks and backslashes, so that no text can close or bend a JavaScript template literal."""
    return (
        html.escape(str(text), quote=True)
        .replace("{", "&#123;")
        .replace("}", "&#125;")
        .replace("`", "&#96;")
        .replace("\\", "&#92;")
    )


def _round_coords(geom: BaseGeometry, decimals: int = 6) -> BaseGeometry:
    # 1e-6° ≈ 0.1 m: plenty for drawing, and a third less HTML than full float precision. Polygons are kept
    # valid (slower), lines just snapped.
    mode: Literal["valid_output", "pointwise"] = (
        "valid_output" if geom.geom_type in ("Polygon", "MultiPolygon") else "pointwise"
    )
    return shapely.set_precision(geom, 10.0**-decimals, mode=mode)


@functools.lru_cache(maxsize=8)
def _boundary_geojson(bm: Basemap, district: District) -> str:
    return shapely.to_geojson(_round_coords(bm.display_geometry(district.boundary)))


def district_bounds(district: District, bm: Basemap = NO_BASEMAP) -> list[list[float]]:
    """[[south, west], [north, east]] of the district as drawn on ``bm``."""
    minx, miny, maxx, maxy = bm.display_geometry(district.boundary).bounds
    return [[miny, minx], [maxy, maxx]]


_route_cache: weakref.WeakKeyDictionary[RoadNetwork, dict[tuple[str, Basemap], dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def route_geojson(network: RoadNetwork, code: str, bm: Basemap = NO_BASEMAP) -> dict[str, Any]:
    """A route's centreline as a GeoJSON MultiLineString as drawn on ``bm`` (coordinates to 1e-6°), computed
    once per network and basemap."""
    per_net = _route_cache.setdefault(network, {})
    key = (code, bm)
    if key not in per_net:
        lines = []
        for _, c in network.route(code).parts:
            lon, lat = bm.display_xy(*network.to_wgs84(c[:, 0], c[:, 1]))
            lines.append(np.round(np.column_stack([lon, lat]), 6).tolist())
        per_net[key] = {"type": "MultiLineString", "coordinates": lines}
    return per_net[key]


def boundary_feature(district: District, bm: Basemap = NO_BASEMAP) -> dict[str, Any]:
    """The district boundary as a GeoJSON feature carrying its style: filled when there are no tiles (so the
    district reads as a place), outlined only over tiles."""
    return {
        "type": "Feature",
        "properties": {
            "style": {
                "color": "#555",
                "weight": 2,
                "dashArray": "6 4",
                "fill": True,
                "fillColor": "#f4f1ea",
                "fillOpacity": 0.6 if not bm.tiles else 0.0,
            }
        },
        "geometry": json.loads(_boundary_geojson(bm, district)),
    }


ROAD_FIELDS = ("code", "name", "class_text", "stakes")
ROAD_ALIASES = ("info.road", "info.name", "info.class", "info.stakes")


def road_features(network: RoadNetwork, labels: Labels, bm: Basemap = NO_BASEMAP) -> dict[str, Any]:
    """Every route as a feature (code, name, class, its text, stake range) as drawn on ``bm``."""
    feats = []
    for code in network.codes:
        r = network.routes[code]
        feats.append(
            {
                "type": "Feature",
                "properties": {
                    "code": code,
                    "name": r.name,
                    "road_class": r.road_class,
                    "class_text": _label(labels, "class." + r.road_class),
                    "stakes": f"{r.start_stake}–{r.end_stake}",
                },
                "geometry": route_geojson(network, code, bm),
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def road_style(road_class: str) -> dict[str, Any]:
    return {**ROAD_STYLE.get(road_class, ROAD_STYLE["village"]), "opacity": 0.9}


LegendRows = Sequence[tuple[str, str, str]]


def legend_html(title: str, rows: LegendRows) -> str:
    """A legend box's HTML: a title, then one row per (colour, text, shape ``dot``/``line``/``dash``/``band``)."""
    parts = [f'<div style="font-weight:600">{_esc(title)}</div><div class="legend-body">']
    for color, text, shape in rows:
        if shape == "dot":
            sym = (
                f'<span style="display:inline-block;width:10px;height:10px;border-radius:50%;'
                f'background:{color};border:1px solid #fff;box-shadow:0 0 0 1px #999"></span>'
            )
        elif shape == "band":
            sym = (
                f'<span style="display:inline-block;width:16px;height:10px;background:{color};'
                'opacity:.6"></span>'
            )
        else:
            border = "dashed" if shape == "dash" else "solid"
            sym = f'<span style="display:inline-block;width:18px;border-top:4px {border} {color}"></span>'
        parts.append(f'<div style="white-space:nowrap">{sym} {_esc(text)}</div>')
    return "".join(parts) + "</div>"


def road_class_rows(network: RoadNetwork, labels: Labels) -> list[tuple[str, str, str]]:
    """Legend rows of the road classes present in the network, in :data:`ROAD_STYLE` order."""
    present = [c for c in ROAD_STYLE if any(r.road_class == c for r in network.routes.values())]
    return [(ROAD_STYLE[c]["color"], _label(labels, "class." + c), "line") for c in present]


def title_html(title: str, subtitle: str = "") -> str:
    """The title box of a map shared as a file: title, then the period and filters."""
    return f'<div style="font-weight:700;font-size:16px">{_esc(title)}</div>' + (
        f'<div style="color:#444">{_esc(subtitle)}</div>' if subtitle else ""
    )


#: Leaflet.markercluster options of the incident clusters (snake case; camel-cased as they are written out).
CLUSTER_OPTIONS: dict[str, Any] = {
    "chunked_loading": True,
    "spiderfy_on_max_zoom": True,
    "show_coverage_on_hover": False,
    "max_cluster_radius": 60,
}
#: Leaflet.heat options of the incident heat layer, but ``max`` (from the data).
HEAT_OPTIONS: dict[str, Any] = {"min_opacity": 0.35, "max_zoom": 11, "radius": 18, "blur": 14}
