"""The incident map as one self-contained HTML file (``patrol map``), written without folium.

The file carries the same things as the page's map and draws them with the same scripts — the templates in
``templates/`` that the folium elements of :mod:`gis.maps.layers` render on the page (incident data, clusters,
heat, legends, escaped tooltips, title, metric scale) — from the same layer data (:mod:`gis.maps.base`,
:mod:`gis.maps.overlays`, :mod:`gis.maps.incidents`). Only the assembly differs: a page template
(``templates/standalone.html``) instead of folium's element tree, which spares the command importing folium and
compiling its hundred-odd templates (about a third of a second) for one file.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Sequence
from typing import Any

from gis import mapassets
from gis.maps.base import (
    CLUSTER_OPTIONS,
    HEAT_OPTIONS,
    NO_BASEMAP,
    ROAD_ALIASES,
    ROAD_FIELDS,
    Basemap,
    Labels,
    _esc,
    _label,
    attribution,
    boundary_feature,
    district_bounds,
    legend_html,
    road_class_rows,
    road_features,
    road_style,
    template_text,
    title_html,
)
from gis.maps.incidents import B64_DIGITS, IncidentPoints, incident_payload, legend_rows, legend_title
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

TOOLTIP_OPTIONS: dict[str, Any] = {"sticky": True, "class_name": "foliumtooltip"}


def _camelize(key: str) -> str:
    return "".join(x.capitalize() if i > 0 else x for i, x in enumerate(key.split("_")))


def js_json(obj: Any) -> str:
    """JSON safe inside a ``<script>``: no ``<``, ``>``, ``&`` or ``'`` left as they are (no text can close the
    script or open a tag), non-ASCII kept as UTF-8 (a third of the size of ``\\uXXXX`` escapes)."""
    return (
        json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("'", "\\u0027")
    )


def tojavascript(obj: Any) -> str:
    """A JavaScript object literal with camel-cased keys (the ``tojavascript`` filter the templates use)."""
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(_camelize(k))}:{tojavascript(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list | tuple):
        return "[" + ",".join(tojavascript(v) for v in obj) + "]"
    return js_json(obj)


@functools.cache
def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(autoescape=False)
    env.filters["tojavascript"] = tojavascript
    return env


@functools.cache
def _template(name: str) -> Any:
    return _environment().from_string(template_text(name))


def _script(name: str, this: Any) -> str:
    """The ``script`` macro of ``templates/<name>`` for ``this`` (as the folium element would render it)."""
    return str(_template(name).module.script(this, {}))


class _Element:
    """What the templates read of an element: a unique JavaScript name, its parent, its attributes."""

    _ids = itertools.count(1)

    def __init__(self, kind: str, parent: _Element | None = None, **attrs: Any) -> None:
        self._name = f"{kind}_{next(self._ids)}"
        self._parent = parent
        self.__dict__.update(attrs)

    def get_name(self) -> str:
        return self._name

    def __getattr__(self, name: str) -> Any:  # an attribute never set reads as undefined in a template
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:  # the builder sets what the templates read
        self.__dict__[name] = value


def _remove_empty(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v not in (None, "", [], {})}


def incident_map_html(
    points: IncidentPoints,
    network: RoadNetwork,
    labels: Labels,
    bm: Basemap = NO_BASEMAP,
    *,
    color_by: str = "type",
    title: str = "",
    subtitle: str = "",
    page_title: str = "",
    coverage: Sequence[CoverageRow] | None = None,
    hotspots: Sequence[HotspotRow] | None = None,
    zone_road: str | None = None,
    district: District,
    invented_roads: bool = False,
) -> str:
    """The whole incident map as one self-contained HTML file (every script and stylesheet inlined, nothing
    fetched but the tiles of a configured basemap): roads by class with their legend, clusters, a heat layer
    (off until ticked), coverage (off until ticked), hotspots, the control-zone band of ``zone_road``, the
    incident legend, a title box, a metric scale and a layer switcher. ``district`` gives the boundary, the
    first view and the credit line; ``invented_roads``: the network is the demo's (the credit line says so)."""
    m = _Element(
        "map",
        options=_remove_empty(
            center=list(district.centre),
            zoom=10,
            zoom_control=True,
            prefer_canvas=False,
            max_zoom=bm.max_zoom,
        ),
    )
    tiles = [
        {
            "url": url,
            "options": {
                "attribution": bm.attribution or " ",
                "subdomains": bm.subdomains or "abc",
                "max_zoom": bm.max_zoom,
                "min_zoom": 0,
            },
        }
        for url in bm.tiles
    ]
    classes = {r.road_class for r in network.routes.values()}
    boundary = _Element(
        "geo_json",
        data=js_json(boundary_feature(district, bm)),
        attribution=attribution(district, labels, invented_roads),
        interactive=False,
        styles={},
        add=True,
    )
    roads = _Element(
        "geo_json",
        data=js_json(road_features(network, labels, bm)),
        attribution="",
        interactive=True,
        styles={c: road_style(c) for c in classes},
        highlight={"weight": 7},
        add=True,
    )
    roads.tooltip = _script(
        "safe_tooltip.js",
        _Element(
            "tooltip",
            roads,
            fields=list(ROAD_FIELDS),
            aliases=[_label(labels, k) for k in ROAD_ALIASES],
            labels=True,
            tooltip_options=TOOLTIP_OPTIONS,
        ),
    )
    geojson = [boundary, roads]
    scripts: list[str] = []
    layers: list[tuple[str, str, bool, bool]] = []  # (script name, switcher label, shown, in switcher)

    def legend(title_text: str, rows: Any, position: str) -> _Element:
        el = _Element("map_legend", m, position=position, html=legend_html(title_text, rows))
        el.script = _script("legend.js", el)
        return el

    road_legend = legend(_label(labels, "legend.roads"), road_class_rows(network, labels), "topright")
    scripts.append(road_legend.script)
    layers.append((road_legend.get_name(), "", True, False))

    def overlay(o: Overlay, show: bool) -> None:
        geo = _Element("geo_json", data=js_json(o.features), attribution="", interactive=True, styles={})
        geo.tooltip = _script(
            "safe_tooltip.js",
            _Element(
                "tooltip", geo, fields=["tip"], aliases=["tip"], labels=False, tooltip_options=TOOLTIP_OPTIONS
            ),
        )
        lg = legend(o.legend_title, o.legend_rows, o.legend_position)
        geo.legend, geo.legend_name = lg.script, lg.get_name()
        geo.group = _Element("feature_group")
        geojson.append(geo)
        if o.fit_bounds is not None:
            scripts.append(
                _script(
                    "fit_bounds_on_add.js", _Element("fit", geo.group, bounds=o.fit_bounds, key=o.fit_key)
                )
            )
        layers.append((geo.group.get_name(), o.name, show, True))

    if coverage is not None:
        overlay(coverage_overlay(network, coverage, labels, bm), show=False)
    if zone_road:
        overlay(zone_band_overlay(network, zone_road, labels, bm), show=True)
    if hotspots is not None:
        overlay(hotspot_overlay(network, hotspots, labels, bm), show=True)

    payload, summary = incident_payload(
        points, labels, bm, color_by, {c: r.name for c, r in network.routes.items()}
    )
    data = _Element("incident_data", payload=payload, digits=B64_DIGITS.decode("ascii"))
    scripts.append(_script("incident_data.js", data))
    clusters = _Element("incident_clusters", incidents=data, options=_remove_empty(**CLUSTER_OPTIONS))
    scripts.append(_script("incident_clusters.js", clusters))
    layers.append((clusters.get_name(), _label(labels, "layer.incidents"), True, True))
    heat = _Element(
        "incident_heat", incidents=data, options=_remove_empty(**HEAT_OPTIONS, max=summary["heat_max"])
    )
    scripts.append(_script("incident_heat.js", heat))
    layers.append((heat.get_name(), _label(labels, "layer.heat"), False, True))
    inc_legend = legend(legend_title(summary, labels, color_by), legend_rows(summary), "bottomright")
    scripts.append(inc_legend.script)
    layers.append((inc_legend.get_name(), "", True, False))
    title_box = (
        _script("map_title.js", _Element("map_title", m, html=title_html(title, subtitle))) if title else ""
    )

    html = _template("standalone.html").render(
        page_title=_esc(page_title or title),
        css=[
            mapassets.static_url(p)
            for _, p in (
                mapassets.LEAFLET_CSS,
                mapassets.MARKERCLUSTER_CSS,
                mapassets.MARKERCLUSTER_DEFAULT_CSS,
            )
        ],
        js=[
            mapassets.static_url(p)
            for _, p in (mapassets.LEAFLET_JS, mapassets.MARKERCLUSTER_JS, mapassets.HEAT_JS)
        ],
        map=m,
        tiles=tiles,
        scale=_script("metric_scale.js", _Element("scale", m)),
        geojson=geojson,
        scripts=scripts,
        layers=layers,
        title=title_box,
        bounds=district_bounds(district, bm),
    )
    return mapassets.inline_assets(html)
