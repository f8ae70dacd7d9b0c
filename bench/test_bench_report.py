"""Issue targets at 100,000 incidents and 20,000 patrols in one year (SQLite): the JSON report < 3 s, each export
< 10 s, memory < 1 GB (the process's peak RSS, which includes building the store, and each export's Python heap
peak measured with tracemalloc).

Run: .venv/bin/python -m pytest bench/test_bench_report.py -o addopts="" --benchmark-only
"""

from __future__ import annotations

import datetime as dt
import resource
import sys
import tracemalloc

import numpy as np
import pytest
from sqlalchemy import func, insert, select

from gis.stakes import format_stake
from patrol_app.demo import build_demo
from patrol_app.io.exports import FORMATS, SUFFIX, ExportFilter, export
from patrol_app.reports.report import build_report
from patrol_app.reports.rollup import Period
from patrol_app.reports.writers import render
from patrol_app.services.roads import network
from patrol_app.services.users import cli_actor, get_user
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.migrate import upgrade
from patrol_app.storage.models import Incident, Patrol, PatrolRoad

N_INCIDENTS = 100_000
N_PATROLS = 20_000
YEAR = 2025
GB = 1 << 30
REPORT_LIMIT_S = 3.0
EXPORT_LIMIT_S = 10.0
TYPES = ["materials", "stall", "dumping", "digging", "building", "trees", "over_limit", "other"]
MEASURES = ["persuasion", "order_correct", "case", "transfer"]
TOWNS = ["越州镇", "茨营镇", "东山镇", "三宝街道", "珠街街道", "文华街道"]
CHUNK = 10_000


