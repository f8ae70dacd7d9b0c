"""Map builders (gis.maps, gis.mapassets) on the folium objects and the rendered HTML — no browser."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Point, shape

from gis import mapassets, maps
from gis.crs import wgs84_to_gcj02
from gis.linref import offset_point
from gis.maps.standalone import incident_map_html
from gis.zones import CONTROL_ZONE_MIN_M, DEFAULT_HALF_ROAD_LAND_M
from patrol_app.district import district
from tests.maps.conftest import make_points

URL_RE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
CDN_RE = re.compile(r"cdn\.jsdelivr|cdnjs\.cloudflare|unpkg\.com|code\.jquery|bootstrapcdn|googleapis")


def unpack(col: list) -> np.ndarray:
    """An integer column ``[lowest, width, base-64 digits]`` (``maps.pack_ints``) as the browser reads it."""
    lo, width, text = col
    digits = np.array([maps.B64_DIGITS.index(c) for c in text.encode()], dtype=np.int64).reshape(-1, width)
    return lo + (digits * 64 ** np.arange(width - 1, -1, -1)).sum(axis=1)


def decode(payload: str) -> dict[str, np.ndarray]:
    """The incident payload decoded as the browser does (IncidentData's script)."""
    p = json.loads(payload)
    for key in ("x", "y", "a", "i", "r", "k", "d", "e"):
        if key in p:
            p[key] = unpack(p[key])
    a = np.array(p["a"], dtype=np.int64)
    nt, ns, nsd = p["radix"]
    return {
        "lon": (p["x0"] + np.array(p["x"])) / p["q"],
        "lat": (p["y0"] + np.array(p["y"])) / p["q"],
        "id": p["i0"] + np.cumsum(p["i"]),
        "type": np.array(p["types"])[a % nt],
        "status": np.array(p["statuses"])[(a // nt) % ns],
        "side": np.array(p["sides"])[(a // (nt * ns)) % nsd],
        "town": np.array(p["towns"])[a // (nt * ns * nsd)],
        "road": np.array(p["roads"])[p["r"]],
        "chainage": np.array(p["k"]),
        "day": (p["d0"] + np.array(p["d"])).astype("datetime64[D]"),
        "descs": p.get("descs"),
    }


def page_strings(m, layers) -> str:
    """What streamlit-folium sends the browser for a map with swapped layers: header, script, layers and the
    script/stylesheet links it collects from the elements."""
    import folium
    from streamlit_folium import _get_feature_group_string, _get_header, _get_map_string

    m.get_root().render()
    m.render()
    text = _get_header(m) + _get_map_string(m)
    text += "".join(_get_feature_group_string(fg, m, i) for i, fg in enumerate(layers))
    links = []

    def walk(el):
        if isinstance(el, folium.elements.JSCSSMixin):
            links.extend(u for _, u in el.default_js + el.default_css)
        for child in el._children.values():
            walk(child)

    walk(m)
    return text + "".join(f'<script src="{u}"></script>' for u in links)


def test_page_map_loads_leaflet_and_plugins_from_the_app_only(demo_net, points, zh_labels):
    m = maps.district_map(demo_net, zh_labels, district=district())
    layers = maps.incident_layers(
        points,
        demo_net,
        zh_labels,
        mode="cluster",
        zone_road="X001",
        coverage=[maps.CoverageRow("X001", 2)],
        hotspots=[maps.HotspotRow("X001", 0, 500, 4, 1, "materials")],
    )
    text = page_strings(m, layers)
    urls = URL_RE.findall(text)
    assert urls and all(u.startswith("/app/static/") for u in urls), urls
    for u in urls:  # every file exists where Streamlit serves static/
        assert (mapassets.STATIC_DIR / u.removeprefix("/app/static/")).is_file(), u
    assert {
        "/app/static/leaflet/leaflet.js",
        "/app/static/leaflet.markercluster/leaflet.markercluster.js",
        "/app/static/leaflet.heat/leaflet-heat.js",
    } <= set(urls)
    assert not re.search(r"https?://", text)  # no basemap configured: nothing from outside at all
    assert not CDN_RE.search(m.get_root().render())


def test_standalone_html_inlines_everything(demo_net, points, zh_labels):
    html = incident_map_html(
        points, demo_net, zh_labels, title="路政巡查问题分布图", subtitle="2025年", district=district()
    )
    assert mapassets.external_references(html) == []
    assert not re.search(r"<(script|link)\b[^>]*(src|href)=", html)
    assert "/app/static" not in html
    assert "L.MarkerClusterGroup" in html and "L.heatLayer" in html  # the plugins' code is in the file
    assert "data:image/png;base64," in html  # the layer switcher's icon travels inline too
    assert "<title>路政巡查问题分布图</title>" in html
    assert "sourceMappingURL" not in html
    # nothing is fetched from outside (an <a href> link to leafletjs.com in the attribution is not a fetch)
    assert not re.search(r"""<(?:script|link|img|iframe)\b[^>]*(?:src|href)\s*=\s*["']https?://""", html)
    assert "L.tileLayer(" not in html


def test_inline_assets_refuses_pages_that_would_load_from_outside():
    with pytest.raises(ValueError, match="external"):
        mapassets.inline_assets('<script src="https://cdn.jsdelivr.net/npm/leaflet.js"></script>')
    with pytest.raises(ValueError):
        mapassets.read_asset("../pyproject.toml")


def test_clusters_and_heat_are_built_in_the_browser_from_one_array(demo_net, points, zh_labels):
    """The file: one incident array read by the clusters (shown) and the heat (ticked on in the layer switcher),
    both in the switcher; roads, boundary, legends, scale and title drawn by the page's own scripts."""
    html = incident_map_html(
        points,
        demo_net,
        zh_labels,
        title="路政巡查问题分布图",
        coverage=[maps.CoverageRow("X001", 0), maps.CoverageRow("X002", 3)],
        hotspots=[maps.HotspotRow("X001", 0, 500, 4, 1, "materials")],
        district=district(),
    )
    assert html.count("var P = {") == 1  # one payload
    (data,) = re.findall(r"var (incident_data_\d+) = \(function", html)
    assert html.count(f"var D = {data};") == 1 and html.count(f"var D = {data}, pts") == 1
    assert html.count("L.markerClusterGroup(") == 1 and html.count("L.heatLayer(") == 1
    assert "L.circleMarker(" in html and "L.marker(" not in html  # no icon images, no per-marker HTML
    clusters = re.search(r"var (incident_clusters_\d+) = ", html).group(1)
    heat = re.search(r"var (incident_heat_\d+) = ", html).group(1)
    assert f"{clusters}.addTo(map_" in html and f"{heat}.addTo(" not in html  # heat: off until ticked
    switcher = html[html.index("L.control.layers(") :]
    for key in ("incidents", "heat", "coverage", "hotspots"):
        assert json.dumps(zh_labels["layer." + key]) in switcher, key
    assert "L.control.scale({imperial: false})" in html and "patrol-title" in html
    assert html.count('"patrol-legend"') == 4  # roads, coverage, hotspots, incidents
    assert "bindTooltip(function (layer)" in html and "esc(layer.feature.properties[v])" in html
    assert json.dumps(maps.attribution(district(), zh_labels)) in html  # the boundary's credit
    # the page: one or the other, swapped on a switch
    (fg,) = maps.incident_layers(points, demo_net, zh_labels, mode="heat")
    assert [type(c) for c in fg._children.values()][:2] == [maps.IncidentData, maps.IncidentHeat]
    (fg,) = maps.incident_layers(points, demo_net, zh_labels, mode="cluster")
    assert any(isinstance(c, maps.IncidentClusters) for c in fg._children.values())


def test_payload_round_trip(demo_net, points, zh_labels):
    payload, summary = maps.incident_payload(points, zh_labels, road_names={"X001": "麒麟—越州公路"})
    d = decode(payload)
    assert list(d["id"]) == list(points.ids)
    assert np.allclose(d["lon"], points.lon, atol=1e-5) and np.allclose(d["lat"], points.lat, atol=1e-5)
    assert list(d["type"]) == [zh_labels["type." + t] for t in points.type_code]
    assert list(d["status"]) == [zh_labels["status." + s] for s in points.status]
    assert list(d["side"]) == [zh_labels["side." + s] for s in points.side]
    assert list(d["town"]) == list(points.town)
    assert list(d["chainage"]) == [round(c) for c in points.chainage_m]
    assert list(d["day"]) == list(points.day)
    assert d["road"][0] == "X001 麒麟—越州公路" and d["road"][1] == "Y002"
    assert d["descs"] == ["路肩堆放砂石"]
    assert summary["n"] == len(points)
    assert sum(k for _, _, k in summary["legend"]) == len(points)
    assert [t for _, t, _ in summary["legend"]] == [
        zh_labels["type." + c] for c in ("materials", "stall", "building", "trees")
    ]


@pytest.mark.parametrize("values", [[0], [5, 5], [-3, 0, 63, 64, 4095, 4096, 10**9], list(range(-70, 70))])
def test_integer_columns_round_trip(values):
    col = maps.pack_ints(np.array(values))
    assert list(unpack(col)) == values
    assert len(col[2]) == len(values) * col[1]


def test_payload_out_of_order_ids_and_empty():
    e = maps.IncidentPoints.empty()
    payload, summary = maps.incident_payload(e, {})
    assert json.loads(payload)["n"] == 0 and summary["n"] == 0
    p = maps.IncidentPoints(
        np.array([7, 3]),
        np.array([103.8, 103.9]),
        np.array([25.4, 25.5]),
        ["stall", "materials"],
        ["open", "closed"],
        ["X001", "X002"],
        np.array([10.4, 2500.6]),
        ["left", "right"],
        np.array(["2025-02-01", "2025-01-01"], dtype="datetime64[D]"),
        ["越州镇", "珠街街道"],
    )
    d = decode(maps.incident_payload(p, {})[0])
    assert list(d["id"]) == [3, 7] and list(d["chainage"]) == [2501, 10]
    assert np.allclose(d["lon"], [103.9, 103.8])


def test_text_cannot_break_the_page(demo_net, zh_labels):
    pts = make_points(demo_net, 4, description="</script><script>alert(1)</script>{{ boom }}{% x %}")
    html = incident_map_html(pts, demo_net, zh_labels, title="</script>{{ t }}", district=district())
    assert (
        "alert(1)</script>" not in html
        and "</script>{{ t" not in html
        and "{{ boom" not in html
        and "{%" not in html
    )
    d = decode(maps.incident_payload(pts, zh_labels)[0])
    assert d["descs"] == [
        "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&#123;&#123; boom &#125;&#125;&#123;% x %&#125;"
    ]


def test_payload_is_compact(demo_net, zh_labels):
    pts = make_points(demo_net, 400)
    big = maps.IncidentPoints(
        ids=np.arange(1, 20_001),
        lon=np.resize(pts.lon, 20_000),
        lat=np.resize(pts.lat, 20_000),
        type_code=list(np.resize(pts.type_code, 20_000)),
        status=list(np.resize(pts.status, 20_000)),
        road_code=list(np.resize(pts.road_code, 20_000)),
        chainage_m=np.resize(pts.chainage_m, 20_000),
        side=list(np.resize(pts.side, 20_000)),
        day=np.resize(pts.day, 20_000),
        town=list(np.resize(pts.town, 20_000)),
        description=list(np.resize(pts.description, 20_000)),
    )
    payload, _ = maps.incident_payload(big, zh_labels)
    assert len(payload.encode()) / 20_000 < 20  # bytes per incident: 100,000 stay below 2 MB


@pytest.mark.parametrize(
    ("setting", "gcj02"),
    [
        ("none", False),
        ("osm", False),
        ("tianditu", False),
        ("amap", True),
        ("http://10.1.2.3/tiles/{z}/{x}/{y}.png", False),
    ],
)
def test_gcj02_conversion_only_for_amap(demo_net, points, zh_labels, setting, gcj02):
    bm = maps.basemap(setting, tianditu_key="KEY")
    assert bm.gcj02 is gcj02
    d = decode(maps.incident_payload(points, zh_labels, bm)[0])
    if gcj02:
        g_lon, g_lat = wgs84_to_gcj02(points.lon, points.lat)
        assert np.allclose(d["lon"], g_lon, atol=1.1e-5) and np.allclose(d["lat"], g_lat, atol=1.1e-5)
        shift_m = np.hypot((d["lon"] - points.lon) * 100_500, (d["lat"] - points.lat) * 110_900)
        assert shift_m.min() > 300  # GCJ-02 is ≈ 400 m from WGS-84 in Qilin: converted
    else:
        assert np.allclose(d["lon"], points.lon, atol=1e-5) and np.allclose(d["lat"], points.lat, atol=1e-5)
    # roads, boundary and the district fit follow the same rule
    roads = next(iter(maps.classed_road_layer(demo_net, zh_labels, bm)._children.values())).data
    x001 = next(f for f in roads["features"] if f["properties"]["code"] == "X001")
    first = x001["geometry"]["coordinates"][0][0]
    lon0, lat0 = demo_net.route_geometry_wgs84("X001").geoms[0].coords[0]
    expect = wgs84_to_gcj02(lon0, lat0) if gcj02 else (lon0, lat0)
    assert first == pytest.approx(expect, abs=2e-6)
    (s, w), _ = maps.district_bounds(district(), bm)
    minx, miny, _, _ = district().boundary.bounds
    assert (abs(w - minx) + abs(s - miny) > 0.002) is gcj02
    html = maps.district_map(demo_net, zh_labels, bm, district=district()).get_root().render()
    assert ("L.tileLayer(" in html) is (setting != "none")


def test_basemap_settings():
    assert maps.basemap(None) == maps.basemap("") == maps.basemap("none") == maps.NO_BASEMAP
    assert maps.NO_BASEMAP.tiles == () and not maps.NO_BASEMAP.gcj02
    t = maps.basemap("tianditu", "abc123")
    assert len(t.tiles) == 2 and all("tk=abc123" in u and "tianditu.gov.cn" in u for u in t.tiles)
    assert "{z}" in t.tiles[0] and "{s}" in t.tiles[0] and t.subdomains == "01234567"
    with pytest.raises(ValueError, match="key"):
        maps.basemap("tianditu", "")
    assert maps.basemap("AMap").tiles[0].startswith("https://webrd0{s}.is.autonavi.com")
    custom = maps.basemap("http://gis.intranet/tiles/{z}/{x}/{y}.png", gcj02=True)
    assert custom.kind == "custom" and custom.tiles == ("http://gis.intranet/tiles/{z}/{x}/{y}.png",)
    assert custom.gcj02
    with pytest.raises(ValueError):
        maps.basemap("google")


def test_control_zone_band_widths(demo_net):
    for code in ("X001", "Y002"):  # county road: zone 10 m; township road: 5 m, beyond road land
        r = demo_net.routes[code]
        band = maps.control_zone_band(demo_net, code)
        half = (
            r.half_road_land_m if r.half_road_land_m is not None else DEFAULT_HALF_ROAD_LAND_M[r.road_class]
        )
        width = CONTROL_ZONE_MIN_M[r.road_class]
        assert (band.half_road_land_m, band.control_zone_m) == (half, width)
        assert band.half_road_land_assumed is (r.half_road_land_m is None)

        def at(off):
            return Point(offset_point(demo_net, code, r.start_m + 0.4 * r.length_m, off, "left"))

        assert band.road_land.contains(at(half - 1)) and not band.control_zone.contains(at(half - 1))
        assert band.control_zone.contains(at(half + 1)) and band.control_zone.contains(at(half + width - 1))
        assert not band.control_zone.contains(at(half + width + 1))
        assert not band.road_land.contains(at(half + width + 1))


def test_zone_band_layer_has_both_bands_and_basis(demo_net, zh_labels):
    fg = maps.zone_band_layer(demo_net, "X001", zh_labels)
    gj = next(c for c in fg._children.values() if c._name == "GeoJson")
    tips = [f["properties"]["tip"] for f in gj.data["features"]]
    half = f"{maps.control_zone_band(demo_net, 'X001').half_road_land_m:g} 米"
    assert len(tips) == 2 and "第十一条" in tips[0] and "外缘起不少于 10 米" in tips[0] and half in tips[1]
    assert (
        "县级人民政府划定并公告" in tips[0] and "第四十四条、第四十六条" in tips[1]
    )  # a minimum; road land's law
    assert all(shape(f["geometry"]).is_valid for f in gj.data["features"])


def test_coverage_and_hotspot_layers(demo_net, zh_labels):
    cov = maps.coverage_layer(
        demo_net,
        [maps.CoverageRow("X001", 0), maps.CoverageRow("X002", 9), maps.CoverageRow("NOPE", 1)],
        zh_labels,
    )
    gj = next(c for c in cov._children.values() if c._name == "GeoJson")
    styles = {f["properties"]["tip"].split()[0]: f["properties"]["style"] for f in gj.data["features"]}
    assert set(styles) == {"X001", "X002"}
    assert styles["X001"]["color"] == maps.COVERAGE_NONE_COLOR and styles["X001"]["dashArray"]
    hs = maps.hotspot_layer(demo_net, [maps.HotspotRow("X001", 3000, 3500, 6, 2, "materials")], zh_labels)
    gj = next(c for c in hs._children.values() if c._name == "GeoJson")
    (feat,) = gj.data["features"]
    assert "K3+000–K3+500" in feat["properties"]["tip"] and "6 起" in feat["properties"]["tip"]
    section = maps.route_section_wgs84(demo_net, "X001", 3000, 3500)
    x, y = demo_net.to_metric(*np.asarray(shapely.get_coordinates(section)).T)
    assert np.hypot(np.diff(x), np.diff(y)).sum() == pytest.approx(500, abs=0.5)
    assert maps.route_section_wgs84(demo_net, "X001", 1e7, 1e7 + 500) is None


def test_the_district_is_passed_in_and_the_demo_notice_only_on_invented_roads(demo_net, zh_labels):
    """gis/ knows no district: the boundary, centre and credit come from the District given; "演示路网为虚构数据"
    only when the roads are the demo's."""
    import numpy as np
    from shapely.geometry import box

    from gis.places import District

    other = District(
        "Elsewhere",
        box(10.0, 50.0, 10.5, 50.4),
        ("A", "B"),
        np.array([[10.1, 50.1], [10.4, 50.3]]),
        "© Someone",
    )
    assert other.nearest_town(10.39, 50.29) == "B" and other.nearest_town([10.1], [50.1]) == ["A"]

    def says(html: str, text: str) -> bool:  # folium writes the credit as JSON (\u escapes)
        return json.dumps(text)[1:-1] in html

    html = maps.district_map(demo_net, zh_labels, district=other).get_root().render()
    assert says(html, "边界与地名 © Someone") and "Vonng" not in html and not says(html, "虚构")
    assert "[50.0, 10.0], [50.4, 10.5]" in html  # fitted to the district given
    real = maps.district_map(demo_net, zh_labels, district=district()).get_root().render()
    assert says(real, "边界与地名 © Vonng/adcode (CC BY 4.0)") and not says(real, "演示路网为虚构数据")
    demo = maps.district_map(demo_net, zh_labels, district=district(), invented_roads=True)
    assert says(demo.get_root().render(), "边界与地名 © Vonng/adcode (CC BY 4.0)；演示路网为虚构数据")


def test_gis_hard_wires_no_district():
    import re
    from pathlib import Path

    root = Path(maps.__file__).parent
    for f in root.glob("*.py"):
        text = f.read_text(encoding="utf-8")
        pattern = r"qilin|麒麟|530302|25\.45|103\.85|^\s*(from|import) patrol_app"
        assert not re.search(pattern, text, re.IGNORECASE | re.MULTILINE), f.name


def test_the_standalone_map_says_invented_only_for_the_demo_roads(store):
    """The store's own roads decide the notice: the demo's (source ``demo:…``) are invented; once the bureau's
    network replaces them, the map no longer says so."""
    from patrol_app.services import mapdata
    from patrol_app.services.roads import import_roads, invented_network, network
    from patrol_app.services.users import cli_actor
    from patrol_app.storage.db import read_session, session_scope

    def standalone() -> str:
        with read_session() as s:
            html, _ = mapdata.standalone_map_html(s, cli_actor(s), network(s), mapdata.MapFilter())
        return html

    notice = json.dumps("演示路网为虚构数据")[1:-1]
    with read_session() as s:
        assert invented_network(s)
    assert notice in standalone()
    from gis.roads import read_road_file
    from patrol_app.district import DEMO_ROADS_FILE

    with session_scope() as s:  # the same lines, now as the bureau's own network
        import_roads(s, cli_actor(s), read_road_file(DEMO_ROADS_FILE), source="bureau.geojson", replace=True)
    with read_session() as s:
        assert not invented_network(s)
    assert notice not in standalone()


def test_network_preview_and_picker_maps_load_only_leaflet(demo_net, zh_labels):
    """The road network preview (roads by class with the class in the tooltip, stake labels, class legend) and
    the location picker (nearby incidents, the chosen point, escaped tooltips) load Leaflet alone, from the app."""
    html = maps.network_preview_map(demo_net, zh_labels).get_root().render()
    assert '<script src="/app/static/leaflet/leaflet.js"></script>' in html
    assert "markercluster" not in html and "L.control.scale()" in html
    assert (
        '"class_text": "\\u53bf\\u9053"' in html and "stake-label" in html and "patrol-legend" in html
    )  # 县道
    m = maps.picker_map(demo_net, zh_labels, fix=(103.8, 25.5, 12.0), district=district())
    maps.nearby_layer([(103.81, 25.51, "<b>近</b>")], chosen=(103.8, 25.5, "here")).add_to(m)
    html = m.get_root().render()
    assert "markercluster" not in html and "show(25.5, 103.8, 12.0)" in html
    assert "&lt;b&gt;近&lt;/b&gt;" in html and "<b>近</b>" not in html


def test_map_templates_ship_as_package_data():
    """Every script template of the maps is declared as package data (a wheel without one draws a blank map)
    and loads through importlib.resources."""
    import fnmatch
    import tomllib

    from gis.maps.base import template_text

    root = Path(__file__).resolve().parents[2]
    globs = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "package-data"
    ]["gis.maps"]
    files = sorted(p.name for p in (root / "gis/maps/templates").iterdir() if p.is_file())
    assert files
    for name in files:
        assert any(fnmatch.fnmatch(f"templates/{name}", g) for g in globs), name
        assert template_text(name).strip(), name
