"""Whole folium maps: the incident map (base + the layers the page swaps), the location picker and the road
network preview. The standalone ``patrol map`` file is drawn by :mod:`gis.maps.standalone` from the same
layer data and the same scripts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import folium
import numpy as np
from folium.elements import MacroElement
from folium.map import Layer
from folium.template import Template

from gis.maps.base import NO_BASEMAP, Basemap, Labels, _esc, _label, district_bounds, template_text
from gis.maps.incidents import IncidentPoints, incident_payload, legend_rows, legend_title
from gis.maps.layers import (
    IncidentClusters,
    IncidentData,
    IncidentHeat,
    MapLegend,
    MetricScale,
    OfflineMap,
    PluginMap,
    add_tiles,
    boundary_layer,
    classed_road_layer,
    coverage_layer,
    hotspot_layer,
    road_class_legend,
    zone_band_layer,
)
from gis.maps.overlays import CoverageRow, HotspotRow
from gis.places import District
from gis.roads import RoadNetwork


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
    MetricScale().add_to(m)
    add_tiles(m, bm)
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
    return MapLegend(legend_title(summary, labels, color_by), legend_rows(summary))


# ------------------------------------------------------------------------------------------------------------
# The location picker (tap on the map)
# ------------------------------------------------------------------------------------------------------------


class MyPosition(MacroElement):
    """The device's own position on the map: a blue dot with its accuracy circle, kept current while the map is
    open (browser geolocation, high accuracy). A last known fix can be drawn until the browser answers."""

    _template = Template(template_text("my_position.js"))

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

    _template = Template(template_text("stake_labels.js"))

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
    classed_road_layer(network, labels).add_to(m)
    StakeLabels(stake_marks(network, every_m)).add_to(m)
    road_class_legend(network, labels).add_to(m)
    x0, y0, x1, y1 = network.bounds
    m.fit_bounds([[y0, x0], [y1, x1]])
    return m
