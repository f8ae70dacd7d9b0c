"""Province scale on PostgreSQL (issue 14, Speed): 100 counties, 100,000 road segments, 1,000,000 incidents and
200,000 patrols; one county's yearly report (< 1 s), the province roll-up (< 5 s) and one county-year map
(< 1.5 s), each timed as the user waits for it (the ``patrol`` command in a fresh process) and in-process
(warm: the process has read the county's road network once).

    make bench-province            # or: .venv/bin/python bench/province.py [--runs 3] [--keep]

The store is a throwaway PostgreSQL (``scripts/pgtest.sh`` on its own port and directory, stopped at the end;
or the server of ``--admin-url`` / ``PATROL_TEST_PG_URL``), its schema made by the migrations (PostGIS when the
server has it), the records bulk-loaded with COPY: fixture data, not written through the services, but rows as
the app writes them (counties, roads of each county, stakes, zones, statuses), so the report and map code reads
them as it reads real ones.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_COUNTIES = 100
ROADS_PER_COUNTY = 10
SEGMENTS_PER_ROAD = 100
SEGMENT_M = 500.0
N_INCIDENTS = 1_000_000
N_PATROLS = 200_000
YEARS = (2023, 2024, 2025)
YEAR = 2025
PROVINCE = "530000"
TARGETS = {"county_report": 1.0, "province_report": 5.0, "county_map": 1.5}
TYPES = ["materials", "stall", "dumping", "digging", "building", "trees", "over_limit", "other"]
MEASURES = ["persuasion", "order_correct", "case", "transfer"]
TOWNS = ["越州镇", "茨营镇", "东山镇", "三宝街道", "珠街街道", "文华街道"]
#: Yunnan's prefectures (GB/T 2260 prefixes); their counties are numbered 02, 03, … as the real ones are
CITIES = (
    "5301", "5303", "5304", "5305", "5306", "5307", "5308", "5309",
    "5323", "5325", "5326", "5328", "5329", "5331", "5333", "5334",
)  # fmt: skip
AUDIT_KEY = "7b" * 32


def counties() -> list[str]:
    out: list[str] = []
    k = 2
    while len(out) < N_COUNTIES:
        out.extend(f"{city}{k:02d}" for city in CITIES)
        k += 1
    return sorted(out[:N_COUNTIES])


# --- the server ---------------------------------------------------------------------------------------------


def start_server(port: int, directory: Path) -> str:
    env = {**os.environ, "PGTEST_PORT": str(port), "PGTEST_DIR": str(directory)}
    out = subprocess.run(
        [str(ROOT / "scripts" / "pgtest.sh")], env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def stop_server(directory: Path) -> None:
    pgbin = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))[-1]
    cmd = [str(pgbin / "pg_ctl"), "-D", str(directory / "data"), "-m", "fast", "-w", "stop"]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    subprocess.run(cmd, check=False, capture_output=True)
    shutil.rmtree(directory, ignore_errors=True)


# --- the data -----------------------------------------------------------------------------------------------


def _copy_csv(cur, table: str, columns: list[str], rows) -> None:  # type: ignore[no-untyped-def]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        w.writerow([r"\N" if v is None else v for v in r])
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as cp:
        cp.write(buf.getvalue())


def build(url: str) -> dict[str, float]:
    """Migrate an empty database and fill it; the seconds each step took."""
    import psycopg
    import shapely
    from shapely.geometry import LineString

    from gis.stakes import format_stake
    from patrol_app.clock import utc_stamp
    from patrol_app.services.roads import _VERSION_KEY
    from patrol_app.services.users import cli_actor
    from patrol_app.storage.db import session_scope
    from patrol_app.storage.migrate import upgrade
    from patrol_app.storage.models import Setting, User

    steps: dict[str, float] = {}
    t0 = time.perf_counter()
    upgrade(url)
    cs = counties()
    now = dt.datetime(2026, 1, 5, 8, 0)
    with session_scope(url) as s:
        uid = cli_actor(s).id
        s.add(User(username="province", display_name="省厅", role="manager", adcode=PROVINCE, created_at=now))
        s.add(User(username="county", display_name="县局", role="manager", adcode=cs[0], created_at=now))
        s.add(Setting(key=_VERSION_KEY, value=utc_stamp()))
    steps["migrate"] = time.perf_counter() - t0

    rng = np.random.default_rng(14)
    conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=False)
    cur = conn.cursor()
    cur.execute("SET maintenance_work_mem = '256MB'")
    # secondary indexes are built once after the load (faster than kept up row by row), as a restore does
    cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN "
        "('incidents', 'patrols', 'patrol_roads', 'road_pieces') AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint)"
    )
    indexes = cur.fetchall()
    for name, _ in indexes:
        cur.execute(f"DROP INDEX {name}")

    # roads: 10 routes of 100 segments (500 m each) per county; X001…X010 in every county, as in reality
    t0 = time.perf_counter()
    centres = {c: (98.5 + (i % 10) * 0.7, 22.5 + (i // 10) * 0.6) for i, c in enumerate(cs)}
    deg = SEGMENT_M / 101_000.0  # ≈ metres → degrees at these latitudes (good enough for fixture roads)
    road_xy: dict[tuple[str, int], np.ndarray] = {}
    piece_rows = []
    for c in cs:
        lon0, lat0 = centres[c]
        for r in range(ROADS_PER_COUNTY):
            ang = rng.uniform(0, 2 * np.pi)
            steps_ = rng.normal(0, 0.12, SEGMENTS_PER_ROAD).cumsum() + ang
            start = np.array([lon0 + rng.uniform(-0.15, 0.15), lat0 + rng.uniform(-0.15, 0.15)])
            xy = (
                start
                + np.concatenate([[[0, 0]], np.column_stack([np.cos(steps_), np.sin(steps_)]).cumsum(0)])
                * deg
            )
            road_xy[(c, r)] = xy
            code = f"X{r + 1:03d}"
            for j in range(SEGMENTS_PER_ROAD):
                wkb = shapely.to_wkb(LineString(xy[j : j + 2]))
                piece_rows.append((c, code, f"县道{code}", "county", c, j * SEGMENT_M, wkb, "bench", now))
    with cur.copy(
        "COPY road_pieces (adcode, code, name, road_class, county_code, start_m, geometry_wkb, source, "
        "imported_at) FROM STDIN"
    ) as cp:
        for row in piece_rows:
            cp.write_row(row)
    steps["roads"] = time.perf_counter() - t0

    # patrols: 2,000 per county over three years, each on one or two of its roads
    t0 = time.perf_counter()
    per = N_PATROLS // len(cs)
    span_days = (dt.date(YEARS[-1], 12, 31) - dt.date(YEARS[0], 1, 1)).days + 1
    day0 = dt.date(YEARS[0], 1, 1)
    pid = 0
    patrols, proads = [], []
    for c in cs:
        days = rng.integers(0, span_days, per)
        for d in days:
            pid += 1
            patrols.append(
                (pid, c, day0 + dt.timedelta(days=int(d)), "09:00", "12:00", 1 + pid % 3, 2 + pid % 5,
                 round(10 + (pid * 37) % 80, 1), "张建华、李明", "", "晴", "", "closed", "", "bench", uid, now)
            )  # fmt: skip
            for k in range(1 + pid % 2):
                proads.append((pid, k, f"X{(pid * 7 + k * 3) % ROADS_PER_COUNTY + 1:03d}"))
    _copy_csv(
        cur,
        "patrols",
        "id adcode date start_time end_time vehicles personnel km crew joint weather notes status flags source "
        "created_by created_at".split(),
        patrols,
    )
    _copy_csv(cur, "patrol_roads", ["patrol_id", "seq", "road_code"], proads)
    cur.execute("SELECT setval(pg_get_serial_sequence('patrols', 'id'), %s)", (pid,))
    steps["patrols"] = time.perf_counter() - t0

    # incidents: 10,000 per county over three years, on its roads (a point near a segment, its stake)
    t0 = time.perf_counter()
    per = N_INCIDENTS // len(cs)
    span_s = span_days * 86400
    start = dt.datetime(YEARS[0], 1, 1)
    cols = (
        "adcode found_at type_code road_code chainage_m stake side offset_m lon lat zone in_control_zone "
        "effects basis_note location_method town description party party_phone measure status closed_at source "
        "created_by created_at"
    ).split()
    for c in cs:
        road = rng.integers(0, ROADS_PER_COUNTY, per)
        seg = rng.integers(0, SEGMENTS_PER_ROAD, per)
        t = rng.uniform(0, 1, per)
        xy = np.stack([road_xy[(c, int(r))] for r in range(ROADS_PER_COUNTY)])  # (roads, points, 2)
        p = (
            xy[road, seg]
            + t[:, None] * (xy[road, seg + 1] - xy[road, seg])
            + rng.normal(0, 0.00006, (per, 2))
        )
        chain = (seg + t) * SEGMENT_M
        secs = rng.integers(0, span_s, per)
        rows = []
        for i in range(per):
            found = start + dt.timedelta(seconds=int(secs[i]))
            closed = i % 10 != 0
            rows.append(
                (c, found, TYPES[i % 8], f"X{int(road[i]) + 1:03d}", round(float(chain[i]), 1),
                 format_stake(float(chain[i])), "left" if i % 2 else "right", round(3 + (i % 13), 1),
                 round(float(p[i, 0]), 7), round(float(p[i, 1]), 7), "road_land", "f", "", "", "gps",
                 TOWNS[i % 6], "路肩堆放砂石建筑材料", "王某某", "13812345678", MEASURES[i % 4],
                 "closed" if closed else "open", (found.date() + dt.timedelta(days=5)) if closed else None,
                 "bench", uid, now)
            )  # fmt: skip
        _copy_csv(cur, "incidents", cols, rows)
    steps["incidents"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    for _, ddl in indexes:
        cur.execute(ddl)
    conn.commit()
    steps["indexes"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    conn.autocommit = True
    cur.execute("VACUUM ANALYZE")
    steps["vacuum_analyze"] = time.perf_counter() - t0
    conn.close()
    return steps


# --- the figures --------------------------------------------------------------------------------------------


def command(args: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", *args], env=env, capture_output=True, cwd=ROOT
    )
    took = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"patrol {' '.join(args)} failed: {p.stderr.decode()[-2000:]}")
    return took


def in_process(url: str, what: str, county: str, out: Path) -> float:
    from patrol_app.reports.report import build_report
    from patrol_app.reports.rollup import Period
    from patrol_app.reports.writers import render
    from patrol_app.services.mapdata import MapFilter, standalone_map_html
    from patrol_app.services.roads import network
    from patrol_app.services.users import get_user
    from patrol_app.storage.db import read_session

    t0 = time.perf_counter()
    with read_session(url, stale_ok=True) as s:
        if what == "county_map":
            actor = get_user(s, "county")
            net = network(s, county)
            html, _ = standalone_map_html(s, actor, net, MapFilter.for_year(YEAR), lang="zh")
            out.write_text(html, encoding="utf-8")
        else:
            actor = get_user(s, "county" if what == "county_report" else "province")
            render(build_report(s, actor, Period.year(YEAR)), "json", "zh", session=s)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--admin-url", default=os.environ.get("PATROL_TEST_PG_URL"), help="an existing server")
    ap.add_argument(
        "--port", type=int, default=55520, help="the throwaway server's port (without --admin-url)"
    )
    ap.add_argument("--dir", default="/tmp/patrol-bench-province", help="the throwaway server's directory")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the database (and the server) afterwards")
    ap.add_argument("--scale", type=float, default=1.0, help="records × this (a quick trial run: 0.05)")
    a = ap.parse_args()
    global N_INCIDENTS, N_PATROLS
    N_INCIDENTS, N_PATROLS = int(N_INCIDENTS * a.scale), int(N_PATROLS * a.scale)

    own = not a.admin_url
    admin_url = start_server(a.port, Path(a.dir)) if own else a.admin_url
    from sqlalchemy import create_engine, text

    name = f"province_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    work = Path(tempfile.mkdtemp(prefix="bench-province-"))
    os.environ.update(PATROL_DATA_DIR=str(work), PATROL_AUDIT_KEY=AUDIT_KEY, PATROL_DB_URL=url)
    os.environ.pop("PATROL_DB_READ_URL", None)
    try:
        t0 = time.perf_counter()
        steps = build(url)
        print(
            f"built {N_COUNTIES} counties, {N_COUNTIES * ROADS_PER_COUNTY * SEGMENTS_PER_ROAD:,} road segments, "
            f"{N_INCIDENTS:,} incidents, {N_PATROLS:,} patrols in {time.perf_counter() - t0:.0f} s ("
            + ", ".join(f"{k} {v:.1f} s" for k, v in steps.items())
            + ")"
        )
        from patrol_app.storage.spatial import postgis_status

        print(f"PostGIS: {postgis_status(url)}")
        county = counties()[0]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PATROL_COUNTY": county, "PATROL_LANG": "zh"}
        # as an installed app runs: its modules' bytecode cached (written by the warm-up run, outside the tree)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        cmds = {
            "county_report": ["--user", "county", "report", "--year", str(YEAR), "--format", "json", "--out",
                              str(work / "county.json")],
            "province_report": ["--user", "province", "report", "--year", str(YEAR), "--format", "json", "--out",
                                str(work / "province.json")],
            "county_map": ["--user", "county", "map", "--year", str(YEAR), "--out", str(work / "map.html")],
        }  # fmt: skip
        labels = {
            "county_report": f"one county's yearly report ({county}, {YEAR})",
            "province_report": f"province roll-up yearly report ({PROVINCE}, {YEAR})",
            "county_map": f"one county-year map ({county}, {YEAR})",
        }
        rows = []
        for key, args in cmds.items():
            command(args, env)  # warm-up: the server's caches, the bytecode cache
            cmd_times = [command(args, env) for _ in range(a.runs)]
            in_process(url, key, county, work / "map-in.html")
            proc_times = [in_process(url, key, county, work / "map-in.html") for _ in range(a.runs)]
            cmd, proc = statistics.median(cmd_times), statistics.median(proc_times)
            rows.append((labels[key], cmd, proc, TARGETS[key], cmd < TARGETS[key]))
        load = os.getloadavg()
        print()
        print(f"Province scale on PostgreSQL, median of {a.runs} runs (load average {load[0]:.2f} {load[1]:.2f} "
              f"{load[2]:.2f}, {os.cpu_count()} cores)")  # fmt: skip
        w = max(len(r[0]) for r in rows)
        print(f"{'figure':<{w}}  {'command':>8}  {'in-proc':>8}  {'target':>7}  result")
        for label, cmd, proc, target, ok in rows:
            print(f"{label:<{w}}  {cmd:7.2f}s  {proc:7.2f}s  {'< ' + format(target, 'g') + ' s':>7}  "
                  f"{'pass' if ok else 'FAIL'}")  # fmt: skip
        return 0 if all(r[4] for r in rows) else 1
    finally:
        from patrol_app.storage.db import get_engine

        get_engine(url).dispose()
        if not a.keep:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(work, ignore_errors=True)
        if own and not a.keep:
            stop_server(Path(a.dir))


if __name__ == "__main__":
    sys.exit(main())
