"""folium map builders. No Streamlit here: the UI passes the maps to ``st_folium``; tests read the HTML.

Maps must draw on an intranet with no internet: Leaflet's and its plugins' JS/CSS come from the app itself
(``static/``, served by Streamlit at ``/app/static/``, or inlined into a standalone file — see
:mod:`gis.mapassets`), never from a public CDN, and the default basemap is none (vector layers only).

Incident maps (managers' view) stay fast at 100,000 incidents: the incidents travel as one compact columnar
JavaScript array (:class:`IncidentData`) and the markers, clusters and heat are built in the browser
(:class:`IncidentClusters` — a ``FastMarkerCluster`` — and :class:`IncidentHeat`). One popup is created on
demand instead of one per marker.

Positions are stored in WGS-84. On a GCJ-02 basemap (高德 AMap) everything drawn is converted with
:func:`gis.crs.wgs84_to_gcj02` so markers line up with the tiles; on every other basemap nothing is converted.

Text on the maps comes from the caller as a ``labels`` mapping (keys such as ``"type.materials"``,
``"info.stake"``, ``"tip.hotspot"``); a missing key shows as the key itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import html
import json
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import folium
import numpy as np
import shapely
from branca.element import Figure
from folium.elements import Element, MacroElement
from folium.map import Layer
from folium.plugins import FastMarkerCluster, HeatMap
from folium.template import Template
from folium.utilities import remove_empty
from shapely.geometry import LineString, MultiLineString, mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring

from gis import mapassets
from gis.crs import wgs84_to_gcj02
from gis.places import District
from gis.roads import RoadNetwork
from gis.stakes import format_stake
from gis.zones import LEGAL_BASIS_ZONE, zone_buffers, zone_verdict

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


class OfflineMap(folium.Map):
    """A folium Map that loads only Leaflet, from the app's own static files."""

    default_js = mapassets.links(mapassets.LEAFLET_JS)
    default_css = mapassets.links(mapassets.LEAFLET_CSS)


class PluginMap(OfflineMap):
    """An :class:`OfflineMap` that also loads the marker-cluster and heat plugins (from ``static/``).

    The page's map carries them from the start: streamlit-folium loads scripts only when the frame is first
    drawn, and the layers swapped in later (clusters ⇄ heat) need them.
    """

    default_js = mapassets.links(mapassets.LEAFLET_JS, mapassets.MARKERCLUSTER_JS, mapassets.HEAT_JS)
    default_css = mapassets.links(
        mapassets.LEAFLET_CSS, mapassets.MARKERCLUSTER_CSS, mapassets.MARKERCLUSTER_DEFAULT_CSS
    )


def roads_geojson(network: RoadNetwork) -> dict[str, Any]:
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
                    "stakes": f"{r.start_stake}–{r.end_stake}",
                },
                "geometry": mapping(network.route_geometry_wgs84(code)),
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def road_layer(network: RoadNetwork, labels: dict[str, str] | None = None) -> folium.FeatureGroup:
    """Roads drawn by class, with a tooltip of code, name and stake range."""
    fg = folium.FeatureGroup(name="roads")
    labels = labels or {"code": "路线", "name": "名称", "stakes": "桩号"}
    folium.GeoJson(
        roads_geojson(network),
        style_function=lambda f: {
            **ROAD_STYLE.get(f["properties"]["road_class"], ROAD_STYLE["village"]),
            "opacity": 0.9,
        },
        highlight_function=lambda _f: {"weight": 7},
        tooltip=SafeGeoJsonTooltip(fields=list(labels), aliases=list(labels.values()), sticky=True),
    ).add_to(fg)
    return fg


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


def _add_tiles(m: folium.Map, bm: Basemap) -> None:
    for url in bm.tiles:
        folium.TileLayer(
            tiles=url,
            attr=bm.attribution or " ",
            subdomains=bm.subdomains or "abc",
            max_zoom=bm.max_zoom,
            name=bm.kind,
            overlay=False,
            control=False,
        ).add_to(m)


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


class SafeGeoJsonTooltip(folium.GeoJsonTooltip):
    """folium's ``GeoJsonTooltip``, but every property value and alias is HTML-escaped in the browser before it
    goes into the tooltip (folium's own puts them into ``innerHTML`` as they are: a road named
    ``<img src=x onerror=alert(1)>`` would run). Used for every tooltip on every map."""

    _template = Template(
        """
    {% macro script(this, kwargs) %}
    {{ this._parent.get_name() }}.bindTooltip(function (layer) {
        let div = L.DomUtil.create('div');
        {% if this.fields %}
        let esc = v => String(v === null || v === undefined ? '' : (typeof v == 'object' ? JSON.stringify(v) : v))
            .replace(/[&<>"'`]/g, c => '&#' + c.charCodeAt(0) + ';');
        let fields = {{ this.fields | tojson | safe }};
        let aliases = {{ this.aliases | tojson | safe }};
        div.innerHTML = '<table>' + fields.map((v, i) =>
            '<tr>{% if this.labels %}<th>' + esc(aliases[i]) + '</th>{% endif %}'
            + '<td>' + esc(layer.feature.properties[v]) + '</td></tr>').join('') + '</table>';
        {% endif %}
        return div;
    }, {{ this.tooltip_options | tojavascript }});
    {% endmacro %}
    """
    )


def _style_from_properties(feature: dict[str, Any]) -> dict[str, Any]:
    """GeoJSON style carried by each feature (module level, so layers that use it can be pickled/cached)."""
    return feature["properties"]["style"]


def _road_style(feature: dict[str, Any]) -> dict[str, Any]:
    return {**ROAD_STYLE.get(feature["properties"]["road_class"], ROAD_STYLE["village"]), "opacity": 0.9}


def _road_highlight(_feature: dict[str, Any]) -> dict[str, Any]:
    return {"weight": 7}


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


