"""Everything a bureau imports, in Chromium at 1024×768 with the internet cut off: a road network from a zipped
Shapefile with Chinese field names (mapping changed, preview, diff, confirm), a ledger from the downloaded
template (check, import, found on the map), and a ledger with bad rows whose error workbook marks the bad cells."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
import zipfile
from pathlib import Path

import geopandas as gpd
import openpyxl
import pytest

from patrol_app.demo import DEMO_ROADS_FILE
from patrol_app.io.ledger_workbooks import BAD_FILL
from tests.e2e.helpers import choose, open_page, wait_idle
from tests.e2e.test_incident_map import MAP_FRAME, wait_clustered

pytestmark = pytest.mark.e2e
DESK = pytest.mark.parametrize("page", [(1024, 768)], indirect=True, ids=["1024x768"])
CLASS_ZH = {"national": "国道", "provincial": "省道", "county": "县道", "township": "乡道", "village": "村道"}


def road_zip(tmp: Path) -> Path:
    """The demo network plus one new road, with Chinese field names; the code in 编码 (not a recognised name)."""
    feats = json.loads(Path(DEMO_ROADS_FILE).read_text(encoding="utf-8"))["features"]
    rows = [
        {
            "编码": f["properties"]["code"],
            "路线名称": f["properties"]["name"],
            "行政等级": CLASS_ZH[f["properties"]["class"]],
            "起点桩号": f["properties"].get("start_stake") or "",
            "用地半宽": f["properties"].get("half_road_land_m"),
            "geometry": f["geometry"],
        }
        for f in feats
    ]
    rows.append(
        {
            "编码": "X901",
            "路线名称": "测试新建公路",
            "行政等级": "县道",
            "起点桩号": "K0+000",
            "用地半宽": 10.0,
            "geometry": {
                "type": "LineString",
                "coordinates": [[104.10, 25.72], [104.13, 25.73], [104.16, 25.73]],
            },
        }
    )
    from shapely.geometry import shape

    gdf = gpd.GeoDataFrame(
        [{k: v for k, v in r.items() if k != "geometry"} for r in rows],
        geometry=[shape(r["geometry"]) for r in rows],
        crs="EPSG:4326",
    )
    folder = tmp / "shp"
    folder.mkdir()
    gdf.to_file(folder / "县道路网.shp", encoding="GBK", engine="pyogrio")
    out = tmp / "县道路网.zip"
    with zipfile.ZipFile(out, "w") as z:
        for p in folder.iterdir():
            z.write(p, p.name)
    return out


@DESK
def test_road_network_from_a_zipped_shapefile(page, tmp_path):
    path = road_zip(tmp_path)
    open_page(page, "roads", "admin")
    page.get_by_role("tab", name="导入路网").click()
    page.locator("input[type=file]").first.set_input_files(str(path))
    wait_idle(page)
    page.get_by_text("请选择存放路线编号的字段").wait_for(timeout=30_000)  # 编码 is not a recognised name
    choose(page, "路线编号", "编码")
    page.get_by_text(re.compile(r"新增 1 条、变化 0 条、删除 0 条、不变 30 条")).wait_for(timeout=60_000)
    page.locator(MAP_FRAME).first.wait_for(timeout=30_000)
    frame = page.frame_locator(MAP_FRAME).first
    frame.locator(".stake-label").first.wait_for(timeout=30_000)  # a stake label every km
    assert frame.locator(".stake-label").count() > 100
    assert frame.locator("path.leaflet-interactive").count() >= 31
    page.get_by_role("button", name="确认替换路网").click()
    page.get_by_text(re.compile(r"路网已替换：31 条路线")).wait_for(timeout=60_000)
    page.get_by_role("tab", name="路线").click()
    page.get_by_text(re.compile(r"共 31 条路线")).wait_for(timeout=30_000)
    assert not page.offline.blocked


def fill_template(src: Path, out: Path, rows: list[list]) -> Path:
    wb = openpyxl.load_workbook(src)
    ws = wb["问题台账"]
    for i, r in enumerate(rows, start=3):
        for j, v in enumerate(r, start=1):
            ws.cell(i, j, v)
    wb.save(out)
    return out


def download(page, name: str, dest: Path) -> Path:  # type: ignore[no-untyped-def]
    with page.expect_download(timeout=60_000) as d:
        page.get_by_role("button", name=name).click()
    d.value.save_as(dest)
    return dest


def yesterday() -> dt.datetime:
    return dt.datetime.combine(dt.date.today() - dt.timedelta(days=1), dt.time(9, 30))


@DESK
def test_template_filled_checked_imported_and_found_on_the_map(page, tmp_path):
    open_page(page, "imports", "leader")
    template = download(page, "下载台账模板", tmp_path / "template.xlsx")
    tag = uuid.uuid4().hex[:6]
    path = fill_template(
        template,
        tmp_path / f"台账{tag}.xlsx",
        [
            [
                yesterday(),
                "在公路及公路用地范围内堆放物品",
                "X001",
                "K1+200",
                "右侧",
                None,
                None,
                f"浏览器测试一{tag}",
                "",
                None,
                "现场劝导",
                None,
                "办理中",
                None,
            ],
            [
                yesterday(),
                "摆摊设点",
                "X002",
                "K2+400",
                "左侧",
                None,
                None,
                f"浏览器测试二{tag}",
                "",
                None,
                "现场劝导",
                None,
                "已办结",
                yesterday().date(),
            ],
        ],
    )
    page.locator("input[type=file]").first.set_input_files(str(path))
    wait_idle(page)
    page.get_by_role("button", name="检查（不写入）").click()
    page.get_by_text(re.compile("检查通过：0 条巡查记录、2 条问题记录可以导入")).wait_for(timeout=60_000)
    page.get_by_role("button", name="导入 2 条记录").click()
    page.get_by_text(re.compile("已导入 台账.*2 条问题记录")).wait_for(timeout=60_000)
    page.get_by_role("link", name="在问题地图上查看本批次").click()
    page.get_by_text(re.compile(r"只显示导入批次 \d+")).wait_for(timeout=60_000)
    page.get_by_text(re.compile(r"地图上共 2 起问题")).wait_for(timeout=60_000)
    wait_idle(page)
    page.locator(MAP_FRAME).first.scroll_into_view_if_needed()
    inner = page.locator(MAP_FRAME).first.element_handle().content_frame()
    wait_clustered(inner, 2)  # the two rows, drawn on the map
    descriptions = inner.evaluate(
        "() => { const c = window.incidentLayers.clusters, D = window.incidentLayers.data;"
        " return c.getLayers().map(m => { const p = D.popup(m.incidentIndex);"
        " return typeof p === 'string' ? p : p.innerHTML || p.textContent; }); }"
    )
    assert any(f"浏览器测试一{tag}" in d for d in descriptions) and any(
        f"浏览器测试二{tag}" in d for d in descriptions
    )
    assert not page.offline.blocked


@DESK
def test_bad_rows_are_listed_and_the_error_workbook_marks_them(page, tmp_path):
    open_page(page, "imports", "leader")
    template = download(page, "下载台账模板", tmp_path / "template.xlsx")
    tag = uuid.uuid4().hex[:6]
    path = fill_template(
        template,
        tmp_path / f"坏台账{tag}.xlsx",
        [
            [yesterday(), "堆放物品", "X001", "K1+200", "右侧", None, None, f"好{tag}"],
            [yesterday(), "不存在的类型", "X001", "K1+2OO", "右侧", None, None, f"坏{tag}"],
            [yesterday(), "堆放物品", "X999", "K1+200", "右侧", None, None, f"坏二{tag}"],
        ],
    )
    page.locator("input[type=file]").first.set_input_files(str(path))
    wait_idle(page)
    page.get_by_role("button", name="检查（不写入）").click()
    page.get_by_text(re.compile(r"2 行有问题（共 3 处）")).wait_for(timeout=60_000)
    assert page.get_by_role("button", name=re.compile("^导入 ")).count() == 0
    out = download(page, "下载问题行工作簿（问题单元格标红）", tmp_path / "bad.xlsx")
    ws = openpyxl.load_workbook(out)["问题台账"]
    header = [c.value for c in ws[1]]
    assert header[-2:] == ["原行号", "问题说明"] and ws.max_row == 3

    def red(row: int, col: str) -> bool:
        return ws.cell(row, header.index(col) + 1).fill.fgColor.rgb.endswith(BAD_FILL.lstrip("#"))

    assert red(2, "违法类型") and red(2, "桩号") and not red(2, "路线编号")
    assert red(3, "路线编号") and not red(3, "违法类型")
    assert [ws.cell(r, len(header) - 1).value for r in (2, 3)] == [4, 5]
