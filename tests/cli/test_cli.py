"""The ``patrol`` command end to end: every verb in a subprocess against a copy of the demo store.

Each ``patrol`` process costs most of a second of imports, so a test runs only the commands under test and
checks the store in-process (row counts, the road network) where that says the same thing.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
from shapely.geometry import LineString

from gis.crs import wgs84_to_gcj02
from gis.linref import locate, offset_point
from gis.stakes import format_stake
from patrol_app.cli import LOCATE_KEYS
from patrol_app.i18n import t
from tests.tamper import tamper

GEOD = pyproj.Geod(ellps="WGS84")
DEMO_ROAD_COUNT = 30
#: A point in the district with no demo road within 100 m.
FAR_POINT = (103.9, 25.4)

PATROL_HEADER = [
    "日期",
    "出动车辆(台次)",
    "出动人员(人次)",
    "巡查里程(公里)",
    "巡查路线",
    "巡查人员",
    "联合单位",
    "备注",
]
GOOD_PATROLS = [
    ["2025-03-05", "2", "5", "40.5", "X001、Y002", "张建华、李明、王芳、赵磊、吴刚", "", ""],
    ["2025/3/6", "3", "6", "30", "X002", "张建华、李明", "交警大队", "雨后巡查"],
]


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def line_metres(coords: list[tuple[float, float]]) -> float:
    return sum(metres(*a, *b) for a, b in zip(coords, coords[1:]))


def as_json(proc) -> object:  # type: ignore[no-untyped-def]
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", newline="", encoding=encoding) as f:
        csv.writer(f).writerows(rows)
    return path


def write_geojson(path: Path, features: list[tuple[list[tuple[float, float]], dict]]) -> Path:
    fc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": props,
                "geometry": {"type": "LineString", "coordinates": [list(c) for c in coords]},
            }
            for coords, props in features
        ],
    }
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def net(store):  # type: ignore[no-untyped-def]
    """The demo store's road network (in-process), for building points at known positions."""
    return store.network()


# --- db upgrade ------------------------------------------------------------------------------------


def test_db_upgrade_creates_an_empty_store(tmp_path, run_patrol):
    data_dir = tmp_path / "fresh"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATROL_")}
    env.update(PATROL_DATA_DIR=str(data_dir), PYTHONIOENCODING="utf-8")

    p = run_patrol(["db", "upgrade"], env)

    assert p.returncode == 0, p.stderr
    db = data_dir / "patrol.db"
    assert p.stdout.strip() == f"sqlite:///{db}"
    con = sqlite3.connect(db)
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "patrols",
        "patrol_roads",
        "incidents",
        "road_pieces",
        "audit_log",
        "import_batches",
        "alembic_version",
    } <= tables
    assert con.execute("SELECT count(*) FROM road_pieces").fetchone()[0] == 0
    con.close()


# --- roads import / list ---------------------------------------------------------------------------


def test_roads_import_geojson_with_chinese_fields_and_start_stake(store, run_patrol, tmp_path):
    coords = [(103.80, 25.30), (103.81, 25.305), (103.82, 25.31)]
    props = {"路线编号": "x12", "路线名称": "测试县道", "行政等级": "县道", "起点桩号": "K5+000"}
    path = write_geojson(tmp_path / "县道.geojson", [(coords, props)])

    p = run_patrol(["roads", "import", path, "--replace"], store.env)

    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == t("cli.roads_imported", routes=1, pieces=1)
    net = store.network()
    assert net.codes == ["X012"]  # x12 normalised; --replace: the demo roads are gone
    road = net.routes["X012"]
    assert (road.name, road.road_class, road.start_stake) == ("测试县道", "county", "K5+000")
    assert road.length_m == pytest.approx(line_metres(coords), abs=5.0)
    assert road.end_stake == format_stake(5000.0 + road.length_m)
    assert metres(*net.point_at("X012", 5000.0), *coords[0]) < 0.5  # K5+000 is the line's first vertex

    # the same file again without --replace: refused, naming the code, nothing written
    before = store.counts()
    p = run_patrol(["roads", "import", path], store.env)
    assert p.returncode == 1
    assert p.stderr.strip() == t("error.roads_exist", codes="X012")
    assert store.counts() == before


