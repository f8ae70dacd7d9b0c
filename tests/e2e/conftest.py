"""Browser tests: the real app (`streamlit run`) on a free port, driven by Playwright in Debian's Chromium.

Never skipped: a missing browser is a failure. Every request that is not to this machine is blocked, as on a
government intranet. Screenshots go to ``test-artifacts/``.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> Path:
    """A demo store made once; every browser test works on its own copy of it."""
    data = tmp_path_factory.mktemp("e2e-template")
    env = {**os.environ, "PATROL_DATA_DIR": str(data), "PATROL_LANG": "zh"}
    env.pop("PATROL_DB_URL", None)
    subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", "demo"], env=env, check=True, cwd=ROOT, capture_output=True
    )
    return data


class Server:
    """``patrol serve`` on a free port, over a data directory of its own."""

    def __init__(self, data: Path, env: dict[str, str | None] | None = None) -> None:
        self.data = data
        self.extra_env = env or {}  # e.g. PATROL_DB_URL, PATROL_PRODUCTION
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Server":
        env = {**os.environ, "PATROL_DATA_DIR": str(self.data), "PATROL_LANG": "zh"}
        env.pop("PATROL_DB_URL", None)
        for k, v in self.extra_env.items():  # None: unset (e.g. the suite's fixed audit key)
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        self.data.mkdir(parents=True, exist_ok=True)
        self.log = (self.data / "server.log").open("a")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "patrol_app.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                pytest.fail("patrol serve died:\n" + (self.data / "server.log").read_text())
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        return self
            except OSError:
                pass
            if time.time() > deadline:
                self.stop()
                pytest.fail(
                    "patrol serve did not answer /_stcore/health:\n" + (self.data / "server.log").read_text()
                )
            time.sleep(0.2)

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.log.close()

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def server(demo_store, tmp_path) -> Iterator[Server]:
    """A server of this test's own, on a fresh copy of the demo store."""
    data = tmp_path / "store"
    shutil.copytree(demo_store, data)
    srv = Server(data).start()
    yield srv
    srv.stop()


@pytest.fixture
def app_server(server) -> str:
    return server.url


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


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


@pytest.fixture(params=[(1024, 768), (768, 1024)], ids=["1024x768", "768x1024"])
def page(request, browser, app_server):
    w, h = request.param
    ctx = browser.new_context(viewport={"width": w, "height": h}, locale="zh-CN")
    offline = Offline()
    ctx.route("**/*", offline)
    pg = ctx.new_page()
    pg.base_url = app_server  # type: ignore[attr-defined]
    pg.offline = offline  # type: ignore[attr-defined]
    pg.viewport_name = f"{w}x{h}"  # type: ignore[attr-defined]
    yield pg
    ARTIFACTS.mkdir(exist_ok=True)
    name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    ctx.close()


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
