"""Browser tests: the real app (`streamlit run`) on a free port, driven by Playwright in Debian's Chromium.

Never skipped: a missing browser is a failure. Every request that is not to this machine is blocked, as on a
government intranet. Screenshots go to ``test-artifacts/``. The fixtures are here; the helpers the tests share
are in ``helpers.py``.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, Offline


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
            args=CHROMIUM_ARGS,
        )
        yield b
        b.close()


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
