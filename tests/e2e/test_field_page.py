"""The field page's own checks in Chromium: the device's stake computation (geo.js) agrees with the server's
gis.linref within 1 m, and the page fits a tablet (768×1024) and a phone (390×844) with ≥ 48 px touch targets."""

from __future__ import annotations

import http.cookiejar
import json
import random
import urllib.request

import pytest

from tests.e2e.helpers import ARTIFACTS, DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def api_get(base: str, path: str) -> dict:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    req = urllib.request.Request(
        base + "/api/v1/session",
        method="POST",
        data=json.dumps({"username": "leader", "password": DEMO_PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
    )
    opener.open(req, timeout=30).read()
    with opener.open(base + path, timeout=30) as r:
        return json.loads(r.read())


def test_device_stakes_agree_with_server(browser, server):
    from gis.errors import NoRoadInReachError
    from gis.linref import locate, offset_point
    from gis.roads import RoadNetwork, read_road_file
    from patrol_app.demo_network import DEMO_ROADS_FILE

    roads = api_get(server.url, "/api/v1/roads")  # exactly what a device caches
    net = RoadNetwork(read_road_file(DEMO_ROADS_FILE))
    rnd = random.Random(11)
    points, expected = [], []
    while len(points) < 300:
        code = rnd.choice(net.codes)
        r = net.routes[code]
        lon, lat = offset_point(
            net, code, rnd.uniform(r.start_m, r.end_m), rnd.uniform(0.0, 70.0), rnd.choice(["left", "right"])
        )
        try:
            expected.append(locate(net, lon, lat))
        except NoRoadInReachError:
            continue
        points.append([lon, lat])
    points.append([104.2, 25.13])  # far from every road: no stake on the device either
    ctx = browser.new_context()
    pg = ctx.new_page()
    pg.goto(server.url + "/field/")
    pg.wait_for_function("() => window.FieldGeo !== undefined")
    got = pg.evaluate(
        "([doc, pts]) => { const n = FieldGeo.buildNetwork(doc);"
        " return pts.map(p => FieldGeo.locate(n, p[0], p[1])); }",
        [roads, points],
    )
    ctx.close()
    assert got[-1] is None
    worst_ch = worst_off = 0.0
    for e, g in zip(expected, got[:-1]):
        assert g is not None, e
        assert (g["road_code"], g["side"], g["road_class"]) == (e.road_code, e.side, e.road_class)
        worst_ch = max(worst_ch, abs(g["chainage_m"] - e.chainage_m))
        worst_off = max(worst_off, abs(g["offset_m"] - e.offset_m))
        # the zone verdict agrees wherever the point is not within a metre of a zone line
        lines = [e.half_road_land_m] + ([e.control_line_m] if e.control_line_m is not None else [])
        if all(abs(e.offset_m - x) > 1.0 for x in lines):
            assert (g["zone"], g["in_control_zone"], g["legal_basis"]) == (
                e.zone,
                e.in_control_zone,
                e.legal_basis,
            )
    assert worst_ch <= 1.0 and worst_off <= 1.0, (worst_ch, worst_off)


@pytest.mark.parametrize("size", [(768, 1024), (390, 844)], ids=["tablet-768x1024", "phone-390x844"])
def test_field_page_fits_tablet_and_phone(browser, server, size):
    w, h = size
    ctx = browser.new_context(
        viewport={"width": w, "height": h},
        locale="zh-CN",
        permissions=["geolocation"],
        geolocation={"longitude": 103.8, "latitude": 25.5, "accuracy": 5},
        has_touch=True,
    )
    pg = ctx.new_page()
    pg.goto(server.url + "/field/")
    pg.get_by_label("用户名").fill("leader")
    pg.get_by_label("密码").fill(DEMO_PASSWORD)
    pg.get_by_role("button", name="登录").click()
    pg.wait_for_selector("#patrol-form", timeout=30_000)
    ARTIFACTS.mkdir(exist_ok=True)
    shots = []

    def check(name: str) -> None:
        assert pg.evaluate("document.scrollingElement.scrollWidth") <= w, f"{name}: wider than the screen"
        small = pg.evaluate(
            "() => Array.from(document.querySelectorAll('button, .chip, .filebtn, input:not([type=checkbox]):not([type=file]), select'))"
            ".filter(e => e.offsetParent !== null && !e.closest('.leaflet-container'))"
            ".map(e => [e.textContent.trim() || e.name, e.getBoundingClientRect().height])"
            ".filter(([, h]) => h < 48)"
        )
        assert small == [], f"{name}: touch targets under 48 px: {small}"
        path = ARTIFACTS / f"field-{name}-{w}x{h}.png"
        pg.screenshot(path=str(path), full_page=True)
        shots.append(path)

    check("patrol")
    pg.get_by_role("button", name="登记问题", exact=True).click()
    pg.wait_for_selector("#incident-form")
    pg.click("#show-map")
    pg.wait_for_function("() => window.fieldMap !== undefined")
    pg.click("#gps")
    pg.wait_for_selector("#verdict p")
    check("incident")
    pg.get_by_role("button", name="待上传", exact=True).click()
    pg.wait_for_selector("#outbox-list li")
    check("outbox")
    pg.get_by_role("button", name="EN").click()
    assert pg.get_by_role("button", name="Send now").is_visible()
    ctx.close()
