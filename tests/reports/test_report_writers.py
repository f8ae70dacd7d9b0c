"""The Word, Excel and Markdown reports read back: figures present, Chinese fonts set explicitly, a map picture."""

from __future__ import annotations

import io

import pytest

from patrol_app.reports.report import build_report
from patrol_app.reports.rollup import Period
from patrol_app.reports.writers import render, to_markdown
from patrol_app.storage.db import read_session
from tests.reports.conftest import Y, user


@pytest.fixture
def report(hand_built):  # type: ignore[no-untyped-def]
    with read_session() as s:
        return build_report(s, user(s, "manager"), Period.year(Y))


def _docx(report):  # type: ignore[no-untyped-def]
    with read_session() as s:
        return render(report, "docx", "zh", session=s)


def east_asia(rpr_owner) -> str | None:  # type: ignore[no-untyped-def]
    from docx.oxml.ns import qn

    rpr = rpr_owner.rPr
    if rpr is None or rpr.rFonts is None:
        return None
    return rpr.rFonts.get(qn("w:eastAsia"))


def test_docx_has_title_narrative_tables_fonts_and_map(report):
    from docx import Document
    from docx.shared import Mm

    doc = Document(io.BytesIO(_docx(report)))
    paras = [p for p in doc.paragraphs if p.text.strip()]
    assert paras[0].text == f"{Y}年路政巡查工作情况报告"
    assert paras[0].runs[0].font.size.pt == 22 and east_asia(paras[0].runs[0]._element) == "方正小标宋简体"
    assert paras[1].text == "一、总体情况" and paras[1].style.name == "Heading 1"
    assert paras[2].text.startswith(f"{Y}年共出动车辆8台次，出动人员17人次")
    assert any(p.text == "（一）主要指标" and p.style.name == "Heading 2" for p in paras)
    assert paras[-2].text == "曲靖市麒麟区交通运输局" and paras[-1].text.endswith("日")

    # fonts: set explicitly on the styles and on every run that holds text
    assert east_asia(doc.styles["Normal"].element) == "仿宋"
    assert east_asia(doc.styles["Heading 1"].element) == "黑体"
    assert east_asia(doc.styles["Heading 2"].element) == "楷体"
    assert doc.styles["Normal"].font.size.pt == 16
    runs = [r for p in doc.paragraphs for r in p.runs if r.text.strip()]
    runs += [
        r for tb in doc.tables for row in tb.rows for c in row.cells for p in c.paragraphs for r in p.runs
    ]
    assert runs and all(east_asia(r._element) in ("仿宋", "黑体", "楷体", "方正小标宋简体") for r in runs)
    body = [r for p in paras[2:4] for r in p.runs]
    assert {east_asia(r._element) for r in body} == {"仿宋"}

    # the figures, exact, in the tables
    summary = doc.tables[0]
    cells = {row.cells[0].text: [c.text for c in row.cells[1:]] for row in summary.rows}
    assert cells["巡查次数"][:3] == ["4", "2", "+2"]
    assert cells["出动车辆（台次）"][:2] == ["8", "5"]
    assert cells["出动人员（人次）"][:2] == ["17", "11"]
    assert cells["发现问题（起）"][:2] == ["10", "4"]
    assert cells["办结率"][0] == "80.0%"
    by_type = {row.cells[0].text: row.cells[1].text for row in doc.tables[1].rows}
    assert by_type["堆放物品"] == "4" and by_type["合计"] == "10"
    assert len(doc.tables) == 7

    # the incident map, rendered on the server
    assert len(doc.inline_shapes) == 1
    blob = doc.inline_shapes[0]._inline.graphic.graphicData.pic.blipFill.blip.embed
    assert doc.part.related_parts[blob].content_type == "image/png"
    sec = doc.sections[0]
    assert (round(sec.top_margin / Mm(1)), round(sec.left_margin / Mm(1))) == (37, 28)


def test_map_figure_is_a_png_with_the_incidents_drawn_by_type(report):
    from PIL import Image

    from patrol_app.reports.figure import TYPE_COLORS, report_map_png

    with read_session() as s:
        png = report_map_png(s, report, "zh")
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.size == (1600, 1200)
    colors = {c for _, c in img.convert("RGB").getcolors(1 << 20)}
    assert len(colors) > 20  # boundary, roads, dots and legend text, not a blank image
    assert {TYPE_COLORS[c] for c in ("materials", "stall", "dumping", "over_limit")} <= colors


def test_xlsx_one_sheet_per_table_with_chinese_headers(report):
    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(render(report, "xlsx", "zh")))
    assert wb.sheetnames == [
        "报告正文",
        "主要指标",
        "按违法类型",
        "按路线",
        "按月份",
        "按乡镇（街道）",
        "按处理措施",
        "联合执法",
    ]
    assert wb["报告正文"]["A1"].value == f"{Y}年路政巡查工作情况报告"
    assert wb["报告正文"]["A3"].value.startswith(f"{Y}年共出动车辆8台次")
    summary = {r[0]: r[1:] for r in wb["主要指标"].iter_rows(min_row=2, values_only=True)}
    assert [c.value for c in wb["主要指标"][1]] == ["指标", f"{Y}年", f"{Y - 1}年", "增减", "增减幅度"]
    assert summary["巡查次数"][:3] == (4, 2, 2)
    assert summary["出动人员（人次）"][:2] == (17, 11)
    assert summary["办结率"][0] == pytest.approx(0.8)
    assert wb["主要指标"]["B11"].number_format == "0.0%"
    months = list(wb["按月份"].iter_rows(min_row=2, values_only=True))
    assert months[0][0] == "1月" and months[-1][0] == "合计" and months[-1][1:] == (4, 8, 17, 70.7, 10, 8)
    roads = {r[0]: r for r in wb["按路线"].iter_rows(min_row=2, values_only=True)}
    assert roads["X002"][2:] == ("县道", 1, 4, 3)
    assert [c.value for c in wb["按乡镇（街道）"][1]] == [
        "乡镇（街道）",
        "发现问题（起）",
        "已办结（起）",
        "占比",
    ]


def test_markdown_and_json(report):
    md = to_markdown(report)
    assert md.startswith(f"# {Y}年路政巡查工作情况报告\n\n{Y}年共出动车辆8台次")
    assert "| 巡查次数 | 4 | 2 | +2 | +100.0% |" in md
    assert "## 按月份" in md and "| 合计 | 4 | 8 | 17 | 70.7 | 10 | 8 |" in md
    import json

    data = json.loads(render(report, "json"))
    assert data["incidents_total"] == 10


def test_english_docx(report):
    from docx import Document

    with read_session() as s:
        doc = Document(io.BytesIO(render(report, "docx", "en", session=s)))
    assert doc.paragraphs[0].text == f"Road patrol report, {Y}"
    assert any(p.text == "1. Overview" for p in doc.paragraphs)
