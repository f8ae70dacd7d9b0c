"""The incident map page in Chromium with the internet cut off: roads, clusters, popups and heat draw from the
app's own files, and a filter changes what is drawn."""

import re

import pytest

from tests.e2e.helpers import ARTIFACTS, MAP_FRAME, open_page, wait_idle

pytestmark = pytest.mark.e2e

SHOWN = re.compile(r"地图上共 ([\d,]+) 起问题")


def shown_count(page) -> int:
    text = page.get_by_text(SHOWN).inner_text(timeout=30_000)
    return int(SHOWN.search(text).group(1).replace(",", ""))


def wait_clustered(inner, n: int) -> None:
    """Wait until the cluster layer in the map frame holds exactly ``n`` markers (it loads in chunks)."""
    inner.wait_for_function(
        "(n) => window.incidentLayers && window.incidentLayers.clusters"
        " && window.incidentLayers.clusters._map && window.incidentLayers.clusters.getLayers().length === n",
        arg=n,
        timeout=30_000,
    )


def test_incident_map_draws_offline_and_filters(page):
    open_page(page, "map", "manager")
    frame = page.frame_locator(MAP_FRAME)
    frame.locator(".leaflet-container").wait_for(timeout=30_000)
    roads = frame.locator("path.leaflet-interactive")
    roads.first.wait_for(timeout=30_000)
    assert roads.count() >= 30  # the 30 demo roads, drawn by class
    frame.locator(".marker-cluster").first.wait_for(timeout=30_000)
    total = shown_count(page)
    assert total > 50
    handle = page.locator(MAP_FRAME).element_handle()
    inner = handle.content_frame()
    wait_clustered(inner, total)
    page.screenshot(path=str(ARTIFACTS / f"incident_map_all-{page.viewport_name}.png"), full_page=True)

    # a popup with the incident's details, built on demand
    text = inner.evaluate(
        "() => { const c = window.incidentLayers.clusters; const m = c.getLayers()[0];"
        " c.fire('click', {layer: m, latlng: m.getLatLng()});"
        " return document.querySelector('.incident-popup').innerText; }"
    )
    assert re.search(r"桩号\s*K\d+\+\d{3} [左右]侧", text), text
    assert "状态" in text and "乡镇（街道）" in text

    # heat map instead of clusters
    page.get_by_text("热力图", exact=True).click()
    frame.locator("canvas.leaflet-heatmap-layer").wait_for(timeout=30_000)
    page.get_by_text("聚合点", exact=True).click()
    wait_clustered(inner, total)

    # filter: one road → fewer incidents drawn, and the map frame was not reloaded
    roads_filter = page.locator("[data-testid='stMultiSelect']").filter(has_text="路线")
    roads_filter.locator("input").fill("X001")
    roads_filter.locator("input").press("Enter")
    roads_filter.locator("input").press("Escape")
    wait_idle(page)
    page.get_by_text(re.compile(r"路线：X001")).wait_for(timeout=30_000)
    on_road = shown_count(page)
    assert 0 < on_road < total
    wait_clustered(inner, on_road)
    assert inner.evaluate(
        "() => { const L = window.incidentLayers, D = L.data;"
        " return L.clusters.getLayers().every(m => D.roads[D.r[m.incidentIndex]].startsWith('X001')); }"
    )
    assert page.offline.blocked == []  # nothing tried to leave the machine
    inner.evaluate("() => window.map.closePopup()")
    page.locator(MAP_FRAME).scroll_into_view_if_needed()  # the screenshot shows the filtered map