def boundary_layer(
    district: District, bm: Basemap = NO_BASEMAP, labels: Labels | None = None, invented_roads: bool = False
) -> folium.GeoJson:
    """The district boundary, filled when there are no tiles (so the district reads as a place), outlined only
    over tiles."""
    fill = 0.6 if not bm.tiles else 0.0
    return folium.GeoJson(
        {
            "type": "Feature",
            "properties": {
                "style": {
                    "color": "#555",
                    "weight": 2,
                    "dashArray": "6 4",
                    "fill": True,
                    "fillColor": "#f4f1ea",
                    "fillOpacity": fill,
                }
            },
            "geometry": json.loads(_boundary_geojson(bm, district)),
        },
        name=_label(labels or {}, "layer.boundary"),
        style_function=_style_from_properties,
        interactive=False,
        attribution=attribution(district, labels, invented_roads),
        control=False,
    )


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


def classed_road_layer(network: RoadNetwork, labels: Labels, bm: Basemap = NO_BASEMAP) -> folium.FeatureGroup:
    """Roads drawn by class (county and township roads distinct), tooltip: code, name, class, stake range."""
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
    fg = folium.FeatureGroup(name=_label(labels, "layer.roads"), control=False)
    fields = ["code", "name", "class_text", "stakes"]
    aliases = [_label(labels, k) for k in ("info.road", "info.name", "info.class", "info.stakes")]
    folium.GeoJson(
        {"type": "FeatureCollection", "features": feats},
        style_function=_road_style,
        highlight_function=_road_highlight,
        tooltip=SafeGeoJsonTooltip(fields=fields, aliases=aliases, sticky=True),
    ).add_to(fg)
    return fg


