"""Issue 11 target: the field page's first load < 1 MB of transfer before photos and network data.

A fresh browser profile opens /field/ (the sign-in screen: no roads, catalog or photos yet). Counted: every
response the page loads (Playwright's ``request.sizes()``: headers + body as transferred) plus what the service
worker downloads to precache the app shell on install (each precache URL fetched as the worker fetches it).
The time of that first load is the benchmark.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import CHROMIUM, Server

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 1_000_000


@pytest.fixture(scope="module")
def field_server(tmp_path_factory):
    data = tmp_path_factory.mktemp("field-bench")
    env = {**os.environ, "PATROL_DATA_DIR": str(data), "PATROL_LANG": "zh"}
    env.pop("PATROL_DB_URL", None)
    subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", "demo"], env=env, check=True, cwd=ROOT, capture_output=True
    )
    srv = Server(data).start()
    yield srv
    srv.stop()


def precache_bytes(base: str) -> tuple[int, int]:
    """(files, bytes on the wire incl. headers) of the service worker's precache list."""
    sw = urllib.request.urlopen(base + "/field/sw.js", timeout=30).read().decode()
    urls = [e["url"] for e in json.loads(re.search(r"precacheAndRoute\((\[.*?\]),", sw, re.S)[1])]
    total = len(sw.encode())
    for u in urls:
        with urllib.request.urlopen(base + u, timeout=30) as r:
            body = r.read()
            total += len(body) + sum(len(k) + len(v) + 4 for k, v in r.headers.items())
    return len(urls), total


def test_field_page_first_load_under_1mb(benchmark, field_server):
    from playwright.sync_api import sync_playwright

    results: list[dict] = []

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])

        def first_load() -> None:
            ctx = browser.new_context(service_workers="allow")
            pg = ctx.new_page()
            seen: list[tuple[str, int]] = []
            pg.on(
                "requestfinished",
                lambda req: seen.append(
                    (req.url, (lambda s: s["responseBodySize"] + s["responseHeadersSize"])(req.sizes()))
                ),
            )
            pg.goto(field_server.url + "/field/", wait_until="load")
            pg.wait_for_selector("#sign-in")
            pg.wait_for_function("navigator.serviceWorker.ready.then(() => true)")
            results.append(
                {
                    "requests": len(seen),
                    "page_bytes": sum(n for _, n in seen),
                    "api": [u for u, _ in seen if "/api/" in u],
                }
            )
            ctx.close()

        benchmark.pedantic(first_load, rounds=3, iterations=1)
        browser.close()

    files, shell = precache_bytes(field_server.url)
    page = max(r["page_bytes"] for r in results)
    benchmark.extra_info.update(
        page_requests=results[0]["requests"],
        page_bytes=page,
        precache_files=files,
        precache_bytes=shell,
        first_visit_bytes=page + shell,
    )
    print(
        f"\nfield page first load: {results[0]['requests']} requests, {page / 1024:.0f} KiB; service worker "
        f"precache: {files} files, {shell / 1024:.0f} KiB; first visit total {(page + shell) / 1024:.0f} KiB"
    )
    assert results[0]["api"] == []  # before signing in, no network data
    assert page + shell < LIMIT
