"""Issue targets (incident maps) at 100,000 incidents in a SQLite store:

- the page's map on a cache miss (query + layers + the strings streamlit-folium sends) < 1.5 s; < 6 MB;
- the same with the charts, road coverage and hotspots (the page's whole data work), for the notes;
- the whole page through Streamlit (AppTest) cold, and a rerun that changes no filter (cached: < 0.5 s);
- ``patrol map`` (a fresh process: imports, query, standalone HTML) < 3 s.

Other processes share this machine: targets are checked on the best of the rounds.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert

from gis import maps
from gis.mapassets import external_references
from gis.stakes import format_stake
from patrol_app.demo import build_demo
from patrol_app.district import district
from patrol_app.services import mapdata
from patrol_app.services.roads import network
from patrol_app.services.users import cli_actor
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.migrate import upgrade
from patrol_app.storage.models import Incident

ROOT = Path(__file__).resolve().parents[1]
N = 100_000
YEAR = 2025
TYPES = ["materials", "stall", "dumping", "building", "digging", "trees", "over_limit", "other"]
MAX_HTML_BYTES = 6 * 1024 * 1024


def incident_rows(net, n: int, actor_id: int, seed: int = 5) -> list[dict]:
    """``n`` incidents spread along the demo roads (vectorised: random segment, position, side and offset)."""
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, net.segment_count, n)
    t = rng.uniform(0, 1, n)
    ax, ay, bx, by = net.sx1[seg], net.sy1[seg], net.sx2[seg], net.sy2[seg]
    length = np.hypot(bx - ax, by - ay)
    offset = rng.uniform(2, 25, n)
    left = rng.random(n) < 0.5
    sign = np.where(left, 1.0, -1.0)
    x = ax + t * (bx - ax) - sign * (by - ay) / length * offset
    y = ay + t * (by - ay) + sign * (bx - ax) / length * offset
    lon, lat = net.to_wgs84(x, y)
    chain = net.sch0[seg] + t * length
    towns = district().nearest_town(np.asarray(lon), np.asarray(lat))
    start = dt.datetime(YEAR, 1, 1, 8)
    minutes = rng.integers(0, 364 * 24 * 60, n)
    types = rng.choice(TYPES, n, p=[0.34, 0.2, 0.12, 0.14, 0.06, 0.05, 0.07, 0.02])
    closed = rng.random(n) < 0.9
    now = dt.datetime(YEAR + 1, 1, 2)
    rows = []
    for i in range(n):
        found = start + dt.timedelta(minutes=int(minutes[i]))
        rows.append(
            {
                "found_at": found,
                "type_code": str(types[i]),
                "road_code": net.codes[int(net.sroute[seg[i]])],
                "chainage_m": round(float(chain[i]), 1),
                "stake": format_stake(float(chain[i])),
                "side": "left" if left[i] else "right",
                "offset_m": round(float(offset[i]), 1),
                "lon": round(float(lon[i]), 7),
                "lat": round(float(lat[i]), 7),
                "zone": "road_land",
                "in_control_zone": True,
                "location_method": "gps",
                "town": towns[i],
                "description": "路肩堆放砂石建筑材料",
                "status": "closed" if closed[i] else "open",
                "closed_at": found.date() if closed[i] else None,
                "source": "bench",
                "created_by": actor_id,
                "created_at": now,
            }
        )
    return rows


@pytest.fixture(scope="module")
def store_100k(tmp_path_factory):
    d = tmp_path_factory.mktemp("map100k")
    url = f"sqlite:///{d / 'patrol.db'}"
    upgrade(url)
    with session_scope(url) as s:
        actor = cli_actor(s)
        build_demo(s, actor, today=dt.date(YEAR, 12, 31), years=1)
        net = network(s)
        s.execute(
            insert(Incident),
            incident_rows(net, N - mapdata.incident_count(s, actor, mapdata.MapFilter()), actor.id),
        )
    with read_session(url) as s:
        assert mapdata.incident_count(s, cli_actor(s), mapdata.MapFilter()) == N
    return d, url


def _page_server(url: str, f: mapdata.MapFilter, figures: bool) -> tuple[int, int]:
    """What the page does on a cache miss, up to the strings streamlit-folium sends the browser: the map
    (query, layers, HTML/JS) and, with ``figures``, the charts, road coverage and hotspots (drawn too, as the
    page does by default)."""
    from streamlit_folium import _get_feature_group_string, _get_header, _get_map_string, generate_js_hash

    spots = None
    with read_session(url) as s:
        actor = cli_actor(s)
        net = network(s)
        if figures:
            mapdata.charts(s, actor, f)
            mapdata.road_coverage(s, actor, net, f)
            spots = mapdata.hotspots(s, actor, f, network=net)
        points = mapdata.incident_points(s, actor, f)
    labels = mapdata.map_labels("zh")
    layers = maps.incident_layers(points, net, labels, maps.NO_BASEMAP, hotspots=spots)
    m = maps.district_map(net, labels, maps.NO_BASEMAP, district=district())
    m.get_root().render()
    m.render()
    header = _get_header(m)
    script = _get_map_string(m)
    groups = "".join(_get_feature_group_string(fg, m, i) for i, fg in enumerate(layers))
    generate_js_hash(script, "incident_map", False)
    return len(points), len((header + script + groups).encode("utf-8"))


def test_page_map_100k(benchmark, store_100k):
    """The issue's target: the map (query + HTML) < 1.5 s server time, < 6 MB to the browser."""
    _, url = store_100k
    n, size = benchmark.pedantic(
        _page_server,
        args=(url, mapdata.MapFilter.for_year(YEAR), False),
        rounds=3,
        iterations=1,
        warmup_rounds=1,
    )
    benchmark.extra_info["html_bytes"] = size
    print(f"\npage map: {n} incidents, {size / 1e6:.2f} MB sent to the browser")
    assert n == N
    assert size < MAX_HTML_BYTES
    assert benchmark.stats.stats.min < 1.5  # best of 3: other processes share this machine