def test_roads_import_geopackage_and_zipped_shapefile_with_field_flags(store, run_patrol_many, tmp_path):
    gpkg_line = LineString([(103.850, 25.350), (103.855, 25.353), (103.860, 25.360)])
    gpd.GeoDataFrame(
        {"RCODE": ["y22"], "RNAME": ["测试乡道"], "RCLASS": ["乡道"], "RSTART": ["K1+200"]},
        geometry=[gpkg_line],
        crs="EPSG:4326",
    ).to_crs("EPSG:32648").to_file(tmp_path / "roads.gpkg", driver="GPKG")  # projected: back to WGS-84
    shp_line = LineString([(103.70, 25.45), (103.705, 25.455), (103.71, 25.46)])
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    gpd.GeoDataFrame(
        {"LXBM": ["X10"], "LXMC": ["测试县道十"], "DJ": ["county"], "QDZH": ["K0+000"]},
        geometry=[shp_line],
        crs="EPSG:4326",
    ).to_file(shp_dir / "roads.shp", encoding="utf-8")
    with zipfile.ZipFile(tmp_path / "roads.zip", "w") as z:
        for f in shp_dir.iterdir():
            z.write(f, f.name)

    gpkg, shp = run_patrol_many(
        [
            [
                "roads",
                "import",
                tmp_path / "roads.gpkg",
                "--code-field",
                "RCODE",
                "--name-field",
                "RNAME",
                "--class-field",
                "RCLASS",
                "--start-field",
                "RSTART",
            ],
            [
                "roads",
                "import",
                tmp_path / "roads.zip",
                "--code-field",
                "LXBM",
                "--name-field",
                "LXMC",
                "--class-field",
                "DJ",
                "--start-field",
                "QDZH",
            ],
        ],
        store.env,
    )

    for p in (gpkg, shp):
        assert p.returncode == 0, p.stderr
        assert p.stdout.strip() == t("cli.roads_imported", routes=1, pieces=1)
    net = store.network()
    assert len(net) == DEMO_ROAD_COUNT + 2  # added to the demo network
    for code, name, road_class, start_m, line in [
        ("Y022", "测试乡道", "township", 1200.0, gpkg_line),
        ("X010", "测试县道十", "county", 0.0, shp_line),
    ]:
        r = net.routes[code]
        coords = list(line.coords)
        assert (r.name, r.road_class, r.start_m, len(r.parts)) == (name, road_class, start_m, 1)
        assert r.length_m == pytest.approx(line_metres(coords), abs=5.0)
        assert metres(*net.point_at(code, start_m), *coords[0]) < 0.5


def test_roads_import_gcj02_is_converted_to_wgs84(store, run_patrol, tmp_path):
    wgs = [(103.900, 25.400), (103.905, 25.404), (103.910, 25.410)]
    gcj = [tuple(float(v) for v in wgs84_to_gcj02(lon, lat)) for lon, lat in wgs]
    assert metres(*wgs[0], *gcj[0]) > 300  # the shift the import must undo
    path = write_geojson(
        tmp_path / "amap.geojson", [(gcj, {"code": "Y099", "name": "高德乡道", "class": "乡道"})]
    )

    p = run_patrol(["roads", "import", path, "--gcj02"], store.env)

    assert p.returncode == 0, p.stderr
    start = as_json(run_patrol(["stake", "Y099", "K0+000", "--json"], store.env))
    assert metres(start["lon"], start["lat"], *wgs[0]) < 0.5
    mid = locate(store.network(), *wgs[1])  # the whole line was converted, not only its start
    assert mid.road_code == "Y099"
    assert mid.offset_m <= 0.5


def test_roads_list_json(store, run_patrol):
    rows = as_json(run_patrol(["roads", "list", "--json"], store.env))

    assert len(rows) == DEMO_ROAD_COUNT
    keys = {
        "code",
        "name",
        "road_class",
        "county_code",
        "start_stake",
        "end_stake",
        "length_km",
        "pieces",
        "half_road_land_m",
    }
    for r in rows:
        assert set(r) == keys
        assert r["length_km"] > 0
        assert r["road_class"] == {"X": "county", "Y": "township"}[r["code"][0]]
        assert r["start_stake"] == "K0+000"
        assert r["end_stake"] == format_stake(r["length_km"] * 1000)
    by_code = {r["code"]: r for r in rows}
    assert by_code["X001"]["pieces"] == 2
    assert all(r["pieces"] == 1 for c, r in by_code.items() if c != "X001")