class MapLegend(Layer):
    """A legend box (a Leaflet control) that shows while this layer is on the map and goes with it.

    Being a layer, it can sit inside a feature group that streamlit-folium swaps on reruns, and it disappears
    with the layers it explains.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.layerGroup();
            (function (group) {
                var ctl = L.control({position: {{ this.position|tojson }}});
                ctl.onAdd = function () {
                    var div = L.DomUtil.create("div", "patrol-legend");
                    div.style.cssText = "background:rgba(255,255,255,.92);padding:4px 8px;border-radius:6px;"
                        + "box-shadow:0 1px 4px rgba(0,0,0,.3);font:11px/1.45 sans-serif;max-width:220px;"
                        + "cursor:pointer;";
                    div.innerHTML = {{ this.html|tojson }};
                    L.DomEvent.disableClickPropagation(div);
                    L.DomEvent.disableScrollPropagation(div);
                    L.DomEvent.on(div, "click", function () {  // a tap folds the legend to its title
                        var body = div.querySelector(".legend-body");
                        if (body) { body.style.display = body.style.display === "none" ? "" : "none"; }
                    });
                    return div;
                };
                group.on("add", function () { ctl.addTo(group._map); });
                group.on("remove", function () { ctl.remove(); });
            })({{ this.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(
        self, title: str, rows: Sequence[tuple[str, str, str]], position: str = "bottomright"
    ) -> None:
        """``rows``: (colour, label, shape) with shape ``dot``, ``line``, ``dash`` or ``band``."""
        super().__init__(name=title, overlay=True, control=False, show=True)
        self._name = "MapLegend"
        self.position = position
        self.html = legend_html(title, rows)


def legend_html(title: str, rows: Sequence[tuple[str, str, str]]) -> str:
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


def road_class_legend(network: RoadNetwork, labels: Labels) -> MapLegend:
    present = [c for c in ROAD_STYLE if any(r.road_class == c for r in network.routes.values())]
    return MapLegend(
        _label(labels, "legend.roads"),
        [(ROAD_STYLE[c]["color"], _label(labels, "class." + c), "line") for c in present],
        position="topright",
    )


class _MetricScale(MacroElement):
    """A scale bar in metres and kilometres only; a short attribution prefix (the map is often narrow)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            L.control.scale({imperial: false}).addTo({{ this._parent.get_name() }});
            if ({{ this._parent.get_name() }}.attributionControl) {
                {{ this._parent.get_name() }}.attributionControl.setPrefix("Leaflet");
            }
        {% endmacro %}
        """
    )


class MapTitle(MacroElement):
    """A title box on the map (for standalone files shared with leaders)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (function () {
                var ctl = L.control({position: "topright"});
                ctl.onAdd = function () {
                    var div = L.DomUtil.create("div", "patrol-title");
                    div.style.cssText = "background:rgba(255,255,255,.92);padding:6px 10px;border-radius:6px;"
                        + "box-shadow:0 1px 4px rgba(0,0,0,.3);font:14px/1.45 sans-serif;max-width:360px;";
                    div.innerHTML = {{ this.html|tojson }};
                    return div;
                };
                ctl.addTo({{ this._parent.get_name() }});
            })();
        {% endmacro %}
        """
    )

    def __init__(self, title: str, subtitle: str = "") -> None:
        super().__init__()
        self._name = "MapTitle"
        self.html = f'<div style="font-weight:700;font-size:16px">{_esc(title)}</div>' + (
            f'<div style="color:#444">{_esc(subtitle)}</div>' if subtitle else ""
        )


# ------------------------------------------------------------------------------------------------------------
# Incidents: one compact array, markers/clusters/heat built in the browser
# ------------------------------------------------------------------------------------------------------------

COORD_QUANTUM = 100_000  # 1e-5° ≈ 1.1 m: positions travel as integers
#: Descriptions ride along for popups while their distinct texts stay under this many characters.
DESCRIPTION_BUDGET_CHARS = 400_000


@dataclass
class IncidentPoints:
    """Incidents as columns (aligned arrays), WGS-84. What the map needs, nothing more."""

    ids: np.ndarray  # int64
    lon: np.ndarray
    lat: np.ndarray
    type_code: Sequence[str] | np.ndarray
    status: Sequence[str] | np.ndarray
    road_code: Sequence[str] | np.ndarray
    chainage_m: np.ndarray
    side: Sequence[str] | np.ndarray
    day: np.ndarray  # datetime64[D], local date found
    town: Sequence[str] | np.ndarray
    description: Sequence[str] | None = None
    thumbnails: Mapping[int, str] = field(default_factory=dict)  # incident id → thumbnail URL (photo hook)

    def __len__(self) -> int:
        return int(len(self.ids))

    @classmethod
    def empty(cls) -> IncidentPoints:
        e = np.zeros(0)
        return cls(
            np.zeros(0, dtype=np.int64), e, e, [], [], [], e, [], np.zeros(0, dtype="datetime64[D]"), []
        )


def _factorize(values: Sequence[str], order: Sequence[str] = ()) -> tuple[np.ndarray, list[str]]:
    """Codes and categories; categories listed in ``order`` come first, in that order, the rest sorted."""
    seen = set(values)
    cats = [c for c in order] + sorted(seen.difference(order))
    index = {v: i for i, v in enumerate(cats)}
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))
    return codes, cats


#: The digits of the integer columns: base 64, URL-safe (nothing to escape in a script or a JSON string).
B64_DIGITS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64 = np.frombuffer(B64_DIGITS, dtype=np.uint8)


def pack_ints(a: np.ndarray) -> list[Any]:
    """An integer column as ``[lowest, width, digits]``: each value less the lowest in ``width`` base-64 digits,
    most significant first, one string for the whole column (3 characters carry what takes 6 in JSON)."""
    v = np.asarray(a, dtype=np.int64)
    if len(v) == 0:
        return [0, 1, ""]
    lo = int(v.min())
    v = v - lo
    top, width = int(v.max()), 1
    while top >= 64**width:
        width += 1
    digits = (v[:, None] >> (6 * np.arange(width - 1, -1, -1, dtype=np.int64))) & 63
    return [lo, width, _B64[digits].tobytes().decode("ascii")]


def _heat_max(x: np.ndarray, y: np.ndarray) -> float:
    """Heat intensity ceiling: the 90th percentile of incidents per ~3 km cell, so one busy cell does not
    wash out the rest and 100,000 incidents do not paint everything red."""
    if len(x) == 0:
        return 1.0
    cell = 3000  # in COORD_QUANTUM units (0.03°)
    cx = (x - x.min()) // cell
    cy = (y - y.min()) // cell
    counts = np.bincount(cx * (int(cy.max()) + 1) + cy)
    return float(max(1.0, np.percentile(counts[counts > 0], 90)))


def incident_payload(
    points: IncidentPoints,
    labels: Labels,
    bm: Basemap = NO_BASEMAP,
    color_by: str = "type",
    road_names: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The incidents as one JavaScript object literal, columnar and integer-coded (≈ 16 bytes an incident):
    positions as integers of 1e-5° from a corner, ids and days as differences, type/status/side/town packed in
    one mixed-radix integer, descriptions (while they fit a budget) as indexes into a table of distinct texts;
    every integer column written in base-64 digits (:func:`pack_ints`).

    Returns (payload, summary) where summary holds the legend rows (colour, label, count), the bounds and the
    heat layer's intensity ceiling.
    """
    n = len(points)
    ids = np.asarray(points.ids, dtype=np.int64)
    order: np.ndarray | None = None
    if n > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        order = np.argsort(ids, kind="stable")
        ids = ids[order]

    def take(seq: Any) -> Any:
        if order is None:
            return seq
        if isinstance(seq, np.ndarray):
            return seq[order]
        return [seq[i] for i in order.tolist()]

    lon, lat = bm.display_xy(
        take(np.asarray(points.lon, dtype=float)), take(np.asarray(points.lat, dtype=float))
    )
    x = np.rint(lon * COORD_QUANTUM).astype(np.int64)
    y = np.rint(lat * COORD_QUANTUM).astype(np.int64)
    x0 = int(x.min()) if n else 0
    y0 = int(y.min()) if n else 0

    tc = type_colors(labels)
    t_codes, t_cats = _factorize(take(points.type_code), list(tc))
    s_codes, s_cats = _factorize(take(points.status), list(STATUS_COLORS))
    r_codes, r_cats = _factorize(take(points.road_code))
    w_codes, w_cats = _factorize(take(points.town))
    sd_codes, sd_cats = _factorize(take(points.side), ["left", "right"])
    nt, ns, nsd = len(t_cats), len(s_cats), len(sd_cats)
    packed = t_codes + nt * (s_codes + ns * (sd_codes + nsd * w_codes))
    days = take(np.asarray(points.day, dtype="datetime64[D]")).astype(np.int64)
    d0 = int(days.min()) if n else 0
    chain = np.rint(take(np.asarray(points.chainage_m, dtype=float))).astype(np.int64)
    id_delta = np.diff(ids, prepend=ids[:1]) if n else ids

    road_names = road_names or {}
    obj: dict[str, Any] = {
        "n": n,
        "q": COORD_QUANTUM,
        "x0": x0,
        "y0": y0,
        "d0": d0,
        "i0": int(ids[0]) if n else 0,
        "radix": [nt, ns, nsd],
        "colorBy": "s" if color_by == "status" else "t",
        "types": [_esc(_label(labels, "type." + c)) for c in t_cats],
        "typeColors": [tc.get(c, OTHER_COLOR) for c in t_cats],
        "statuses": [_esc(_label(labels, "status." + c)) for c in s_cats],
        "statusColors": [STATUS_COLORS.get(c, OTHER_COLOR) for c in s_cats],
        "roads": [_esc(f"{c} {road_names.get(c, '')}".strip()) for c in r_cats],
        "towns": [_esc(c) for c in w_cats],
        "sides": [_esc(_label(labels, "side." + c)) for c in sd_cats],
        "labels": {
            k: _esc(_label(labels, "info." + k))
            for k in ("found", "road", "stake", "status", "town", "description", "photo")
        },
        "thumbs": {str(k): v for k, v in points.thumbnails.items()},
    }
    arrays = {"x": x - x0, "y": y - y0, "a": packed, "r": r_codes, "k": chain, "d": days - d0, "i": id_delta}
    if points.description is not None and n:
        e_codes, e_cats = _factorize(take(points.description))
        if sum(map(len, e_cats)) <= DESCRIPTION_BUDGET_CHARS:
            obj["descs"] = [_esc(d) for d in e_cats]
            arrays["e"] = e_codes
    head = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    body = ",".join(f'"{k}":{json.dumps(pack_ints(v), separators=(",", ":"))}' for k, v in arrays.items())
    payload = (head[:-1] + "," + body + "}").replace("</", "<\\/")

    if color_by == "status":
        codes, cats, colors, prefix = s_codes, s_cats, STATUS_COLORS, "status."
    else:
        codes, cats, colors, prefix = t_codes, t_cats, tc, "type."
    counts = np.bincount(codes, minlength=len(cats)) if n else np.zeros(len(cats), dtype=np.int64)
    legend = [
        (colors.get(c, OTHER_COLOR), _label(labels, prefix + c), int(k)) for c, k in zip(cats, counts) if k
    ]
    bounds = (
        [[float(lat.min()), float(lon.min())], [float(lat.max()), float(lon.max())]]
        if n
        else [[None, None], [None, None]]
    )
    return payload, {"legend": legend, "bounds": bounds, "heat_max": _heat_max(x, y), "n": n}


