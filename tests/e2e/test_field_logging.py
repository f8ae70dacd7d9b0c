"""A crew member's day in Chromium at tablet size, offline: start a patrol with two officers, log an
incident by tapping the map (stake shown before saving) with a photo, one by GPS, one by road + stake,
and find them again."""

import re

import pytest

from gis.linref import offset_point
from tests.e2e.helpers import (
    ARTIFACTS,
    MAP_FRAME,
    Offline,
    demo_network,
    jpeg_file,
    pick,
    sign_in,
    tap_map,
    upload_photo,
    wait_idle,
)

pytestmark = pytest.mark.e2e
NET = demo_network()


@pytest.fixture(params=[(1024, 768), (768, 1024)], ids=["1024x768", "768x1024"])
def crew_page(request, browser, app_server):
    w, h = request.param
    gps = offset_point(NET, "Y003", 1500.0, 6.0, "left")
    ctx = browser.new_context(
        viewport={"width": w, "height": h},
        locale="zh-CN",
        geolocation={"longitude": gps[0], "latitude": gps[1], "accuracy": 8},
        permissions=["geolocation"],
    )
    ctx.route("**/*", Offline())
    pg = ctx.new_page()
    pg.base_url = app_server
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(
        path=str(ARTIFACTS / f"field-{request.node.name.split('[')[0]}-{w}x{h}.png"), full_page=True
    )
    ctx.close()


def go(pg, title):
    pg.get_by_role("link", name=title).first.click()
    wait_idle(pg)


def save_incident(pg):
    pg.get_by_role("button", name="保存问题").click()
    ok = pg.locator("[data-testid='stAlertContentSuccess']").filter(has_text="已保存")
    dup = pg.get_by_role("button", name="仍作为新问题保存")
    ok.or_(dup).first.wait_for(timeout=30_000)
    if dup.count():  # the other viewport's run left the same kind of incident here
        dup.click()
    ok.wait_for(timeout=30_000)
    return int(re.search(r"问题编号 (\d+)", ok.inner_text()).group(1))


def test_a_day_of_patrol(crew_page, tmp_path):
    pg = crew_page
    pg.goto(pg.base_url + "/patrol")
    sign_in(pg, "officer2")  # 王芳: a crew of her own; 李明 joins
    if pg.get_by_role("button", name="结束巡查").count():  # the other viewport's patrol is still open
        pg.get_by_text("按所巡路线计算（往返）").click()
        wait_idle(pg)
        pg.get_by_role("button", name="结束巡查").click()
        wait_idle(pg)
    pick(pg, "X001", "巡查路线")
    pick(pg, "李明", "巡查人员")
    pick(pg, "L0301", "出动车辆")
    pg.get_by_role("button", name="开始巡查").click()
    pg.get_by_text("巡查进行中").wait_for(timeout=30_000)

    # incident 1: tap on the map, 12 m left of X001 K6+000, with a photo
    go(pg, "登记问题")
    pg.get_by_role("radio", name="地图点选").click()
    wait_idle(pg)
    pg.frame_locator(MAP_FRAME).locator(".leaflet-container").wait_for(timeout=30_000)
    lon, lat = offset_point(NET, "X001", 6000.0, 12.0, "left")
    tap_map(pg, lon, lat)
    preview = pg.locator("[data-testid='stAlertContentSuccess']").filter(has_text="保存前核对")
    preview.wait_for(timeout=30_000)
    assert re.search(r"X001 麒麟—越州公路 K(5\+99\d|6\+00\d) 左侧", preview.inner_text()), (
        preview.inner_text()
    )
    pg.get_by_label("问题描述").fill("路肩堆放砂石约5立方米")
    pg.get_by_label("问题描述").press("Tab")
    wait_idle(pg)
    upload_photo(pg, jpeg_file(tmp_path))
    first = save_incident(pg)

    # incident 2: by GPS (the browser reports a fix near Y003 K1+500)
    pg.get_by_role("radio", name="GPS定位").click()
    wait_idle(pg)
    pg.frame_locator('iframe[title="patrol_app.ui.widgets.gps"]').get_by_role("button").click()
    preview = pg.locator("[data-testid='stAlertContentSuccess']").filter(has_text="保存前核对")
    preview.wait_for(timeout=30_000)
    assert "Y003" in preview.inner_text() and "左侧" in preview.inner_text()
    assert pg.get_by_text("精度 ±8 米").is_visible()
    second = save_incident(pg)

    # incident 3: by road + stake, read off the stake marker
    pg.get_by_role("radio", name="路线+桩号").click()
    wait_idle(pg)
    pg.get_by_role("textbox", name="桩号").fill("K2+400")
    pg.get_by_role("button", name="定位桩号").click()
    preview = pg.locator("[data-testid='stAlertContentSuccess']").filter(has_text="保存前核对")
    preview.wait_for(timeout=30_000)
    assert "X001 麒麟—越州公路 K2+400" in preview.inner_text()
    pg.get_by_label("违法类型").click()
    pg.get_by_role("option", name="车辆超限行驶").click()
    wait_idle(pg)
    third = save_incident(pg)
    assert len({first, second, third}) == 3

    # both in my recent list, and the open ones in the follow-up list
    table = pg.locator("[data-testid='stDataFrame']").last
    table.wait_for(timeout=30_000)
    go(pg, "跟踪处理")
    for iid, road in ((first, "X001"), (second, "Y003"), (third, "X001")):
        pg.get_by_label("选择问题").click()
        pg.keyboard.type(f"#{iid} ")
        assert pg.get_by_role("option").filter(has_text=f"#{iid} {road}").count() == 1
        pg.keyboard.press("Escape")
