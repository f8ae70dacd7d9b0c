"""Whole commands as a user waits for them (a fresh process each, start-up imports included), side by side with
the obvious geopandas script where there is one.

Targets (issue 13): ``patrol --help`` < 0.3 s; ``patrol locate --batch`` of 100,000 points against 5,000 segments no
slower than geopandas ``sjoin_nearest`` + ``line_locate_point`` with CSV in and out.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

GEOPANDAS_SCRIPT = textwrap.dedent('''
    """The obvious geopandas script: sjoin_nearest within 100 m, project (= line_locate_point), CSV in and out."""
    import sys

    import geopandas as gpd
    import pandas as pd

    src, roads_path, out = sys.argv[1:4]
    df = pd.read_csv(src, encoding="utf-8-sig")
    crs = "EPSG:4544"  # CGCS2000 3-degree Gauss-Krüger CM 105°E: metres over the district
    pts = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326").to_crs(crs)
    roads = gpd.read_file(roads_path).to_crs(crs)
    j = gpd.sjoin_nearest(pts, roads[["code", "start_m", "geometry"]], how="left", max_distance=100.0,
                          distance_col="offset_m")
    j = j[~j.index.duplicated(keep="first")]
    hit = j["index_right"].notna()
    idx = j.loc[hit, "index_right"].astype(int).to_numpy()
    lines = gpd.GeoSeries(roads.geometry.values[idx], crs=crs)
    points = gpd.GeoSeries(j.loc[hit, "geometry"].values, crs=crs)
    chain = pd.Series(index=j.index, dtype=float)
    chain[hit] = lines.project(points, align=False).to_numpy() + roads["start_m"].to_numpy()[idx]
    km = (chain // 1000)
    df["road_code"] = j["code"]
    df["chainage_m"] = chain.round(1)
    df["stake"] = ("K" + km.astype("Int64").astype(str) + "+" + (chain - km * 1000).round().astype("Int64")
                   .astype(str).str.zfill(3)).where(hit)
    df["offset_m"] = j["offset_m"].round(1)
    df.to_csv(out, index=False, encoding="utf-8-sig")
''')


def _env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "PATROL_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    env.pop("PATROL_DB_URL", None)
    return env


def _locate_batch(d: Path) -> list[str]:
    """``patrol locate --batch points.csv --out ours.csv`` in ``d``."""
    return [
        sys.executable,
        "-m",
        "patrol_app.cli",
        "locate",
        "--batch",
        str(d / "points.csv"),
        "--out",
        str(d / "ours.csv"),
    ]


def _timed(cmd: list[str], env: dict[str, str], times: list[float]) -> subprocess.CompletedProcess[str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    times.append(time.perf_counter() - t0)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_patrol_help(benchmark, tmp_path):
    times: list[float] = []
    proc = benchmark.pedantic(
        _timed,
        args=([sys.executable, "-m", "patrol_app.cli", "--help"], _env(tmp_path), times),
        rounds=5,
        iterations=1,
        warmup_rounds=1,
    )
    assert "用法" in proc.stdout
    print(f"\npatrol --help: best {min(times):.3f} s")
    assert min(times) < 0.3


@pytest.fixture(scope="module")
def locate_inputs(tmp_path_factory, big_pieces, points_100k):
    """A store holding the 5,000-segment network, the same network as a GeoPackage, 100,000 points as CSV."""
    import geopandas as gpd

    from patrol_app.services.roads import import_roads
    from patrol_app.services.users import cli_actor
    from patrol_app.storage.db import session_scope
    from patrol_app.storage.migrate import upgrade

    d = tmp_path_factory.mktemp("locate-cli")
    url = f"sqlite:///{d / 'patrol.db'}"
    upgrade(url)
    with session_scope(url) as s:
        import_roads(s, cli_actor(s), big_pieces, source="bench")
    gpd.GeoDataFrame(
        {"code": [p.code for p in big_pieces], "start_m": [p.start_m or 0.0 for p in big_pieces]},
        geometry=[p.geometry for p in big_pieces],
        crs="EPSG:4326",
    ).to_file(d / "roads.gpkg", driver="GPKG")
    lon, lat = points_100k
    pd.DataFrame({"id": np.arange(len(lon)), "lon": np.round(lon, 7), "lat": np.round(lat, 7)}).to_csv(
        d / "points.csv", index=False, encoding="utf-8-sig"
    )
    (d / "reference.py").write_text(GEOPANDAS_SCRIPT, encoding="utf-8")
    return d


def test_locate_batch_100k_against_geopandas(benchmark, locate_inputs):
    """Both as a user runs them, interleaved in one run: ``patrol locate --batch`` and the geopandas script."""
    d = locate_inputs
    env = _env(d)
    ours: list[float] = []
    ref: list[float] = []

    def both() -> None:
        _timed(
            _locate_batch(d),
            env,
            ours,
        )
        _timed(
            [
                sys.executable,
                str(d / "reference.py"),
                str(d / "points.csv"),
                str(d / "roads.gpkg"),
                str(d / "geopandas.csv"),
            ],
            env,
            ref,
        )

    benchmark.pedantic(both, rounds=3, iterations=1)
    a = pd.read_csv(d / "ours.csv", encoding="utf-8-sig")
    b = pd.read_csv(d / "geopandas.csv", encoding="utf-8-sig")
    assert len(a) == len(b) == 100_000
    same = (a["road_code"] == b["road_code"]).mean()
    assert same > 0.99, same  # the same nearest road (ties and the 100 m edge aside)
    benchmark.extra_info.update(patrol_s=round(min(ours), 2), geopandas_s=round(min(ref), 2))
    print(
        f"\nlocate --batch 100k: patrol best {min(ours):.2f} s (of {[round(t, 2) for t in ours]}), "
        f"geopandas script best {min(ref):.2f} s (of {[round(t, 2) for t in ref]})"
    )
    assert min(ours) <= min(ref)


@pytest.fixture(scope="module")
def province_locate_inputs(tmp_path_factory):
    """Province scale (issue 14): a store holding 100,000 segments (1,000 roads of 100 segments each, over
    about 3° × 3°) and 1,000,000 points near them as CSV."""
    from shapely.geometry import LineString

    from gis.roads import RoadPiece
    from patrol_app.services.roads import import_roads
    from patrol_app.services.users import cli_actor
    from patrol_app.storage.db import session_scope
    from patrol_app.storage.migrate import upgrade

    rng = np.random.default_rng(17)
    pieces = []
    for k in range(1000):
        lon0, lat0 = rng.uniform(102.5, 105.5), rng.uniform(24.0, 27.0)
        steps = rng.normal(0, 0.15, 100).cumsum() + rng.uniform(0, 2 * np.pi)
        xy = np.column_stack(
            [
                lon0 + np.concatenate([[0], (0.0025 * np.cos(steps)).cumsum()]),
                lat0 + np.concatenate([[0], (0.0025 * np.sin(steps)).cumsum()]),
            ]
        )
        code = f"X{k + 1:03d}" if k < 999 else "Y001"
        pieces.append(RoadPiece(code, LineString(xy), "", "county" if k < 999 else "township"))
    d = tmp_path_factory.mktemp("locate-province")
    url = f"sqlite:///{d / 'patrol.db'}"
    upgrade(url)
    with session_scope(url) as s:
        import_roads(s, cli_actor(s), pieces, source="bench")
    n = 1_000_000
    road = rng.integers(0, len(pieces), n)
    t = rng.uniform(0, 1, n)
    lon = np.empty(n)
    lat = np.empty(n)
    for k, p in enumerate(pieces):
        sel = road == k
        pts = [p.geometry.interpolate(v, normalized=True) for v in t[sel]]
        lon[sel] = [q.x for q in pts]
        lat[sel] = [q.y for q in pts]
    lon += rng.normal(0, 0.0002, n)  # about 20 m off the line
    lat += rng.normal(0, 0.0002, n)
    pd.DataFrame({"id": np.arange(n), "lon": np.round(lon, 7), "lat": np.round(lat, 7)}).to_csv(
        d / "points.csv", index=False, encoding="utf-8-sig"
    )
    return d


def test_locate_batch_1m_against_100k_segments(benchmark, province_locate_inputs):
    """``patrol locate --batch`` of 1,000,000 points against 100,000 segments, as a user waits for it (target
    < 15 s)."""
    d = province_locate_inputs
    env = _env(d)
    times: list[float] = []

    def run() -> None:
        _timed(
            _locate_batch(d),
            env,
            times,
        )

    benchmark.pedantic(run, rounds=2, iterations=1)
    out = pd.read_csv(d / "ours.csv", encoding="utf-8-sig", usecols=["road_code"])
    assert len(out) == 1_000_000
    assert out["road_code"].notna().mean() > 0.99
    benchmark.extra_info.update(patrol_s=round(min(times), 2))
    print(
        f"\nlocate --batch 1M against 100k segments: best {min(times):.2f} s of {[round(x, 2) for x in times]}"
    )