def test_page_map_and_figures_100k(benchmark, store_100k):
    """The whole page's data work on a cache miss: map + charts + coverage + hotspots."""
    _, url = store_100k
    n, size = benchmark.pedantic(
        _page_server, args=(url, mapdata.MapFilter.for_year(YEAR), True), rounds=3, iterations=1
    )
    assert n == N and size < MAX_HTML_BYTES
    assert benchmark.stats.stats.min < 2.5  # a regression guard; the figure goes in the closing notes


def _page_app(data_dir: Path, monkeypatch):
    from sqlalchemy import select
    from streamlit.testing.v1 import AppTest

    from patrol_app.storage.models import User

    monkeypatch.setenv("PATROL_DATA_DIR", str(data_dir))
    monkeypatch.delenv("PATROL_DB_URL", raising=False)
    monkeypatch.delenv("PATROL_BASEMAP", raising=False)
    with read_session() as s:
        uid = s.execute(select(User.id).where(User.username == "manager")).scalar_one()
    at = AppTest.from_file(str(ROOT / "patrol_app/ui/pages/incident_map.py"), default_timeout=120)
    at.session_state["user_id"] = uid
    at.session_state["map_period"] = (dt.date(YEAR, 1, 1), dt.date(YEAR, 12, 31))
    return at


def _shown(at) -> int:
    return next(
        int(m.group(1).replace(",", ""))
        for c in at.caption
        if (m := __import__("re").search(r"地图上共 ([\d,]+) 起问题", c.value))
    )


def test_map_page_cold_100k(benchmark, store_100k, monkeypatch):
    """The whole page (filters, map, charts, coverage, hotspots) through Streamlit, caches cleared
    each round."""
    import streamlit as st

    d, _ = store_100k

    def run():
        st.cache_data.clear()
        at = _page_app(d, monkeypatch)
        at.run()
        assert not at.exception, at.exception
        return at

    run()  # imports, page compilation
    at = benchmark.pedantic(run, rounds=3, iterations=1)
    assert _shown(at) == N
    # includes AppTest's own start (≈ 0.4 s scanning installed packages for components): a regression guard
    assert benchmark.stats.stats.min < 4.0


def test_map_page_rerun_100k(benchmark, store_100k, monkeypatch):
    """A rerun that changes no filter (another widget, a refresh) rebuilds nothing: cached map and figures."""
    import streamlit as st

    d, _ = store_100k
    st.cache_data.clear()
    at = _page_app(d, monkeypatch)
    at.run()
    assert not at.exception, at.exception

    def rerun():
        at.run()
        return at

    benchmark.pedantic(rerun, rounds=5, iterations=1)
    assert _shown(at) == N
    assert benchmark.stats.stats.min < 0.5


def test_patrol_map_cli_100k(benchmark, store_100k, tmp_path):
    d, _ = store_100k
    env = {**os.environ, "PATROL_DATA_DIR": str(d)}
    env.pop("PATROL_DB_URL", None)
    env.pop("PATROL_BASEMAP", None)
    out = tmp_path / "map.html"
    times = []

    def run() -> subprocess.CompletedProcess[str]:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "patrol_app.cli", "map", "--year", str(YEAR), "--out", str(out)],
            env=env,
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        times.append(time.perf_counter() - t0)
        return proc

    proc = benchmark.pedantic(run, rounds=3, iterations=1)
    assert proc.returncode == 0, proc.stderr
    html = out.read_text(encoding="utf-8")
    size = len(html.encode("utf-8"))
    benchmark.extra_info["html_bytes"] = size
    print(f"\npatrol map: {size / 1e6:.2f} MB, {min(times):.2f}–{max(times):.2f} s")
    assert external_references(html) == []
    assert size < MAX_HTML_BYTES
    assert min(times) < 3.0  # best of 3: other processes share this machine
