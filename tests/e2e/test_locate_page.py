"""The locate page in Chromium with the internet cut off: roads draw, a tap gives road + stake."""

import re

import pytest

from gis.linref import offset_point
from tests.e2e.helpers import MAP_FRAME, demo_network, open_page, sign_in, tap_map, wait_idle

DEMO_NET = demo_network()

pytestmark = pytest.mark.e2e


def open_locate(page, method="地图点选"):
    open_page(page, "locate")
    page.get_by_role("radio", name=method).click()
    wait_idle(page)
    if method != "地图点选":
        return None
    frame = page.frame_locator(MAP_FRAME)
    frame.locator(".leaflet-container").wait_for(timeout=30_000)
    return frame


def test_map_draws_roads_offline_and_a_tap_gives_the_stake(page):
    frame = open_locate(page)
    roads = frame.locator("path.leaflet-interactive")
    roads.first.wait_for(timeout=30_000)
    assert roads.count() >= 30  # 30 demo roads (the boundary is not interactive)
    # a crew member zooms in on the road and taps 15 m left of X001 K5+000
    lon, lat = offset_point(DEMO_NET, "X001", 5000.0, 15.0, "left")
    tap_map(page, lon, lat)
    result = page.locator("[data-testid='stAlertContentSuccess']")
    result.wait_for(timeout=30_000)
    text = result.inner_text()
    m = re.search(r"X001 麒麟—越州公路 K(\d+)\+(\d{3}) 左侧 · 距中线 (\d+\.\d) 米 · 在建筑控制区内", text)
    assert m, text
    assert abs(int(m.group(1)) * 1000 + int(m.group(2)) - 5000) <= 2
    assert abs(float(m.group(3)) - 15.0) <= 1.0
    assert page.offline.blocked == []  # nothing tried to leave the machine


def test_road_and_stake_typed_in(page):
    open_locate(page, "路线+桩号")
    page.get_by_role("textbox", name="桩号", exact=True).fill("K3+250")
    page.get_by_role("button", name="定位桩号").click()
    result = page.locator("[data-testid='stAlertContentSuccess']")
    result.wait_for(timeout=30_000)
    assert "X001" in result.inner_text() and "K3+250" in result.inner_text()


def test_bad_stake_is_explained(page):
    open_locate(page, "路线+桩号")
    page.get_by_role("textbox", name="桩号", exact=True).fill("K3+1250")
    page.get_by_role("button", name="定位桩号").click()
    err = page.locator("[data-testid='stAlertContentError']")
    err.wait_for(timeout=30_000)
    assert "K3+250" in err.inner_text()  # says what a stake looks like


def test_overview_in_chinese_and_english_switch(page):
    open_page(page, "")
    page.get_by_text("出动车辆（台次）").wait_for(timeout=30_000)
    english = page.get_by_role("radio", name="English")
    english.click()
    wait_idle(page)
    page.get_by_text("Vehicle trips").wait_for(timeout=15_000)
    # no horizontal scrolling at tablet widths
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_sign_in_wrong_password_then_right(page):
    page.goto(page.base_url + "/")
    wait_idle(page)
    page.get_by_role("textbox", name="用户名").fill("officer")
    page.get_by_role("textbox", name="密码").fill("not-the-password")
    page.get_by_role("button", name="登录").click()
    page.get_by_text("用户名或密码错误").wait_for(timeout=30_000)
    sign_in(page, "officer")
    logout = page.get_by_role("button", name=re.compile("退出登录"))
    assert "李明（路政员）" in logout.inner_text()
    logout.click()
    page.get_by_role("button", name="登录").wait_for(timeout=30_000)
