"""Data exports read back: every geo format by geopandas with the same rows and coordinates, KML/KMZ included;
CSV with a BOM and ledger headers (re-importable); XLSX by openpyxl; filters; masking by role."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import MultiLineString

from patrol_app.io import export_writers, exports
from patrol_app.io.exports import ExportFilter, export, mask_name, mask_phone, mask_text
from patrol_app.services.errors import PermissionDenied
from patrol_app.storage.db import read_session, session_scope
from tests.reports.conftest import Y, add_incidents, user

GEO = ["geojson", "gpkg", "kml", "kmz", "shp"]
DEMO_YEAR = dt.date.today().year - 1


def run_export(username: str, kind: str, fmt: str, out: Path, flt: ExportFilter, lang: str = "zh"):  # type: ignore[no-untyped-def]
    with read_session() as s:
        return export(s, user(s, username), kind, fmt, out, flt, lang)


def db_incidents(flt: ExportFilter) -> dict[int, tuple[float, float, str, str]]:
    from sqlalchemy import select

    from patrol_app.storage.models import Incident

    with read_session() as s:
        stmt = exports._incident_where(
            select(Incident.id, Incident.lon, Incident.lat, Incident.party, Incident.party_phone), flt
        )
        return {r[0]: tuple(r[1:]) for r in s.execute(stmt)}


def read_geo(path: Path, fmt: str) -> gpd.GeoDataFrame:
    g = gpd.read_file(path)
    id_col = "record_id" if fmt in ("kml", "kmz") else "id"
    g["rid"] = g[id_col].astype(int)
    return g.set_index("rid").sort_index()


@pytest.mark.parametrize("fmt", GEO)
def test_incidents_read_back_with_the_same_rows_and_coordinates(store, tmp_path, fmt):
    flt = ExportFilter.year(DEMO_YEAR)
    want = db_incidents(flt)
    res = run_export("reviewer", "incidents", fmt, tmp_path / f"incidents{exports.SUFFIX[fmt]}", flt)
    assert res.rows == len(want) > 100 and not res.masked
    g = read_geo(res.path, fmt)
    assert list(g.index) == sorted(want)
    assert set(g.geometry.geom_type) == {"Point"}
    lon = np.array([want[i][0] for i in g.index])
    lat = np.array([want[i][1] for i in g.index])
    np.testing.assert_allclose(g.geometry.x.to_numpy(), lon, rtol=0, atol=1e-9)
    np.testing.assert_allclose(g.geometry.y.to_numpy(), lat, rtol=0, atol=1e-9)
    assert list(g["party"]) == [want[i][2] for i in g.index]  # a reviewer sees the names
    assert set(g["type"]) <= {
        "materials",
        "stall",
        "dumping",
        "digging",
        "building",
        "trees",
        "over_limit",
        "other",
    }
    if fmt not in ("kml", "kmz"):
        assert g.crs.to_epsg() == 4326


@pytest.mark.parametrize("fmt", GEO)
def test_patrols_are_the_lines_of_their_roads(store, tmp_path, fmt):
    from sqlalchemy import select

    from patrol_app.storage.models import Patrol, PatrolRoad

    flt = ExportFilter.year(DEMO_YEAR)
    net = store.network()
    with read_session() as s:
        ids = s.execute(exports._patrol_where(select(Patrol.id), flt)).scalars().all()
        roads: dict[int, list[str]] = {}
        for pid, code in s.execute(
            select(PatrolRoad.patrol_id, PatrolRoad.road_code)
            .where(PatrolRoad.patrol_id.in_(ids))
            .order_by(PatrolRoad.seq)
        ):
            roads.setdefault(pid, []).append(code)
    res = run_export("manager", "patrols", fmt, tmp_path / f"patrols{exports.SUFFIX[fmt]}", flt)
    g = read_geo(res.path, fmt)
    assert list(g.index) == sorted(ids)
    for pid in list(g.index)[:25]:
        want = MultiLineString([ln for c in roads[pid] for ln in net.route_geometry_wgs84(c).geoms])
        got = g.geometry.loc[pid]
        assert got.length == pytest.approx(want.length, rel=1e-9)
        assert np.allclose(got.bounds, want.bounds, atol=1e-9)
        assert g.loc[pid, "roads"] == ",".join(roads[pid])


def test_csv_has_a_bom_ledger_headers_and_imports_back(store, tmp_path):
    from patrol_app.services.records import import_ledger

    flt = ExportFilter.year(DEMO_YEAR)
    res = run_export("reviewer", "incidents", "csv", tmp_path / "问题.csv", flt)
    raw = res.path.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0][:6] == ["编号", "发现时间", "违法类型", "路线编号", "桩号", "侧别"]
    assert len(rows) == 1 + res.rows
    first = dict(zip(rows[0], rows[1]))
    assert first["状态"] in ("已办结", "未办结") and first["侧别"] in ("左侧", "右侧")
    assert len(first["发现时间"]) == 16  # 2025-01-04 09:43

    pres = run_export("reviewer", "patrols", "csv", tmp_path / "巡查.csv", flt)
    with session_scope() as s:  # the bureau can read its own export back as a ledger
        a = import_ledger(s, user(s, "admin"), res.path, dry_run=True)
        b = import_ledger(s, user(s, "admin"), pres.path, dry_run=True)
    assert a.ok and a.incidents == res.rows, [e.render("en") for e in a.errors[:3]]
    assert b.ok and b.patrols == pres.rows, [e.render("en") for e in b.errors[:3]]


def test_xlsx_export(store, tmp_path):
    import openpyxl

    flt = ExportFilter.year(DEMO_YEAR)
    res = run_export("leader", "incidents", "xlsx", tmp_path / "i.xlsx", flt)
    ws = openpyxl.load_workbook(res.path, read_only=True)["问题"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:3] == ("编号", "发现时间", "违法类型")
    assert len(rows) == 1 + res.rows
    assert isinstance(rows[1][1], dt.datetime) and rows[1][1].year == DEMO_YEAR
    assert sorted(r[0] for r in rows[1:]) == sorted(db_incidents(flt))

    res = run_export("leader", "patrols", "xlsx", tmp_path / "p.xlsx", flt, lang="en")
    ws = openpyxl.load_workbook(res.path, read_only=True)["patrols"]
    head = next(ws.iter_rows(values_only=True))
    assert head[:5] == ("ID", "date", "start", "end", "roads")


@pytest.mark.parametrize(
    "raw, masked",
    [("王某某", "王**"), ("欧阳娜娜", "欧***"), ("李", "*"), ("", ""), (None, "")],
)
def test_mask_name(raw, masked):
    assert mask_name(raw) == masked


@pytest.mark.parametrize(
    "raw, masked",
    [("13812345678", "138****5678"), ("0874-3123456", "087*****3456"), ("12345", "***45"), ("", "")],
)
def test_mask_phone(raw, masked):
    assert mask_phone(raw) == masked


def test_mask_text():
    assert (
        mask_text("当事人王某某（13812345678）在路肩堆放砂石", "王某某")
        == "当事人王**（138****5678）在路肩堆放砂石"
    )


@pytest.mark.parametrize("username, sees", [("reviewer", True), ("leader", True), ("manager", False)])
def test_parties_masked_unless_the_role_may_see_them(hand_built, tmp_path, username, sees):
    with session_scope() as s:
        add_incidents(
            s,
            [
                {
                    "found_at": dt.datetime(Y, 5, 5, 10, 0),
                    "party": "赵某某",
                    "party_phone": "13912345678",
                    "description": "赵某某（电话13912345678）占道堆放",
                }
            ],
        )
    flt = ExportFilter(dt.date(Y, 5, 5), dt.date(Y, 5, 5))
    res = run_export(username, "incidents", "geojson", tmp_path / "i.geojson", flt)
    g = gpd.read_file(res.path)
    assert res.masked is not sees
    if sees:
        assert (g.party[0], g.phone[0], g.descr[0]) == (
            "赵某某",
            "13912345678",
            "赵某某（电话13912345678）占道堆放",
        )
    else:
        assert (g.party[0], g.phone[0], g.descr[0]) == (
            "赵**",
            "139****5678",
            "赵**（电话139****5678）占道堆放",
        )
    res = run_export(username, "incidents", "csv", tmp_path / "i.csv", flt)
    text = res.path.read_text(encoding="utf-8-sig")
    assert ("13912345678" in text) is sees and ("赵某某" in text) is sees


def test_an_officer_may_not_export(store, tmp_path):
    out = tmp_path / "out"  # tmp_path holds the store
    with pytest.raises(PermissionDenied):
        run_export("officer", "incidents", "csv", out / "i.csv", ExportFilter())
    assert not out.exists()


def test_filters(hand_built, tmp_path):
    def n(kind: str, **kw) -> int:  # type: ignore[no-untyped-def]
        return run_export("manager", kind, "csv", tmp_path / f"{kind}.csv", ExportFilter.year(Y, **kw)).rows

    assert n("incidents") == 10
    assert n("incidents", roads=("X002",)) == 4
    assert n("incidents", types=("stall",)) == 2
    assert n("incidents", status="open") == 2
    assert n("incidents", towns=("东山镇",)) == 3
    assert n("incidents", roads=("X001", "Y002"), status="closed") == 5
    assert n("patrols") == 4
    assert n("patrols", roads=("X001",)) == 2
    assert (
        run_export(
            "manager",
            "incidents",
            "csv",
            tmp_path / "d.csv",
            ExportFilter(dt.date(Y, 12, 31), dt.date(Y, 12, 31)),
        ).rows
        == 3
    )


@pytest.mark.parametrize("fmt", exports.FORMATS)
def test_an_empty_export_is_a_valid_empty_file(store, tmp_path, fmt):
    res = run_export(
        "manager", "incidents", fmt, tmp_path / f"none{exports.SUFFIX[fmt]}", ExportFilter.year(1999)
    )
    assert res.rows == 0 and res.path.exists()
    if fmt in GEO:
        assert len(gpd.read_file(res.path)) == 0
    elif fmt == "csv":
        assert len(res.path.read_text(encoding="utf-8-sig").splitlines()) == 1


def test_a_failed_export_leaves_nothing(store, tmp_path, monkeypatch):
    def boom(self, path, *a, **k):  # type: ignore[no-untyped-def]
        path.write_text('{"type":"FeatureCollection","features":[')  # half written
        raise RuntimeError("disk full")

    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setattr(export_writers.Writer, "geojson", boom)
    with pytest.raises(RuntimeError):
        run_export("manager", "incidents", "geojson", out / "i.geojson", ExportFilter())
    assert not list(out.iterdir())


def test_shapefile_gets_a_zip_suffix_and_download_names(store, tmp_path):
    res = run_export("manager", "incidents", "shp", tmp_path / "i.shp", ExportFilter.year(DEMO_YEAR))
    assert res.path.name == "i.zip"
    assert exports.file_name("incidents", "shp", ExportFilter.year(2021)) == "问题_2021.zip"
    assert (
        exports.file_name("patrols", "kmz", ExportFilter(dt.date(2021, 3, 1), dt.date(2021, 6, 30)), "en")
        == "patrols_2021-03-01_2021-06-30.kmz"
    )


def test_one_column_table_names_each_column_once_for_people_and_gis():
    """Every export column is one row of ``export_columns.COLS``: a header in both languages for the people's
    files, a unique GIS field name short enough for a Shapefile, and a masking rule for every party column."""
    from patrol_app.i18n import t
    from patrol_app.io.export_columns import COLS

    for kind, cols in COLS.items():
        headers = [c.header for c in cols if c.header]
        fields = [c.field for c in cols if c.field]
        assert len(set(headers)) == len(headers) and len(set(fields)) == len(fields), kind
        assert all(len(f) <= 10 for f in fields), kind
        for h in headers:
            assert t("export.col." + h, "zh") != t("export.col." + h, "en"), h
    masked = {c.source for c in COLS["incidents"] if c.mask}
    assert masked == {"party", "party_phone", "description"}