class IncidentData(MacroElement):
    """The incidents, once, as a JavaScript object the cluster and heat layers both read.

    Decodes the integer columns into ``lat``/``lon``/``id`` arrays and offers ``color(i)`` and ``popup(i)``.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function () {
                var P = {{ this.payload }};
                var n = P.n, DIGITS = "{{ this.digits }}", V = new Uint8Array(128);
                for (var c = 0; c < 64; c++) { V[DIGITS.charCodeAt(c)] = c; }
                ["x", "y", "a", "i", "r", "k", "d", "e"].forEach(function (key) {
                    var col = P[key];
                    if (!col) { return; }
                    var lo = col[0], width = col[1], text = col[2], out = new Float64Array(n), p = 0, v, j;
                    for (var i = 0; i < n; i++) {
                        for (v = 0, j = 0; j < width; j++) { v = v * 64 + V[text.charCodeAt(p++)]; }
                        out[i] = lo + v;
                    }
                    P[key] = out;
                });
                var lat = new Float64Array(n), lon = new Float64Array(n), id = new Float64Array(n);
                var t = new Uint16Array(n), s = new Uint16Array(n);
                var sd = new Uint16Array(n), w = new Uint16Array(n);
                var nt = P.radix[0], ns = P.radix[1], nsd = P.radix[2], acc = P.i0, a;
                for (var i = 0; i < n; i++) {
                    lat[i] = (P.y0 + P.y[i]) / P.q;
                    lon[i] = (P.x0 + P.x[i]) / P.q;
                    acc += P.i[i];
                    id[i] = acc;
                    a = P.a[i];
                    t[i] = a % nt; a = (a - t[i]) / nt;
                    s[i] = a % ns; a = (a - s[i]) / ns;
                    sd[i] = a % nsd; w[i] = (a - sd[i]) / nsd;
                }
                P.lat = lat; P.lon = lon; P.id = id; P.t = t; P.s = s; P.sd = sd; P.w = w;
                delete P.x; delete P.y; delete P.a; delete P.i;
                P.color = function (i) {
                    return P.colorBy === "s" ? P.statusColors[P.s[i]] : P.typeColors[P.t[i]];
                };
                P.stake = function (i) {
                    var k = Math.abs(P.k[i]), m = k % 1000;
                    return (P.k[i] < 0 ? "-" : "") + "K" + Math.floor(k / 1000) + "+" + ("00" + m).slice(-3);
                };
                P.date = function (i) {
                    return new Date((P.d0 + P.d[i]) * 864e5).toISOString().slice(0, 10);
                };
                P.popup = function (i) {
                    var lb = P.labels;
                    var row = function (k, v) {
                        return "<tr><th style='text-align:left;padding:1px 8px 1px 0;color:#555;"
                            + "font-weight:500;white-space:nowrap;vertical-align:top'>" + lb[k]
                            + "</th><td>" + v + "</td></tr>";
                    };
                    var h = "<div class='incident-popup' style='font:13px/1.45 sans-serif;min-width:200px'>"
                        + "<div style='font-weight:600;margin-bottom:3px'><span style='color:"
                        + P.typeColors[P.t[i]] + "'>&#9679;</span> " + P.types[P.t[i]]
                        + " <span style='color:#888;font-weight:400'>#"
                        + P.id[i] + "</span></div><table>"
                        + row("found", P.date(i)) + row("road", P.roads[P.r[i]])
                        + row("stake", P.stake(i) + " " + P.sides[P.sd[i]])
                        + row("status", "<span style='color:" + P.statusColors[P.s[i]] + "'>&#9679;</span> "
                              + P.statuses[P.s[i]])
                        + row("town", P.towns[P.w[i]]);
                    if (P.e && P.descs[P.e[i]]) { h += row("description", P.descs[P.e[i]]); }
                    h += "</table>";
                    var thumb = P.thumbs[P.id[i]];
                    if (thumb) {
                        h += "<img alt='' src='" + thumb + "' style='display:block;max-width:220px;"
                            + "max-height:160px;"
                            + "margin-top:4px;border-radius:3px'>";
                    }
                    return h + "</div>";
                };
                return P;
            })();
        {% endmacro %}
        """
    )

    def __init__(self, payload: str) -> None:
        super().__init__()
        self._name = "IncidentData"
        self.payload = payload
        self.digits = B64_DIGITS.decode("ascii")

    # returns None like MacroElement.render, which branca leaves untyped while typing Element.render as str
    def render(self, **kwargs: Any) -> None:  # type: ignore[override]
        # MacroElement.render would wrap the script in Element(text), which compiles it as a Jinja template:
        # 0.3 s for 100,000 incidents, for nothing. Add the text as it is.
        figure = cast(Figure, self.get_root())  # a layer renders inside a map's figure
        script = self._template.module.__dict__["script"](self, kwargs)
        figure.script.add_child(_RawText(script), name=self.get_name())
        for child in self._children.values():
            child.render(**kwargs)


