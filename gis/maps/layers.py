"""The folium side of the maps: Leaflet elements whose scripts live in ``templates/`` (package data) and the
layers the page swaps through streamlit-folium. No Streamlit here: the UI passes them to ``st_folium``.

Maps must draw on an intranet with no internet: Leaflet's and its plugins' JS/CSS come from the app itself
(``static/``, served by Streamlit at ``/app/static/``, or inlined into a standalone file — see
:mod:`gis.mapassets`), never from a public CDN, and the default basemap is none (vector layers only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import folium
from branca.element import Figure
from folium.elements import Element, MacroElement
from folium.map import Layer
from folium.plugins import FastMarkerCluster, HeatMap
from folium.template import Template
from folium.utilities import remove_empty

from gis import mapassets
from gis.maps.base import (
    CLUSTER_OPTIONS,
    HEAT_OPTIONS,
    NO_BASEMAP,
    ROAD_ALIASES,
    ROAD_FIELDS,
    Basemap,
    Labels,
    LegendRows,
    _label,
    attribution,
    boundary_feature,
    legend_html,
    road_class_rows,
    road_features,
    road_style,
    template_text,
)
from gis.maps.incidents import B64_DIGITS
from gis.maps.overlays import (
    CoverageRow,
    HotspotRow,
    Overlay,
    coverage_overlay,
    hotspot_overlay,
    zone_band_overlay,
)
from gis.places import District
from gis.roads import RoadNetwork


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


def add_tiles(m: folium.Map, bm: Basemap) -> None:
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


class SafeGeoJsonTooltip(folium.GeoJsonTooltip):
    """folium's ``GeoJsonTooltip``, but every property value and alias is HTML-escaped in the browser before it
    goes into the tooltip (folium's own puts them into ``innerHTML`` as they are: a road named
    ``<img src=x onerror=alert(1)>`` would run). Used for every tooltip on every map."""

    _template = Template(template_text("safe_tooltip.js"))


def _style_from_properties(feature: dict[str, Any]) -> dict[str, Any]:
    """GeoJSON style carried by each feature (module level, so layers that use it can be pickled/cached)."""
    return feature["properties"]["style"]


def _road_style(feature: dict[str, Any]) -> dict[str, Any]:
    return road_style(feature["properties"]["road_class"])


def _road_highlight(_feature: dict[str, Any]) -> dict[str, Any]:
    return {"weight": 7}


def boundary_layer(
    district: District, bm: Basemap = NO_BASEMAP, labels: Labels | None = None, invented_roads: bool = False
) -> folium.GeoJson:
    """The district boundary, filled when there are no tiles, outlined only over tiles."""
    return folium.GeoJson(
        boundary_feature(district, bm),
        name=_label(labels or {}, "layer.boundary"),
        style_function=_style_from_properties,
        interactive=False,
        attribution=attribution(district, labels, invented_roads),
        control=False,
    )


def classed_road_layer(network: RoadNetwork, labels: Labels, bm: Basemap = NO_BASEMAP) -> folium.FeatureGroup:
    """Roads drawn by class (county and township roads distinct), tooltip: code, name, class, stake range."""
    fg = folium.FeatureGroup(name=_label(labels, "layer.roads"), control=False)
    folium.GeoJson(
        road_features(network, labels, bm),
        style_function=_road_style,
        highlight_function=_road_highlight,
        tooltip=SafeGeoJsonTooltip(
            fields=list(ROAD_FIELDS), aliases=[_label(labels, k) for k in ROAD_ALIASES], sticky=True
        ),
    ).add_to(fg)
    return fg


class MapLegend(Layer):
    """A legend box (a Leaflet control) that shows while this layer is on the map and goes with it.

    Being a layer, it can sit inside a feature group that streamlit-folium swaps on reruns, and it disappears
    with the layers it explains.
    """

    _template = Template(template_text("legend.js"))

    def __init__(self, title: str, rows: LegendRows, position: str = "bottomright") -> None:
        """``rows``: (colour, label, shape) with shape ``dot``, ``line``, ``dash`` or ``band``."""
        super().__init__(name=title, overlay=True, control=False, show=True)
        self._name = "MapLegend"
        self.position = position
        self.html = legend_html(title, rows)


def road_class_legend(network: RoadNetwork, labels: Labels) -> MapLegend:
    return MapLegend(_label(labels, "legend.roads"), road_class_rows(network, labels), position="topright")


class MetricScale(MacroElement):
    """A scale bar in metres and kilometres only; a short attribution prefix (the map is often narrow)."""

    _template = Template(template_text("metric_scale.js"))


class IncidentData(MacroElement):
    """The incidents, once, as a JavaScript object the cluster and heat layers both read.

    Decodes the integer columns into ``lat``/``lon``/``id`` arrays and offers ``color(i)`` and ``popup(i)``.
    """

    _template = Template(template_text("incident_data.js"))

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

    _template = Template(template_text("incident_clusters.js"))

    def __init__(
        self, data: IncidentData, name: str | None = None, show: bool = True, **options: Any
    ) -> None:
        # FastMarkerCluster.__init__ would validate 100,000 rows in Python: the rows live in ``incidents`` instead.
        Layer.__init__(self, name=name, overlay=True, control=True, show=show)
        self._name = "IncidentClusters"
        self.incidents = data  # not ``data``: the parent classes keep a list of rows there
        self.callback = ""
        self.icon_create_function = None
        self.options = remove_empty(**CLUSTER_OPTIONS, **options)


class IncidentHeat(HeatMap):
    """Heat map of the incidents, built in the browser from :class:`IncidentData`."""

    default_js = mapassets.links(mapassets.HEAT_JS)

    _template = Template(template_text("incident_heat.js"))

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
        self.options = remove_empty(**HEAT_OPTIONS, max=max_value, **options)

    def _get_self_bounds(self) -> list[list[float | None]]:
        return self._bounds


class _FitBoundsOnAdd(MacroElement):
    """Fit the map to ``bounds`` when the parent layer is first added for ``key`` (works inside the feature
    groups streamlit-folium swaps on reruns: choosing a road zooms to it once, other changes keep
    the view)."""

    _template = Template(template_text("fit_bounds_on_add.js"))

    def __init__(self, bounds: list[list[float]], key: str) -> None:
        super().__init__()
        self._name = "FitBoundsOnAdd"
        self.bounds = bounds
        self.key = key


def overlay_group(overlay: Overlay, show: bool = True) -> folium.FeatureGroup:
    """An :class:`~gis.maps.overlays.Overlay` as a folium feature group: its features with their styles and
    escaped tooltips, its legend, and (a zone band) the zoom to its road."""
    fg = folium.FeatureGroup(name=overlay.name, show=show)
    if overlay.features["features"]:
        folium.GeoJson(
            overlay.features,
            style_function=_style_from_properties,
            tooltip=SafeGeoJsonTooltip(fields=["tip"], labels=False, sticky=True),
        ).add_to(fg)
    MapLegend(overlay.legend_title, overlay.legend_rows, position=overlay.legend_position).add_to(fg)
    if overlay.fit_bounds is not None:
        fg.add_child(_FitBoundsOnAdd(overlay.fit_bounds, overlay.fit_key))
    return fg


def zone_band_layer(
    network: RoadNetwork, code: str, labels: Labels, bm: Basemap = NO_BASEMAP
) -> folium.FeatureGroup:
    """Road land and control zone along one road (zooms to it when first shown)."""
    return overlay_group(zone_band_overlay(network, code, labels, bm))


def coverage_layer(
    network: RoadNetwork,
    coverage: Sequence[CoverageRow],
    labels: Labels,
    bm: Basemap = NO_BASEMAP,
    show: bool = True,
) -> folium.FeatureGroup:
    """Roads coloured by how often they were patrolled; roads never patrolled in red, dashed."""
    return overlay_group(coverage_overlay(network, coverage, labels, bm), show=show)


def hotspot_layer(
    network: RoadNetwork,
    hotspots: Sequence[HotspotRow],
    labels: Labels,
    bm: Basemap = NO_BASEMAP,
    show: bool = True,
) -> folium.FeatureGroup:
    """Hotspot segments drawn as wide translucent bands over the road, wider the more incidents."""
    return overlay_group(hotspot_overlay(network, hotspots, labels, bm), show=show)
