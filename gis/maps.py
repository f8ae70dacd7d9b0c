"""folium map builders. No Streamlit here: the UI passes the maps to ``st_folium``; tests read the HTML.

Maps must draw on an intranet with no internet: Leaflet's JS/CSS come from the app itself
(``static/leaflet/``, served by Streamlit at ``/app/static/``), never from a public CDN, and the default
basemap is none (vector layers only).
"""

from __future__ import annotations

from typing import Any, Iterable

import folium
from shapely.geometry import mapping

from gis.places import boundary
from gis.roads import RoadNetwork

STATIC_PREFIX = "/app/static"

ROAD_STYLE = {
    "national": {"color": "#c0392b", "weight": 5},
    "provincial": {"color": "#d35400", "weight": 4},
    "county": {"color": "#1f5fbf", "weight": 4},
    "township": {"color": "#27ae60", "weight": 3},
    "village": {"color": "#7f8c8d", "weight": 2},
    "special": {"color": "#8e44ad", "weight": 2},
}

ATTRIBUTION = "边界与地名 © Vonng/adcode (CC BY 4.0)；演示路网为虚构数据"


class OfflineMap(folium.Map):
    """A folium Map that loads only Leaflet, from the app's own static files."""

    default_js = [("leaflet", f"{STATIC_PREFIX}/leaflet/leaflet.js")]
    default_css = [("leaflet_css", f"{STATIC_PREFIX}/leaflet/leaflet.css")]


def base_map(network: RoadNetwork | None = None, height: str = "100%") -> folium.Map:
    """An empty map (no tiles) fitted to the district, with the boundary drawn."""
    m = OfflineMap(location=[25.45, 103.85], zoom_start=10, tiles=None, control_scale=True,
                   height=height, attribution_control=True)
    b = boundary()
    folium.GeoJson(
        mapping(b),
        name="boundary",
        style_function=lambda _f: {"color": "#555", "weight": 2, "dashArray": "6 4", "fill": True,
                                   "fillColor": "#f4f1ea", "fillOpacity": 0.6},
        interactive=False,
        attribution=ATTRIBUTION,
    ).add_to(m)
    minx, miny, maxx, maxy = b.bounds
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    return m


def roads_geojson(network: RoadNetwork) -> dict[str, Any]:
    feats = []
    for code in network.codes:
        r = network.routes[code]
        feats.append({
            "type": "Feature",
            "properties": {"code": code, "name": r.name, "road_class": r.road_class,
                           "stakes": f"{r.start_stake}–{r.end_stake}"},
            "geometry": mapping(network.route_geometry_wgs84(code)),
        })
    return {"type": "FeatureCollection", "features": feats}


def road_layer(network: RoadNetwork, labels: dict[str, str] | None = None) -> folium.FeatureGroup:
    """Roads drawn by class, with a tooltip of code, name and stake range."""
    fg = folium.FeatureGroup(name="roads")
    labels = labels or {"code": "路线", "name": "名称", "stakes": "桩号"}
    folium.GeoJson(
        roads_geojson(network),
        style_function=lambda f: {**ROAD_STYLE.get(f["properties"]["road_class"], ROAD_STYLE["village"]),
                                  "opacity": 0.9},
        highlight_function=lambda _f: {"weight": 7},
        tooltip=folium.GeoJsonTooltip(fields=list(labels), aliases=list(labels.values()), sticky=True),
    ).add_to(fg)
    return fg


def point_layer(points: Iterable[tuple[float, float, str]], color: str = "#e74c3c") -> folium.FeatureGroup:
    """Marked points (lon, lat, tooltip) drawn as circle markers (no icon images needed)."""
    fg = folium.FeatureGroup(name="points")
    for lon, lat, tip in points:
        folium.CircleMarker([lat, lon], radius=9, color="#fff", weight=3, fill=True, fill_color=color,
                            fill_opacity=1.0, tooltip=tip).add_to(fg)
    return fg