class _RawText(Element):
    """Text added to a figure as it is (not compiled as a template)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "RawText"
        self.text = text

    def render(self, **kwargs: Any) -> str:
        return self.text


class IncidentClusters(FastMarkerCluster):
    """Clustered incident markers built in the browser from :class:`IncidentData` (no per-marker HTML).

    Markers are circle markers coloured by type or status (no icon images to fetch); clicking one opens a
    popup built on demand.
    """

    default_js = mapassets.links(mapassets.MARKERCLUSTER_JS)
    default_css = mapassets.links(mapassets.MARKERCLUSTER_CSS, mapassets.MARKERCLUSTER_DEFAULT_CSS)

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function () {
                var D = {{ this.incidents.get_name() }};
                var cluster = L.markerClusterGroup({{ this.options|tojavascript }});
                var markers = new Array(D.n);
                for (var i = 0; i < D.n; i++) {
                    var m = L.circleMarker([D.lat[i], D.lon[i]], {radius: 7, weight: 1.5, color: "#ffffff",
                                                                  fillColor: D.color(i), fillOpacity: 0.95});
                    m.incidentIndex = i;
                    markers[i] = m;
                }
                cluster.addLayers(markers);
                cluster.on("click", function (e) {
                    var i = e.layer.incidentIndex;
                    if (i === undefined) { return; }
                    L.popup({maxWidth: 320}).setLatLng(e.layer.getLatLng()).setContent(D.popup(i))
                        .openOn(cluster._map);
                });
                window.incidentLayers = window.incidentLayers || {};
                window.incidentLayers.clusters = cluster;
                window.incidentLayers.data = D;
                return cluster;
            })();
        {% endmacro %}
        """
    )

    def __init__(
        self, data: IncidentData, name: str | None = None, show: bool = True, **options: Any
    ) -> None:
        # FastMarkerCluster.__init__ would validate 100,000 rows in Python: the rows live in ``incidents`` instead.
        Layer.__init__(self, name=name, overlay=True, control=True, show=show)
        self._name = "IncidentClusters"
        self.incidents = data  # not ``data``: the parent classes keep a list of rows there
        self.callback = ""
        self.icon_create_function = None
        self.options = remove_empty(
            chunked_loading=True,
            spiderfy_on_max_zoom=True,
            show_coverage_on_hover=False,
            max_cluster_radius=60,
            **options,
        )