def peak_rss() -> int:
    """The process's peak resident set size in bytes (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    d = tmp_path_factory.mktemp("report-bench")
    url = f"sqlite:///{d / 'patrol.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("PATROL_DATA_DIR", str(d))
    upgrade(url)
    with session_scope(url) as s:
        build_demo(s, cli_actor(s), today=dt.date(2026, 11, 1), years=1)  # network, accounts; records in 2026
        net = network(s)
        uid = cli_actor(s).id
        first_id = (s.execute(select(func.max(Patrol.id))).scalar() or 0) + 1
    rng = np.random.default_rng(5)
    codes = net.codes
    created = dt.datetime(2026, 1, 1)
    with session_scope(url) as s:
        for lo in range(0, N_PATROLS, CHUNK):
            ids = range(first_id + lo, first_id + min(lo + CHUNK, N_PATROLS))
            days = rng.integers(0, 365, len(ids))
            s.execute(
                insert(Patrol),
                [
                    {
                        "id": pid,
                        "date": dt.date(YEAR, 1, 1) + dt.timedelta(days=int(day)),
                        "start_time": "09:00",
                        "end_time": "12:00",
                        "vehicles": int(rng.integers(1, 4)),
                        "personnel": int(rng.integers(2, 7)),
                        "km": float(round(rng.uniform(10, 90), 1)),
                        "crew": "张建华、李明、王芳",
                        "joint": "交警大队" if pid % 7 == 0 else "",
                        "weather": "晴",
                        "notes": "",
                        "status": "closed",
                        "source": "bench",
                        "created_by": uid,
                        "created_at": created,
                    }
                    for pid, day in zip(ids, days)
                ],
            )
            s.execute(
                insert(PatrolRoad),
                [
                    {"patrol_id": pid, "seq": k, "road_code": codes[(pid * 7 + k * 13) % len(codes)]}
                    for pid in ids
                    for k in range(1 + pid % 2)
                ],
            )
        seg = rng.integers(0, net.segment_count, N_INCIDENTS)
        t = rng.uniform(0, 1, N_INCIDENTS)
        x = net.sx1[seg] + t * (net.sx2[seg] - net.sx1[seg]) + rng.normal(0, 8, N_INCIDENTS)
        y = net.sy1[seg] + t * (net.sy2[seg] - net.sy1[seg]) + rng.normal(0, 8, N_INCIDENTS)
        lon, lat = (np.round(np.asarray(v), 7) for v in net.to_wgs84(x, y))
        route = net.sroute[seg]
        chainage = net.sch0[seg] + t * np.hypot(net.sx2[seg] - net.sx1[seg], net.sy2[seg] - net.sy1[seg])
        seconds = rng.integers(0, 365 * 86400, N_INCIDENTS)
        for lo in range(0, N_INCIDENTS, CHUNK):
            rows = []
            for i in range(lo, min(lo + CHUNK, N_INCIDENTS)):
                found = dt.datetime(YEAR, 1, 1) + dt.timedelta(seconds=int(seconds[i]))
                closed = i % 10 != 0
                rows.append(
                    {
                        "found_at": found,
                        "type_code": TYPES[i % len(TYPES)],
                        "road_code": codes[int(route[i])],
                        "chainage_m": float(round(chainage[i], 1)),
                        "stake": format_stake(float(chainage[i])),
                        "side": "left" if i % 2 else "right",
                        "offset_m": float(round(abs(rng.normal(8, 4)), 1)),
                        "lon": float(lon[i]),
                        "lat": float(lat[i]),
                        "zone": "road_land",
                        "in_control_zone": True,
                        "location_method": "gps",
                        "town": TOWNS[i % len(TOWNS)],
                        "description": "路肩堆放砂石建筑材料",
                        "party": "王某某",
                        "party_phone": "13812345678",
                        "measure": MEASURES[i % len(MEASURES)],
                        "status": "closed" if closed else "open",
                        "closed_at": found.date() + dt.timedelta(days=5) if closed else None,
                        "source": "bench",
                        "created_by": uid,
                        "created_at": created,
                    }
                )
            s.execute(insert(Incident), rows)
    with read_session(url) as s:
        assert (
            s.execute(select(func.count()).select_from(Incident).where(Incident.source == "bench")).scalar()
            == N_INCIDENTS
        )
    yield url, d
    mp.undo()


def _report(url: str, fmt: str) -> bytes:
    with read_session(url) as s:
        rep = build_report(s, get_user(s, "manager"), Period.year(YEAR))
        return render(rep, fmt, "zh", session=s)


def test_report_json_100k(benchmark, big_store):
    url, _ = big_store
    data = benchmark.pedantic(_report, args=(url, "json"), rounds=3, iterations=1, warmup_rounds=1)
    assert b'"incidents_total": 100000' in data and b'"patrols": 20000' in data
    assert benchmark.stats.stats.max < REPORT_LIMIT_S
    assert peak_rss() < GB


@pytest.mark.parametrize("fmt", ["xlsx", "docx"])
def test_report_documents_100k(benchmark, big_store, fmt):
    url, _ = big_store
    data = benchmark.pedantic(_report, args=(url, fmt), rounds=1, iterations=1)
    assert len(data) > 10_000
    assert peak_rss() < GB


def _export(url: str, out, kind: str, fmt: str) -> int:  # type: ignore[no-untyped-def]
    with read_session(url) as s:
        return export(s, get_user(s, "reviewer"), kind, fmt, out, ExportFilter.year(YEAR)).rows


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["incidents", "patrols"])
def test_export_100k(benchmark, big_store, kind, fmt):
    url, d = big_store
    out = d / f"bench-{kind}{SUFFIX[fmt]}"
    rows = benchmark.pedantic(_export, args=(url, out, kind, fmt), rounds=1, iterations=1)
    assert rows == (N_INCIDENTS if kind == "incidents" else N_PATROLS)
    assert benchmark.stats.stats.max < EXPORT_LIMIT_S
    benchmark.extra_info["file_mb"] = round(out.stat().st_size / 1e6, 1)
    benchmark.extra_info["peak_rss_mb"] = round(peak_rss() / 1e6)
    assert peak_rss() < GB
    out.unlink()


#: every incident format, and the patrol formats that carry the most geometry text
MEMORY_CASES = [("incidents", f) for f in FORMATS] + [("patrols", "geojson"), ("patrols", "kmz")]


def test_export_memory_is_bounded(benchmark, big_store):
    """Python heap peak of the exports (tracemalloc, which slows them down: not timed against the limits)."""
    url, d = big_store
    peaks: dict[str, float] = {}

    def run() -> None:
        for kind, fmt in MEMORY_CASES:
            out = d / f"mem-{kind}{SUFFIX[fmt]}"
            tracemalloc.start()
            try:
                _export(url, out, kind, fmt)
                peaks[f"{kind}.{fmt}"] = tracemalloc.get_traced_memory()[1] / 1e6
            finally:
                tracemalloc.stop()
            out.unlink()

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update({k: round(v, 1) for k, v in peaks.items()})
    benchmark.extra_info["peak_rss_mb"] = round(peak_rss() / 1e6)
    print("\ntracemalloc peak MB per export:", {k: round(v, 1) for k, v in peaks.items()})
    print(f"process peak RSS (store built, every report and export run): {peak_rss() / 1e6:.0f} MB")
    assert max(peaks.values()) * 1e6 < GB
    assert peak_rss() < GB


def test_patrol_report_json_command_100k(benchmark, big_store):
    """``patrol report --year Y --format json`` as a user waits for it: a fresh process, start-up included.
    Target (issue 13): < 0.5 s."""
    import os
    import subprocess
    import time
    from pathlib import Path

    _, d = big_store
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PATROL_DATA_DIR": str(d), "PYTHONPATH": str(root)}
    env.pop("PATROL_DB_URL", None)
    times: list[float] = []

    def run() -> bytes:
        t0 = time.perf_counter()
        p = subprocess.run(
            [
                sys.executable,
                "-m",
                "patrol_app.cli",
                "--user",
                "manager",
                "report",
                "--year",
                str(YEAR),
                "--format",
                "json",
            ],
            env=env,
            capture_output=True,
            cwd=root,
        )
        times.append(time.perf_counter() - t0)
        assert p.returncode == 0, p.stderr.decode()[-2000:]
        return p.stdout

    out = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    assert b'"incidents_total": 100000' in out
    print(
        f"\npatrol report --format json, 100k incidents: best {min(times):.2f} s of {[round(t, 2) for t in times]}"
    )
