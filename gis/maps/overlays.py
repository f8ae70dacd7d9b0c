"""Overlays along the roads, without folium: the control-zone band (条例 第十一条), patrol coverage and
incident hotspots, each as GeoJSON features that carry their style and tooltip, plus their legend rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import substring

from gis.maps.base import (
    COVERAGE_NONE_COLOR,
    COVERAGE_RAMP,
    HOTSPOT_COLOR,
    NO_BASEMAP,
    ROAD_LAND_COLOR,
    ZONE_COLOR,
    Basemap,
    Labels,
    _esc,
    _label,
    _round_coords,
    route_geojson,
)
from gis.roads import RoadNetwork
from gis.stakes import format_stake
from gis.zones import LEGAL_BASIS_ZONE, zone_buffers, zone_verdict


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


@dataclass(frozen=True)
class Overlay:
    """One overlay as drawn: a FeatureCollection (each feature with ``tip`` and ``style`` properties), its
    name, its legend (title, rows, position) and, for a zone band, the bounds to zoom to."""

    name: str
    features: dict[str, Any]
    legend_title: str
    legend_rows: list[tuple[str, str, str]]
    legend_position: str = "bottomleft"
    fit_bounds: list[list[float]] | None = None
    fit_key: str = ""


def _collection(feats: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": feats}


def zone_band_overlay(network: RoadNetwork, code: str, labels: Labels, bm: Basemap = NO_BASEMAP) -> Overlay:
    """Road land and the building control zone along one road, with tooltips naming widths and legal basis."""
    band = control_zone_band(network, code)
    r = network.routes[band.code]
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
    rows = [(ROAD_LAND_COLOR, _label(labels, "legend.road_land"), "band")]
    if band.control_zone is not None:
        rows.insert(0, (ZONE_COLOR, _label(labels, "legend.zone"), "band"))
    minx, miny, maxx, maxy = bm.display_geometry(band.road_land).bounds
    return Overlay(
        _esc(_label(labels, "layer.zone", code=band.code)),
        _collection(feats),
        f"{band.code} {r.name}",
        rows,
        fit_bounds=[[miny, minx], [maxy, maxx]],
        fit_key=band.code,
    )


@dataclass(frozen=True)
class CoverageRow:
    """How often a road was patrolled in a period."""

    code: str
    times: int
    last_date: dt.date | None = None


def coverage_overlay(
    network: RoadNetwork, coverage: Sequence[CoverageRow], labels: Labels, bm: Basemap = NO_BASEMAP
) -> Overlay:
    """Roads coloured by how often they were patrolled; roads never patrolled in red, dashed."""
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
    rows = [
        (COVERAGE_NONE_COLOR, _label(labels, "legend.unpatrolled"), "dash"),
        (COVERAGE_RAMP[0], _label(labels, "legend.patrolled_less"), "line"),
        (COVERAGE_RAMP[-1], _label(labels, "legend.patrolled_more"), "line"),
    ]
    name = _label(labels, "layer.coverage")
    return Overlay(name, _collection(feats), name, rows)


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


def hotspot_overlay(
    network: RoadNetwork, hotspots: Sequence[HotspotRow], labels: Labels, bm: Basemap = NO_BASEMAP
) -> Overlay:
    """Hotspot segments drawn as wide translucent bands over the road, wider the more incidents."""
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
    name = _label(labels, "layer.hotspots")
    return Overlay(
        name, _collection(feats), name, [(HOTSPOT_COLOR, _label(labels, "legend.hotspot"), "line")]
    )