# --- locate ----------------------------------------------------------------------------------------

LOCATE_CASES = [
    # code, chainage, offset, side, zone, in control zone, zone width, half road land
    ("X002", 5000.0, 15.0, "left", "control_zone", True, 10, 12.0),  # county: 12 m road land + 10 m
    ("Y005", 2000.0, 3.0, "right", "road_land", False, 5, 8.0),  # township: on road land, not in the zone
    ("Y005", 2500.0, 20.0, "left", "outside", False, 5, 8.0),  # beyond 8 m + 5 m
]


def test_locate_points_beside_demo_roads(store, run_patrol_many, net):
    points = [offset_point(net, code, ch, off, side) for code, ch, off, side, *_ in LOCATE_CASES]

    procs = run_patrol_many([["locate", repr(lon), repr(lat), "--json"] for lon, lat in points], store.env)

    for (code, chainage, offset, side, zone, in_zone, zone_m, half), p in zip(LOCATE_CASES, procs):
        pos = as_json(p)
        assert list(pos)[: len(LOCATE_KEYS)] == list(LOCATE_KEYS)
        assert pos["road_code"] == code
        assert pos["road_class"] == net.routes[code].road_class
        assert pos["chainage_m"] == pytest.approx(chainage, abs=1.0)
        assert pos["stake"] == format_stake(chainage)
        assert pos["side"] == side
        assert pos["offset_m"] == pytest.approx(offset, abs=0.2)
        assert pos["zone"] == zone
        assert pos["in_control_zone"] is in_zone
        assert pos["control_zone_m"] == zone_m
        assert pos["half_road_land_m"] == half
        assert ("第四十六条" if zone == "road_land" else "第十一条") in pos["legal_basis"]
        assert pos["zone_road_code"] == code


def test_locate_far_from_any_road_and_max_distance(store, run_patrol_many, net):
    lon, lat = offset_point(net, "X002", 5000.0, 150.0, "right")  # no other road within 200 m

    default, wider = run_patrol_many(
        [
            ["locate", repr(lon), repr(lat), "--json"],
            ["locate", repr(lon), repr(lat), "--json", "--max-distance", "200"],
        ],
        store.env,
    )

    # no road within the default 100 m: exit 2, a message on stderr, nothing on stdout
    assert default.returncode == 2
    assert default.stdout == ""
    assert default.stderr.strip() == t("error.no_road_in_reach", lon=lon, lat=lat, max_distance="100")
    pos = as_json(wider)
    assert pos["road_code"] == "X002"
    assert pos["stake"] == "K5+000"
    assert pos["side"] == "right"
    assert pos["offset_m"] == pytest.approx(150.0, abs=0.2)
    assert pos["zone"] == "outside"
    assert pos["in_control_zone"] is False


def test_locate_batch(store, run_patrol, net, tmp_path):
    a = offset_point(net, "X002", 5000.0, 15.0, "left")
    b = offset_point(net, "Y005", 2000.0, 3.0, "right")
    src = write_csv(
        tmp_path / "points.csv",
        [
            ["编号", "经度", "纬度"],
            ["P1", repr(a[0]), repr(a[1])],
            ["P2", *map(str, FAR_POINT)],
            ["P3", repr(b[0]), repr(b[1])],
            ["P4", "abc", ""],
        ],
    )
    out = tmp_path / "located.csv"

    p = run_patrol(["locate", "--batch", src, "--out", out], store.env)

    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == t("cli.batch_done", found=2, total=4, out=str(out))
    df = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(df["编号"]) == ["P1", "P2", "P3", "P4"]  # input columns and order kept
    assert list(df["road_code"]) == ["X002", "", "Y005", ""]
    assert list(df["stake"]) == ["K5+000", "", "K2+000", ""]
    assert list(df["side"]) == ["left", "", "right", ""]
    assert float(df["offset_m"][0]) == pytest.approx(15.0, abs=0.2)
    assert float(df["offset_m"][2]) == pytest.approx(3.0, abs=0.2)
    assert list(df["zone"]) == ["control_zone", "", "road_land", ""]
    assert [float(df["control_zone_m"][i]) for i in (0, 2)] == [10.0, 5.0]
    with out.open(encoding="utf-8-sig", newline="") as f:  # plain csv reads it too
        rows = list(csv.DictReader(f))
    assert [r["road_code"] for r in rows] == ["X002", "", "Y005", ""]


