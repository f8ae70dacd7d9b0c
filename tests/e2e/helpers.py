"""What the browser tests do again and again, in one place: the browser's options, blocking the network,
waiting for Streamlit, signing in, tapping a map, picking options, the demo network, the store's database and the
command line. The fixtures (servers, browser, pages) are in ``conftest.py``."""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Chromium's options for every browser test (a container, no GPU, nothing phoning home)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'


class Offline:
    """Blocks every request that leaves this machine, and records what was attempted."""

    def __init__(self) -> None:
        self.blocked: list[str] = []

    def __call__(self, route) -> None:  # type: ignore[no-untyped-def]
        host = route.request.url.split("/")[2].split(":")[0] if "://" in route.request.url else ""
        if route.request.url.startswith(("data:", "blob:", "about:")) or host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()


DEMO_PASSWORD = "patrol-demo"


def sign_in(pg, username: str = "leader", password: str = DEMO_PASSWORD) -> None:  # type: ignore[no-untyped-def]
    """Fill the sign-in form of the page that is open; the app then shows the page of the URL."""
    wait_idle(pg)
    pg.get_by_role("textbox", name="用户名").last.fill(username)
    pg.get_by_role("textbox", name="密码").last.fill(password)
    pg.get_by_role("button", name="登录").last.click()
    pg.get_by_role("button", name=re.compile("退出登录")).wait_for(timeout=30_000)
    wait_idle(pg)


def open_page(pg, url_path: str = "", username: str = "leader") -> None:  # type: ignore[no-untyped-def]
    """Open a page of the app as a signed-in user (a fresh browser session starts signed out)."""
    pg.goto(pg.base_url + "/" + url_path)
    sign_in(pg, username)


def wait_idle(pg) -> None:  # type: ignore[no-untyped-def]
    """Wait until the page's script has finished — giving a rerun that an action just asked for a moment to
    start first (otherwise "not running" can be read before the rerun begins)."""
    pg.wait_for_selector("[data-testid='stApp']", timeout=30_000)
    try:
        pg.wait_for_function(
            "() => { const a = document.querySelector(\"[data-testid='stApp']\");"
            " return a && a.getAttribute('data-test-script-state') === 'running'; }",
            timeout=400,
        )
    except Exception:  # noqa: BLE001 - no rerun came: the page is idle already
        pass
    pg.wait_for_function(
        "() => { const a = document.querySelector(\"[data-testid='stApp']\");"
        " return a && a.getAttribute('data-test-script-state') === 'notRunning'; }",
        timeout=30_000,
    )


MAP_FRAME = 'iframe[title="streamlit_folium.st_folium"]'


def tap_map(pg, lon: float, lat: float, zoom: int = 18) -> None:  # type: ignore[no-untyped-def]
    """Zoom the (first) folium map in on a point and tap it with the mouse, as a user would.

    Waits until the map has stopped re-rendering (a rerun may redraw it and reset the view) before tapping.
    """
    wait_idle(pg)
    handle = pg.locator(MAP_FRAME).first.element_handle()
    handle.scroll_into_view_if_needed()  # a first tap on a half-hidden map scrolls the page under the finger
    inner = handle.content_frame()
    inner.wait_for_function("() => window.map !== undefined", timeout=30_000)
    for _ in range(10):
        inner.evaluate(
            "([lat, lon, z]) => window.map.setView([lat, lon], z, {animate: false})", [lat, lon, zoom]
        )
        pg.wait_for_timeout(400)
        wait_idle(pg)
        c = inner.evaluate(
            "() => { const c = window.map.getCenter(); return [c.lat, c.lng, window.map.getZoom()]; }"
        )
        if abs(c[0] - lat) < 1e-6 and abs(c[1] - lon) < 1e-6 and c[2] == zoom:
            break
        handle = pg.locator(MAP_FRAME).first.element_handle()
        inner = handle.content_frame()
    x, y = inner.evaluate(
        "([lat, lon]) => { const p = window.map.latLngToContainerPoint([lat, lon]);"
        " const r = window.map.getContainer().getBoundingClientRect(); return [r.left + p.x, r.top + p.y]; }",
        [lat, lon],
    )
    box = handle.bounding_box()
    pg.mouse.click(box["x"] + x, box["y"] + y)


def pick(pg, text: str, label: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Choose ``text`` in a Streamlit multiselect (the one labelled ``label``, else the first) by typing it,
    unless it is chosen already."""
    boxes = pg.locator("[data-testid='stMultiSelect']")
    widget = boxes.filter(has_text=label) if label else boxes.first
    if widget.locator("[data-baseweb='tag']").filter(has_text=text).count():
        return
    widget.locator("input").click()
    pg.keyboard.type(text)
    pg.keyboard.press("Enter")
    pg.keyboard.press("Escape")
    pg.keyboard.press("Tab")  # leave the list
    wait_idle(pg)


def choose(pg, label: str, option: str) -> None:  # type: ignore[no-untyped-def]
    """Pick an option of a Streamlit selectbox by its label."""
    box = pg.get_by_role("combobox", name=label)
    box.click()
    pg.get_by_role("option", name=option, exact=True).click()
    wait_idle(pg)


def jpeg_file(tmp_path: Path) -> Path:
    """A phone-sized JPEG photo to upload."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (2000, 1500), (140, 110, 70)).save(buf, "JPEG", quality=90)
    path = tmp_path / "现场.jpg"
    path.write_bytes(buf.getvalue())
    return path


def upload_photo(pg, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Add a photo in the page's file uploader and wait until it is shown."""
    pg.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(path))
    pg.locator("[data-testid='stImage'] img").first.wait_for(timeout=30_000)


@functools.cache
def demo_network() -> Any:
    """The demo road network (the one every demo store holds)."""
    from gis.roads import RoadNetwork, read_road_file
    from patrol_app.district import DEMO_ROADS_FILE

    return RoadNetwork(read_road_file(DEMO_ROADS_FILE))


def db(server) -> sqlite3.Connection:  # type: ignore[no-untyped-def]
    """The test server's SQLite database."""
    return sqlite3.connect(server.data / "patrol.db", timeout=30)


def patrol_cli(data_dir: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``patrol ARGS`` on the store in ``data_dir`` (in Chinese, without the suite's database URL)."""
    env = {**os.environ, "PATROL_DATA_DIR": str(data_dir), "PATROL_LANG": "zh"}
    env.pop("PATROL_DB_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", *args],
        input=stdin,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