class IncidentHeat(HeatMap):
    """Heat map of the incidents, built in the browser from :class:`IncidentData`."""

    default_js = mapassets.links(mapassets.HEAT_JS)

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = (function () {
                var D = {{ this.incidents.get_name() }}, pts = new Array(D.n);
                for (var i = 0; i < D.n; i++) { pts[i] = [D.lat[i], D.lon[i]]; }
                var heat = L.heatLayer(pts, {{ this.options|tojavascript }});
                window.incidentLayers = window.incidentLayers || {};
                window.incidentLayers.heat = heat;
                return heat;
            })();
        {% endmacro %}
        """
    )

    def __init__(
        self,
        data: IncidentData,
        name: str | None = None,
        show: bool = True,
        max_value: float = 1.0,
        bounds: list[list[float | None]] | None = None,
        **options: Any,
    ) -> None:
        # HeatMap.__init__ would validate every point in Python: the points live in ``incidents`` instead.
        Layer.__init__(self, name=name, overlay=True, control=True, show=show)
        self._name = "IncidentHeat"
        self.incidents = data  # not ``data``: the parent classes keep a list of rows there
        self._bounds = bounds or [[None, None], [None, None]]
        self.options = remove_empty(
            min_opacity=0.35, max_zoom=11, radius=18, blur=14, max=max_value, **options
        )

    def _get_self_bounds(self) -> list[list[float | None]]:
        return self._bounds


# ------------------------------------------------------------------------------------------------------------
# Control-zone band, coverage, hotspots
# ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZoneBand:
    """Road land and building control zone along a road, as polygons in WGS-84 (条例 第十一条)."""

    code: str
    road_class: str
    half_road_land_m: float
    half_road_land_assumed: bool
    control_zone_m: float | None  # None: no statutory zone for this class (village roads)
    road_land: BaseGeometry
    control_zone: BaseGeometry | None  # the strip between road land and the control line
    legal_basis: str


def control_zone_band(network: RoadNetwork, code: str) -> ZoneBand:
    """Buffer the road's centreline in the network's metric CRS by half the road-land width (road land) and by
    that plus the control-zone width (control line), then convert back to WGS-84."""
    r = network.route(code)
    v = zone_verdict(r.road_class, 0.0, r.half_road_land_m)
    lines = MultiLineString([c for _, c in r.parts])
    land_m, zone_m = zone_buffers(
        lines, r.road_class, r.half_road_land_m
    )  # the verdict's own rule, ends included

    def to_wgs(g: BaseGeometry) -> BaseGeometry:
        out = shapely.transform(g, lambda xy: np.column_stack(network.to_wgs84(xy[:, 0], xy[:, 1])))
        return out if out.is_valid else shapely.make_valid(out)

    return ZoneBand(
        r.code,
        r.road_class,
        v.half_road_land_m,
        v.half_road_land_assumed,
        v.control_zone_m,
        to_wgs(land_m),
        to_wgs(zone_m) if zone_m is not None else None,
        LEGAL_BASIS_ZONE
        if zone_m is not None
        else zone_verdict(r.road_class, 1e9, r.half_road_land_m).legal_basis,
    )


def zone_band_layer(
    network: RoadNetwork, code: str, labels: Labels, bm: Basemap = NO_BASEMAP
) -> folium.FeatureGroup:
    band = control_zone_band(network, code)
    r = network.routes[band.code]
    fg = folium.FeatureGroup(name=_esc(_label(labels, "layer.zone", code=band.code)))
    assumed = _label(labels, "tip.assumed") if band.half_road_land_assumed else ""
    tip_land = _label(
        labels,
        "tip.road_land" if band.road_class != "village" else "tip.no_zone",
        code=band.code,
        name=r.name,
        half=f"{band.half_road_land_m:g}",
        assumed=assumed,
    )
    feats = [
        {
            "type": "Feature",
            "properties": {
                "tip": tip_land,
                "style": {
                    "color": ROAD_LAND_COLOR,
                    "weight": 1,
                    "fillColor": ROAD_LAND_COLOR,
                    "fillOpacity": 0.4,
                },
            },
            "geometry": mapping(_round_coords(bm.display_geometry(band.road_land), 7)),
        }
    ]
    if band.control_zone is not None:
        tip_zone = _label(
            labels,
            "tip.zone",
            code=band.code,
            name=r.name,
            width=f"{band.control_zone_m:g}",
            line=f"{band.half_road_land_m + (band.control_zone_m or 0):g}",
            road_class_text=_label(labels, "class." + band.road_class),
            basis=band.legal_basis,
        )
        feats.insert(
            0,
            {
                "type": "Feature",
                "properties": {
                    "tip": tip_zone,
                    "style": {"color": ZONE_COLOR, "weight": 2, "fillColor": ZONE_COLOR, "fillOpacity": 0.35},
                },
                "geometry": mapping(_round_coords(bm.display_geometry(band.control_zone), 7)),
            },
        )
    folium.GeoJson(
        {"type": "FeatureCollection", "features": feats},
        style_function=_style_from_properties,
        tooltip=SafeGeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
    ).add_to(fg)
    rows = [(ROAD_LAND_COLOR, _label(labels, "legend.road_land"), "band")]
    if band.control_zone is not None:
        rows.insert(0, (ZONE_COLOR, _label(labels, "legend.zone"), "band"))
    MapLegend(f"{band.code} {r.name}", rows, position="bottomleft").add_to(fg)
    # zoom to the road the user chose
    minx, miny, maxx, maxy = bm.display_geometry(band.road_land).bounds
    fg.add_child(_FitBoundsOnAdd([[miny, minx], [maxy, maxx]], band.code))
    return fg


class _FitBoundsOnAdd(MacroElement):
    """Fit the map to ``bounds`` when the parent layer is first added for ``key`` (works inside the feature
    groups streamlit-folium swaps on reruns: choosing a road zooms to it once, other changes keep
    the view)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            (function (layer) {
                var fit = function () {
                    if (!layer._map || window.patrolFittedTo === {{ this.key|tojson }}) { return; }
                    window.patrolFittedTo = {{ this.key|tojson }};
                    layer._map.fitBounds({{ this.bounds|tojson }});
                };
                if (layer._map) { fit(); } else { layer.once("add", fit); }
            })({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, bounds: list[list[float]], key: str) -> None:
        super().__init__()
        self._name = "FitBoundsOnAdd"
        self.bounds = bounds
        self.key = key


@dataclass(frozen=True)
class CoverageRow:
    """How often a road was patrolled in a period."""

    code: str
    times: int
    last_date: dt.date | None = None


def coverage_layer(
    network: RoadNetwork,
    coverage: Sequence[CoverageRow],
    labels: Labels,
    bm: Basemap = NO_BASEMAP,
    show: bool = True,
) -> folium.FeatureGroup:
    """Roads coloured by how often they were patrolled; roads never patrolled in red, dashed."""
    fg = folium.FeatureGroup(name=_label(labels, "layer.coverage"), show=show)
    times = [c.times for c in coverage if c.times > 0]
    edges = np.quantile(times, [0.25, 0.5, 0.75]) if times else np.zeros(3)
    feats = []
    for c in coverage:
        if c.code not in network.routes:
            continue
        r = network.routes[c.code]
        if c.times == 0:
            style = {"color": COVERAGE_NONE_COLOR, "weight": 7, "opacity": 0.9, "dashArray": "10 6"}
            tip = _label(labels, "tip.unpatrolled", code=c.code, name=r.name)
        else:
            step = int(np.searchsorted(edges, c.times, side="left"))
            style = {"color": COVERAGE_RAMP[min(step, len(COVERAGE_RAMP) - 1)], "weight": 7, "opacity": 0.85}
            tip = _label(
                labels,
                "tip.coverage",
                code=c.code,
                name=r.name,
                times=c.times,
                last=c.last_date.isoformat() if c.last_date else "",
            )
        feats.append(
            {
                "type": "Feature",
                "properties": {"tip": tip, "style": style},
                "geometry": route_geojson(network, c.code, bm),
            }
        )
    if feats:
        folium.GeoJson(
            {"type": "FeatureCollection", "features": feats},
            style_function=_style_from_properties,
            tooltip=SafeGeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        ).add_to(fg)
    rows = [
        (COVERAGE_NONE_COLOR, _label(labels, "legend.unpatrolled"), "dash"),
        (COVERAGE_RAMP[0], _label(labels, "legend.patrolled_less"), "line"),
        (COVERAGE_RAMP[-1], _label(labels, "legend.patrolled_more"), "line"),
    ]
    MapLegend(_label(labels, "layer.coverage"), rows, position="bottomleft").add_to(fg)
    return fg


@dataclass(frozen=True)
class HotspotRow:
    """A stake segment of a road with repeated incidents."""

    code: str
    from_m: float
    to_m: float
    count: int
    open_count: int = 0
    top_type: str = ""

    @property
    def stakes(self) -> str:
        return f"{format_stake(self.from_m)}–{format_stake(self.to_m)}"


def route_section_wgs84(network: RoadNetwork, code: str, from_m: float, to_m: float) -> BaseGeometry | None:
    """The centreline between two chainages, in WGS-84 (None when the range misses the road)."""
    r = network.route(code)
    lines = []
    for start, c in r.parts:
        line = LineString(c)
        a, b = max(from_m - start, 0.0), min(to_m - start, line.length)
        if b <= a:
            continue
        piece = substring(line, a, b)
        if piece.is_empty or piece.geom_type != "LineString":
            continue
        xy = np.asarray(piece.coords)
        lon, lat = network.to_wgs84(xy[:, 0], xy[:, 1])
        lines.append(LineString(np.column_stack([lon, lat])))
    if not lines:
        return None
    return lines[0] if len(lines) == 1 else MultiLineString(lines)


def hotspot_layer(
    network: RoadNetwork,
    hotspots: Sequence[HotspotRow],
    labels: Labels,
    bm: Basemap = NO_BASEMAP,
    show: bool = True,
) -> folium.FeatureGroup:
    """Hotspot segments drawn as wide translucent bands over the road, wider the more incidents."""
    fg = folium.FeatureGroup(name=_label(labels, "layer.hotspots"), show=show)
    top = max((h.count for h in hotspots), default=1)
    feats = []
    for h in hotspots:
        if h.code not in network.routes:
            continue
        geom = route_section_wgs84(network, h.code, h.from_m, h.to_m)
        if geom is None:
            continue
        tip = _label(
            labels,
            "tip.hotspot",
            code=h.code,
            name=network.routes[h.code].name,
            stakes=h.stakes,
            count=h.count,
            open=h.open_count,
            top_type=_label(labels, "type." + h.top_type),
        )
        style = {
            "color": HOTSPOT_COLOR,
            "weight": 10 + round(10 * h.count / top),
            "opacity": 0.5,
            "lineCap": "round",
        }
        feats.append(
            {
                "type": "Feature",
                "properties": {"tip": tip, "style": style},
                "geometry": mapping(_round_coords(bm.display_geometry(geom))),
            }
        )
    if feats:
        folium.GeoJson(
            {"type": "FeatureCollection", "features": feats},
            style_function=_style_from_properties,
            tooltip=SafeGeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        ).add_to(fg)
    MapLegend(
        _label(labels, "layer.hotspots"),
        [(HOTSPOT_COLOR, _label(labels, "legend.hotspot"), "line")],
        position="bottomleft",
    ).add_to(fg)
    return fg


# ------------------------------------------------------------------------------------------------------------
# Whole maps
# ------------------------------------------------------------------------------------------------------------


def district_map(
    network: RoadNetwork,
    labels: Labels,
    bm: Basemap = NO_BASEMAP,
    height: str = "100%",
    map_class: type[folium.Map] = PluginMap,
    *,
    district: District,
    invented_roads: bool = False,
) -> folium.Map:
    """Base of the incident map: tiles (if any), district boundary, roads by class, fitted to the district.
    ``invented_roads``: the network is the demo's (the credit line says so).

    Draws with no tiles at all: the vector layers need nothing but Leaflet.
    """
    m = map_class(
        location=list(district.centre),
        zoom_start=10,
        tiles=None,
        control_scale=False,
        height=height,
        attribution_control=True,
        font_size="12px",  # attribution and tooltips stay on one line on a narrow map
    )
    m.options["max_zoom"] = (
        bm.max_zoom
    )  # the cluster plugin needs the map's own maxZoom (tiles=None sets none)
    _MetricScale().add_to(m)
    _add_tiles(m, bm)
    boundary_layer(district, bm, labels, invented_roads).add_to(m)
    classed_road_layer(network, labels, bm).add_to(m)
    road_class_legend(network, labels).add_to(m)
    m.fit_bounds(district_bounds(district, bm))
    return m


def incident_layers(
    points: IncidentPoints,
    network: RoadNetwork,
    labels: Labels,
    bm: Basemap = NO_BASEMAP,
    *,
    color_by: str = "type",
    mode: str = "cluster",
    zone_road: str | None = None,
    coverage: Sequence[CoverageRow] | None = None,
    hotspots: Sequence[HotspotRow] | None = None,
) -> list[folium.FeatureGroup]:
    """The changing layers of the page's map (for ``st_folium(feature_group_to_add=…)``), bottom to top:
    coverage, control-zone band, hotspots, incidents (clusters or heat, with their legend)."""
    groups: list[folium.FeatureGroup] = []
    if coverage is not None:
        groups.append(coverage_layer(network, coverage, labels, bm))
    if zone_road:
        groups.append(zone_band_layer(network, zone_road, labels, bm))
    if hotspots is not None:
        groups.append(hotspot_layer(network, hotspots, labels, bm))
    groups.append(incidents_group(points, network, labels, bm, color_by=color_by, mode=mode))
    return groups


def incidents_group(
    points: IncidentPoints,
    network: RoadNetwork,
    labels: Labels,
    bm: Basemap = NO_BASEMAP,
    *,
    color_by: str = "type",
    mode: str = "cluster",
) -> folium.FeatureGroup:
    payload, summary = incident_payload(
        points, labels, bm, color_by, {c: r.name for c, r in network.routes.items()}
    )
    fg = folium.FeatureGroup(name=_label(labels, "layer.incidents"))
    data = IncidentData(payload)
    data.add_to(fg)
    if mode == "heat":
        IncidentHeat(
            data, name=_label(labels, "layer.heat"), max_value=summary["heat_max"], bounds=summary["bounds"]
        ).add_to(fg)
    else:
        IncidentClusters(data, name=_label(labels, "layer.incidents")).add_to(fg)
        _legend_for(summary, labels, color_by).add_to(fg)
    return fg


def _legend_for(summary: dict[str, Any], labels: Labels, color_by: str) -> MapLegend:
    title = _label(labels, "legend.status" if color_by == "status" else "legend.type", count=summary["n"])
    return MapLegend(title, [(c, f"{text} {k}", "dot") for c, text, k in summary["legend"]])


def incident_map(
    points: IncidentPoints,
    network: RoadNetwork,
    labels: Labels,
    bm: Basemap = NO_BASEMAP,
    *,
    color_by: str = "type",
    title: str = "",
    subtitle: str = "",
    coverage: Sequence[CoverageRow] | None = None,
    hotspots: Sequence[HotspotRow] | None = None,
    zone_road: str | None = None,
    height: str = "100%",
    district: District,
    invented_roads: bool = False,
) -> folium.Map:
    """The whole incident map in one folium Map (for a standalone file): roads, clusters, a heat
    layer (off until ticked), coverage, hotspots, the legend and a layer switcher."""
    m = district_map(network, labels, bm, height=height, district=district, invented_roads=invented_roads)
    if coverage is not None:
        coverage_layer(network, coverage, labels, bm, show=False).add_to(m)
    if zone_road:
        zone_band_layer(network, zone_road, labels, bm).add_to(m)
    if hotspots is not None:
        hotspot_layer(network, hotspots, labels, bm, show=True).add_to(m)
    payload, summary = incident_payload(
        points, labels, bm, color_by, {c: r.name for c, r in network.routes.items()}
    )
    data = IncidentData(payload)
    data.add_to(m)
    IncidentClusters(data, name=_label(labels, "layer.incidents")).add_to(m)
    IncidentHeat(
        data,
        name=_label(labels, "layer.heat"),
        show=False,
        max_value=summary["heat_max"],
        bounds=summary["bounds"],
    ).add_to(m)
    _legend_for(summary, labels, color_by).add_to(m)
    if title:
        MapTitle(title, subtitle).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def standalone_html(m: folium.Map, title: str = "") -> str:
    """The map as one self-contained HTML file: every script and stylesheet inlined, nothing fetched."""
    fig = cast(Figure, m.get_root())  # a map's root is always its Figure
    if title:
        fig.title = _esc(title)
    return mapassets.inline_assets(fig.render())


# ------------------------------------------------------------------------------------------------------------
# The location picker (tap on the map)
# ------------------------------------------------------------------------------------------------------------


class MyPosition(MacroElement):
    """The device's own position on the map: a blue dot with its accuracy circle, kept current while the map is
    open (browser geolocation, high accuracy). A last known fix can be drawn until the browser answers."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var dot = null, ring = null;
            function show(lat, lon, acc) {
                if (!dot) {
                    ring = L.circle([lat, lon], {radius: acc || 0, color: "#1a73e8", weight: 1,
                                                 fillColor: "#1a73e8", fillOpacity: 0.12, interactive: false});
                    dot = L.circleMarker([lat, lon], {radius: 8, color: "#fff", weight: 3, fillColor: "#1a73e8",
                                                      fillOpacity: 1, interactive: false});
                    ring.addTo(map); dot.addTo(map);
                } else {
                    dot.setLatLng([lat, lon]); ring.setLatLng([lat, lon]); ring.setRadius(acc || 0);
                }
                window.patrolMyPosition = [lat, lon, acc];
            }
            {% if this.fix %}show({{ this.fix[1] }}, {{ this.fix[0] }}, {{ this.fix[2] or 0 }});{% endif %}
            if (navigator.geolocation && window.isSecureContext) {
                navigator.geolocation.watchPosition(function (p) {
                    show(p.coords.latitude, p.coords.longitude, p.coords.accuracy);
                }, function () {}, {enableHighAccuracy: true, maximumAge: 10000, timeout: 30000});
            }
        })();
        {% endmacro %}
        """
    )

    def __init__(self, fix: tuple[float, float, float | None] | None = None) -> None:
        super().__init__()
        self._name = "MyPosition"
        self.fix = None if fix is None else (float(fix[0]), float(fix[1]), float(fix[2] or 0.0))


