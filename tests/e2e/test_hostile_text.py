"""Hostile text in Chromium: a road named ``<img src=x onerror=alert(1)>`` and an incident description full of
HTML and Markdown (remote image, link) run nothing and fetch nothing — in a ``patrol map`` file opened from disk,
on the app's incident map and on the follow-up page. An alert (any dialog) or an injected element fails."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.conftest import Server
from tests.e2e.helpers import Offline, open_page, patrol_cli, wait_idle

pytestmark = pytest.mark.e2e

ROAD = "<img src=x onerror=alert(1)>"
REMOTE = "198.51.100.7"  # TEST-NET-2: never a real host
DESCRIPTION = (
    f"<img src=x onerror=alert(2)> ![t](http://{REMOTE}/t.png) [点这里](http://{REMOTE}/x) "
    f"<b>粗</b> **星** `code` ${{x}}"
)

#: Fire every tooltip (mouseover on each drawn feature) and render every incident popup; count what was injected
#: and what was shown as text.
PROBE = """
(payload) => {
  const out = {tooltips: 0, popups: 0, injected: 0, seen: 0};
  const maps = Object.keys(window).filter(k => k.startsWith('map_') && window[k] && window[k].eachLayer)
    .map(k => window[k]);
  const check = (root) => {
    out.injected += root.querySelectorAll('img[src="x"], b, a[href*="198.51.100"]').length;
    if (root.innerText.includes(payload)) { out.seen += 1; }
  };
  for (const m of maps) {
    m.eachLayer(l => {
      if (!l.feature || !l._map) { return; }
      const ll = l.getCenter ? l.getCenter() : (l.getLatLng ? l.getLatLng() : null);
      if (!ll) { return; }
      l.fire('mouseover', {latlng: ll, layer: l}, true);
      document.querySelectorAll('.leaflet-tooltip').forEach(t => { out.tooltips += 1; check(t); });
    });
  }
  const D = window.incidentLayers && window.incidentLayers.data;
  if (D) {
    const box = document.createElement('div');
    document.body.appendChild(box);
    for (let i = 0; i < D.n; i++) { box.innerHTML = D.popup(i); out.popups += 1; check(box); }
    box.remove();
  }
  return out;
}
"""


def make_hostile(db: Path) -> int:
    """Rename road X001 and write the hostile description into the first open incident on X001."""
    con = sqlite3.connect(db)
    try:
        con.execute("UPDATE road_pieces SET name = ? WHERE code = 'X001'", (ROAD,))
        con.execute("UPDATE settings SET value = 'hostile' WHERE key = 'network_version'")
        iid = con.execute(
            "SELECT id FROM incidents WHERE status = 'open' AND follow_up_of IS NULL "
            "ORDER BY road_code, chainage_m LIMIT 1"
        ).fetchone()[0]
        con.execute(
            "UPDATE incidents SET description = ?, road_code = road_code WHERE id = ?", (DESCRIPTION, iid)
        )
        con.commit()
        return iid
    finally:
        con.close()


@pytest.fixture
def hostile_app(demo_store, tmp_path):
    data = tmp_path / "hostile-store"
    shutil.copytree(demo_store, data)
    make_hostile(data / "patrol.db")
    srv = Server(data).start()
    yield srv.url
    srv.stop()


@pytest.fixture
def ctx(browser):
    c = browser.new_context(viewport={"width": 1024, "height": 768}, locale="zh-CN")
    offline = Offline()
    c.route(
        "**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else offline(route)
    )
    c.offline = offline  # type: ignore[attr-defined]
    dialogs: list[str] = []
    c.dialogs = dialogs  # type: ignore[attr-defined]
    c.on("page", lambda pg: pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss())))
    yield c
    c.close()


def test_map_file_runs_nothing(ctx, tmp_path):
    data = tmp_path / "store"
    assert patrol_cli(data, "demo").returncode == 0
    make_hostile(data / "patrol.db")
    out = tmp_path / "map.html"
    r = patrol_cli(data, "map", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert ROAD not in out.read_text(encoding="utf-8")  # never written raw into the file
    pg = ctx.new_page()
    pg.goto(out.as_uri())
    pg.wait_for_selector(".leaflet-container", timeout=30_000)
    pg.wait_for_function("() => window.incidentLayers && window.incidentLayers.data", timeout=30_000)
    res = pg.evaluate(PROBE, ROAD)
    pg.wait_for_timeout(500)  # an injected image fails to load, then its onerror would run
    assert ctx.dialogs == [] and res["injected"] == 0, (ctx.dialogs, res)
    assert res["tooltips"] > 30 and res["popups"] > 50
    assert res["seen"] > 0  # the hostile road name was shown, as text
    assert not [u for u in ctx.offline.blocked if REMOTE in u]


def test_app_map_and_follow_up_page_run_nothing(ctx, hostile_app):
    pg = ctx.new_page()
    pg.base_url = hostile_app  # type: ignore[attr-defined]
    open_page(pg, "map", "manager")
    frame = pg.locator('iframe[title="streamlit_folium.st_folium"]').first
    frame.wait_for(timeout=30_000)
    inner = frame.element_handle().content_frame()
    inner.wait_for_function("() => window.incidentLayers && window.incidentLayers.data", timeout=30_000)
    res = inner.evaluate(PROBE, ROAD)
    pg.wait_for_timeout(500)
    assert ctx.dialogs == [] and res["injected"] == 0, (ctx.dialogs, res)
    assert res["tooltips"] > 30 and res["seen"] > 0

    ctx.clear_cookies()  # sign in as somebody else (the session cookie would keep the manager signed in)
    open_page(pg, "followup", "leader")
    pg.get_by_text("<img src=x onerror=alert(2)>", exact=False).first.wait_for(timeout=30_000)
    wait_idle(pg)
    main = pg.locator("[data-testid='stMain']")
    assert main.locator(f'img[src*="{REMOTE}"], a[href*="{REMOTE}"], img[src="x"]').count() == 0
    assert "![t](http://" in main.inner_text()  # shown as typed
    pg.wait_for_timeout(500)
    assert ctx.dialogs == []
    assert not [u for u in ctx.offline.blocked if REMOTE in u]
