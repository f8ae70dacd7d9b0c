"""Maps of the district: roads by class, incidents (clusters, heat, popups), coverage, hotspots, control zones.

The package along its seams:

- :mod:`gis.maps.base` — basemaps, labels and escaping, colours, boundary and roads as GeoJSON, legend HTML;
- :mod:`gis.maps.incidents` — the incidents as one compact columnar payload the browser decodes;
- :mod:`gis.maps.overlays` — control-zone band, patrol coverage, hotspots (features + legend rows);
- :mod:`gis.maps.layers` — the folium elements and layers (the page's map, through streamlit-folium);
- :mod:`gis.maps.compose` — whole folium maps: incident map, location picker, road network preview;
- ``templates/`` — the maps' JavaScript, shipped as package data.

Only ``layers`` and ``compose`` import folium, and they are loaded when one of their names is first used:
``from gis.maps import Basemap`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gis.maps.base import (
    BASEMAP_KINDS,
    COVERAGE_NONE_COLOR,
    COVERAGE_RAMP,
    HOTSPOT_COLOR,
    NO_BASEMAP,
    OTHER_COLOR,
    ROAD_LAND_COLOR,
    ROAD_STYLE,
    STATIC_PREFIX,
    STATUS_COLORS,
    ZONE_COLOR,
    Basemap,
    Labels,
    attribution,
    basemap,
    boundary_feature,
    district_bounds,
    legend_html,
    road_class_rows,
    road_features,
    route_geojson,
    type_colors,
)
from gis.maps.incidents import (
    B64_DIGITS,
    COORD_QUANTUM,
    DESCRIPTION_BUDGET_CHARS,
    IncidentPoints,
    incident_payload,
    pack_ints,
)
from gis.maps.overlays import (
    CoverageRow,
    HotspotRow,
    Overlay,
    ZoneBand,
    control_zone_band,
    coverage_overlay,
    hotspot_overlay,
    route_section_wgs84,
    zone_band_overlay,
)

if TYPE_CHECKING:  # folium-backed names, imported on first use (see __getattr__)
    from gis.maps.compose import (
        MyPosition,
        StakeLabels,
        district_map,
        incident_layers,
        incidents_group,
        nearby_layer,
        network_preview_map,
        picker_map,
        stake_marks,
    )
    from gis.maps.layers import (
        IncidentClusters,
        IncidentData,
        IncidentHeat,
        MapLegend,
        OfflineMap,
        PluginMap,
        SafeGeoJsonTooltip,
        boundary_layer,
        classed_road_layer,
        coverage_layer,
        hotspot_layer,
        road_class_legend,
        zone_band_layer,
    )

_LAZY = {
    "gis.maps.layers": (
        "IncidentClusters",
        "IncidentData",
        "IncidentHeat",
        "MapLegend",
        "OfflineMap",
        "PluginMap",
        "SafeGeoJsonTooltip",
        "boundary_layer",
        "classed_road_layer",
        "coverage_layer",
        "hotspot_layer",
        "road_class_legend",
        "zone_band_layer",
    ),
    "gis.maps.compose": (
        "MyPosition",
        "StakeLabels",
        "district_map",
        "incident_layers",
        "incidents_group",
        "nearby_layer",
        "network_preview_map",
        "picker_map",
        "stake_marks",
    ),
}
_LAZY_NAMES = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _LAZY_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'gis.maps' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "attribution",
    "B64_DIGITS",
    "BASEMAP_KINDS",
    "COORD_QUANTUM",
    "COVERAGE_NONE_COLOR",
    "COVERAGE_RAMP",
    "DESCRIPTION_BUDGET_CHARS",
    "HOTSPOT_COLOR",
    "NO_BASEMAP",
    "OTHER_COLOR",
    "ROAD_LAND_COLOR",
    "ROAD_STYLE",
    "STATIC_PREFIX",
    "STATUS_COLORS",
    "ZONE_COLOR",
    "Basemap",
    "CoverageRow",
    "HotspotRow",
    "IncidentPoints",
    "Labels",
    "Overlay",
    "ZoneBand",
    "basemap",
    "boundary_feature",
    "control_zone_band",
    "coverage_overlay",
    "district_bounds",
    "hotspot_overlay",
    "incident_payload",
    "legend_html",
    "pack_ints",
    "road_class_rows",
    "road_features",
    "route_geojson",
    "route_section_wgs84",
    "type_colors",
    "zone_band_overlay",
    "IncidentClusters",
    "IncidentData",
    "IncidentHeat",
    "MapLegend",
    "OfflineMap",
    "PluginMap",
    "SafeGeoJsonTooltip",
    "boundary_layer",
    "classed_road_layer",
    "coverage_layer",
    "hotspot_layer",
    "road_class_legend",
    "zone_band_layer",
    "MyPosition",
    "StakeLabels",
    "district_map",
    "incident_layers",
    "incidents_group",
    "nearby_layer",
    "network_preview_map",
    "picker_map",
    "stake_marks",
]