def picker_map(
    network: RoadNetwork,
    labels: Labels,
    fix: tuple[float, float, float | None] | None = None,
    height: str = "100%",
    *,
    district: District,
    invented_roads: bool = False,
) -> folium.Map:
    """The map an officer taps to place an incident: roads by class, metric scale only, the device's own position."""
    m = district_map(
        network, labels, height=height, map_class=OfflineMap, district=district, invented_roads=invented_roads
    )
    MyPosition(fix).add_to(m)
    return m


def nearby_layer(
    points: Iterable[tuple[float, float, str]],
    chosen: tuple[float, float, str] | None = None,
    color: str = "#f57c00",
) -> folium.FeatureGroup:
    """Open incidents near where the officer is (small orange rings, escaped tooltips), and the chosen point."""
    fg = folium.FeatureGroup(name="picker")
    for lon, lat, tip in points:
        folium.CircleMarker(
            [lat, lon],
            radius=6,
            color=color,
            weight=2,
            fill=True,
            fill_color="#fff",
            fill_opacity=0.9,
            tooltip=folium.Tooltip(_esc(tip)),
        ).add_to(fg)
    if chosen is not None:
        lon, lat, tip = chosen
        folium.CircleMarker(
            [lat, lon],
            radius=9,
            color="#fff",
            weight=3,
            fill=True,
            fill_color="#e74c3c",
            fill_opacity=1.0,
            tooltip=folium.Tooltip(_esc(tip)),
        ).add_to(fg)
    return fg