def test_locate_batch_in_chunks_and_worker_processes(store, net, tmp_path, monkeypatch, capsys):
    """A batch larger than a chunk, located in two forked workers, gives the very file one process writes:
    rows in order, bad rows kept, the count of rows on a road right."""
    import patrol_app.cli as cli_module

    rng = np.random.default_rng(4)
    rows = [["编号", "lon", "lat"]]
    for i in range(45):
        if i % 9 == 4:
            rows.append([f"P{i}", "abc", ""])
        elif i % 9 == 7:
            rows.append([f"P{i}", *map(str, FAR_POINT)])
        else:
            code = ("X001", "X002", "Y005")[i % 3]
            lon, lat = offset_point(
                net, code, float(rng.uniform(200, 2000)), float(rng.uniform(1, 30)), "left"
            )
            rows.append([f"P{i}", repr(lon), repr(lat)])
    src = write_csv(tmp_path / "points.csv", rows)
    monkeypatch.setattr(cli_module, "BATCH_CHUNK", 10)
    outs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"located-{jobs}.csv"
        assert cli_module.main(["locate", "--batch", str(src), "--out", str(out), "--jobs", jobs]) == 0
        assert capsys.readouterr().out.strip() == t("cli.batch_done", found=35, total=45, out=str(out))
        outs[jobs] = out.read_bytes()
    assert outs["1"] == outs["2"]
    df = pd.read_csv(tmp_path / "located-2.csv", encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(df["编号"]) == [f"P{i}" for i in range(45)]
    assert (df["road_code"] != "").sum() == 35
    assert not list(tmp_path.glob(".*.part"))  # the result replaced its temporary file


# --- stake -----------------------------------------------------------------------------------------


def test_stake_then_locate_round_trip(store, run_patrol):
    pt = as_json(run_patrol(["stake", "X001", "K3+250", "--json"], store.env))
    assert set(pt) == {"lon", "lat"}

    pos = as_json(run_patrol(["locate", str(pt["lon"]), str(pt["lat"]), "--json"], store.env))

    assert pos["road_code"] == "X001"
    assert pos["stake"] == "K3+250"
    assert pos["offset_m"] <= 0.1
    assert pos["zone"] == "road_land"


STAKE_ERRORS = [
    ("X001", "K3+1250", "error.stake_format", {"text": "K3+1250"}),
    ("X001", "abc", "error.stake_format", {"text": "abc"}),
    (
        "X001",
        "K30+000",
        "error.stake_out_of_range",
        {"code": "X001", "stake": "K30+000", "start": "K0+000", "end": "K24+023"},
    ),
]


def test_stake_errors(store, run_patrol_many, net):
    assert net.routes["X001"].end_stake == "K24+023"

    procs = run_patrol_many([["stake", road, stake, "--json"] for road, stake, *_ in STAKE_ERRORS], store.env)

    for (road, stake, key, params), p in zip(STAKE_ERRORS, procs):
        assert p.returncode != 0, (road, stake)
        assert p.stdout == ""
        assert p.stderr.strip() == t(key, **params)


# --- import ----------------------------------------------------------------------------------------


def test_import_dry_run_then_import_then_duplicate_refused(store, run_patrol, tmp_path):
    path = write_csv(tmp_path / "巡查台账.csv", [PATROL_HEADER, *GOOD_PATROLS])
    before = store.counts()

    p = run_patrol(["import", path, "--dry-run"], store.env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == t("cli.dry_run_ok", patrols=2, incidents=0)
    assert store.counts() == before  # nothing written, not even an audit entry

    p = run_patrol(["import", path, "--json"], store.env)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert (res["ok"], res["dry_run"], res["patrols"], res["incidents"], res["batch_id"]) == (
        True,
        False,
        2,
        0,
        1,
    )
    assert res["errors"] == []
    after = store.counts()
    assert after["patrols"] == before["patrols"] + 2
    assert after["patrol_roads"] == before["patrol_roads"] + 3
    assert after["import_batches"] == before["import_batches"] + 1
    assert (
        after["audit_log"] == before["audit_log"] + 1 + 2
    )  # the import, and the state of each patrol it wrote
    con = sqlite3.connect(store.db_path)
    sums = con.execute(
        "SELECT sum(vehicles), sum(personnel) FROM patrols WHERE import_batch_id = 1"
    ).fetchone()
    con.close()
    assert sums == (5, 11)

    p = run_patrol(["import", path], store.env)
    assert p.returncode == 1
    assert "巡查台账.csv" in p.stderr and "批次 1" in p.stderr and "未重复导入" in p.stderr
    assert store.counts() == after


def test_import_bad_ledger_lists_every_problem_and_writes_nothing(store, run_patrol, tmp_path):
    path = write_csv(
        tmp_path / "bad.csv",
        [
            PATROL_HEADER,
            GOOD_PATROLS[0],
            ["2025-03-07", "-1", "5", "12", "X003", "", "", ""],  # row 3: negative count
            ["2025-03-08", "2", "1", "12", "X004", "", "", ""],  # row 4: one person
            ["2025-03-09", "2", "4", "12", "X404", "", "", ""],  # row 5: unknown road
        ],
    )
    before = store.counts()

    p = run_patrol(["import", path], store.env)

    assert p.returncode == 1
    lines = p.stderr.strip().splitlines()
    assert lines[0] == t("cli.import_failed", count=2)
    assert [line.strip() for line in lines[1:]] == [  # row 4 (one person) is not an error: it is flagged
        "第3行 「出动车辆(台次)」列: " + t("error.negative", value="-1"),
        "第5行 「巡查路线」列: " + t("error.unknown_road", code="X404"),
    ]
    assert store.counts() == before


# --- demo ------------------------------------------------------------------------------------------


def test_demo_refused_on_a_non_empty_store(store, run_patrol):
    before = store.counts()

    p = run_patrol(["demo"], store.env)

    assert p.returncode == 1
    assert p.stderr.strip() == t("cli.demo_exists")
    assert store.counts() == before


# --- audit verify ----------------------------------------------------------------------------------


def test_audit_verify_then_tampered_entry_is_named(store, run_patrol):
    entries = store.counts(["audit_log"])["audit_log"]
    assert entries >= 2

    p = run_patrol(["audit", "verify"], store.env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == t("cli.audit_ok", entries=entries)

    con = tamper(store.db_path)
    (after,) = con.execute('SELECT "after" FROM audit_log WHERE id = 2').fetchone()
    doc = json.loads(after)
    doc["patrols"] = doc.get("patrols", 0) + 1  # someone "corrects" the demo summary afterwards
    con.execute('UPDATE audit_log SET "after" = ? WHERE id = 2', (json.dumps(doc, ensure_ascii=False),))
    con.commit()
    con.close()

    p = run_patrol(["audit", "verify"], store.env)

    assert p.returncode == 1
    assert p.stderr.strip() == t("cli.audit_broken", id=2, reason=t("admin.audit_reason.altered"))


# --- language --------------------------------------------------------------------------------------


def test_lang_en_flag_and_env(store, run_patrol_many, net, tmp_path):
    lon, lat = offset_point(net, "X002", 5000.0, 15.0, "left")
    path = write_csv(
        tmp_path / "one_officer.csv", [PATROL_HEADER, ["2025-03-08", "2", "1", "12", "X004", "", "", ""]]
    )

    stake, imported = run_patrol_many(
        [
            ["--lang", "en", "stake", "X001", "K3+1250"],
            ["--lang", "en", "import", path],
        ],
        store.env,
    )
    (located,) = run_patrol_many([["locate", repr(lon), repr(lat)]], {**store.env, "PATROL_LANG": "en"})

    assert stake.returncode == 1
    assert stake.stderr.strip() == "malformed stake 'K3+1250': expected e.g. K3+250"
    assert imported.returncode == 0, imported.stderr  # one person on a patrol: kept and flagged, not refused
    lines = imported.stdout.strip().splitlines()
    assert lines[1].startswith("1 patrols have fewer than two personnel")
    assert lines[2].strip() == (
        "row 2 column '出动人员(人次)': 1 personnel, fewer than two (the bureau's practice is "
        "at least two): flagged"
    )
    assert "art. 42" not in imported.stdout
    assert located.returncode == 0, located.stderr
    out = located.stdout.strip()
    assert out.startswith("X002 麒麟—茨营公路 K5+000 left")
    assert "15.0 m from centreline" in out
    assert "inside the building control zone" in out
    assert "county road control zone at least 10 m" in out