# ------------------------------------------------------------------------------------------------------------
# Road network preview (before a network replaces the store's)
# ------------------------------------------------------------------------------------------------------------


def stake_marks(network: RoadNetwork, every_m: float = 1000.0) -> list[tuple[float, float, str]]:
    """(lon, lat, "K12") at every whole ``every_m`` of chainage on every route, vectorised per route piece."""
    out: list[tuple[float, float, str]] = []
    for code in network.codes:
        r = network.routes[code]
        for start, c in r.parts:
            seg = np.hypot(np.diff(c[:, 0]), np.diff(c[:, 1]))
            cum = start + np.concatenate([[0.0], np.cumsum(seg)])
            first = np.ceil(cum[0] / every_m) * every_m
            marks = np.arange(first, cum[-1] + 1e-6, every_m)
            if not len(marks):
                continue
            x = np.interp(marks, cum, c[:, 0])
            y = np.interp(marks, cum, c[:, 1])
            lon, lat = network.to_wgs84(x, y)
            for lo, la, m in zip(np.atleast_1d(lon), np.atleast_1d(lat), marks):
                out.append((float(lo), float(la), f"K{int(round(m / 1000.0))}"))
    return out


class StakeLabels(Layer):
    """Small stake labels ("K12") drawn in the browser from one compact array (no per-label Python objects)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.layerGroup();
            (function (group, data) {
                for (var i = 0; i < data.length; i++) {
                    L.marker([data[i][1], data[i][0]], {interactive: false, keyboard: false,
                        icon: L.divIcon({className: "stake-label", iconSize: null,
                            html: '<span style="font:10px/1 sans-serif;color:#333;background:rgba(255,255,255,.8);'
                                + 'padding:0 2px;border:1px solid #999;border-radius:2px">' + data[i][2] + '</span>'})
                    }).addTo(group);
                }
            })({{ this.get_name() }}, {{ this.data|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, marks: Sequence[tuple[float, float, str]], name: str = "stakes") -> None:
        super().__init__(name=name, overlay=True, control=False, show=True)
        self._name = "StakeLabels"
        self.data = [[round(lo, 6), round(la, 6), text] for lo, la, text in marks]


def network_preview_map(
    network: RoadNetwork, labels: Labels, every_m: float = 1000.0, height: str = "100%"
) -> folium.Map:
    """A road network as it would be imported: routes by class (tooltip: code, name, stakes), a stake label every
    ``every_m`` metres, a class legend; fitted to the network (which may lie outside the demo district)."""
    m = OfflineMap(
        location=[(network.bounds[1] + network.bounds[3]) / 2, (network.bounds[0] + network.bounds[2]) / 2],
        zoom_start=10,
        tiles=None,
        control_scale=True,
        height=height,
    )
    fields = {
        "code": _label(labels, "info.road"),
        "name": _label(labels, "info.name"),
        "stakes": _label(labels, "info.stakes"),
    }
    road_layer(network, fields).add_to(m)
    StakeLabels(stake_marks(network, every_m)).add_to(m)
    road_class_legend(network, labels).add_to(m)
    x0, y0, x1, y1 = network.bounds
    m.fit_bounds([[y0, x0], [y1, x1]])
    return m
