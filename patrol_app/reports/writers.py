"""Report writers: JSON (the stable contract), Markdown, Excel (one sheet per table) and Word.

The Word report follows the bureau's document format (GB/T 9704 as commonly applied, ``FACTS.md`` §7): A4,
margins 37/35/28/26 mm, title 2号 (22 pt) 方正小标宋简体, body 3号 (16 pt) 仿宋 at a fixed 28 pt line pitch,
level-1 headings 黑体, level-2 楷体, the issuing body and date right-aligned at the end. The East Asian font is
set explicitly (``w:eastAsia``) on the styles and on every run, and the theme fonts are removed, or Word would
fall back to a Latin font for Chinese text.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import IO, Any

from patrol_app.i18n import t
from patrol_app.reports.narrative import date_text
from patrol_app.reports.report import (
    Report,
    Table,
    cell_text,
    checkpoint_text,
    notes_text,
    report_json,
    report_tables,
    report_title,
)

FORMATS = ("json", "md", "xlsx", "docx")
MIME = {
    "json": "application/json",
    "md": "text/markdown",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}

# fonts (East Asian face, Latin face)
TITLE_FONT = ("方正小标宋简体", "方正小标宋简体")
BODY_FONT = ("仿宋", "Times New Roman")
H1_FONT = ("黑体", "黑体")
H2_FONT = ("楷体", "楷体")
BODY_PT, TITLE_PT, TABLE_PT, LINE_PT = 16, 22, 12, 28
LEVEL1 = "一二三四五六七八九十"


# --- JSON and Markdown --------------------------------------------------------------------------------


def to_json_text(report: Report) -> str:
    return json.dumps(report_json(report), ensure_ascii=False, indent=2)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report, lang: str = "zh") -> str:
    lines = [f"# {report_title(report, lang)}", ""]
    for para in report.paragraphs(lang):
        lines += [para, ""]
    for table in report_tables(report, lang):
        lines += [f"## {table.title(lang)}", ""]
        lines.append("| " + " | ".join(_md_cell(c) for c in table.columns) + " |")
        numeric = [bool(table.rows) and table.fmt(0, j) != "text" for j in range(len(table.columns))]
        lines.append("|" + "|".join("---:" if num else "---" for num in numeric) + "|")
        for r, row in enumerate(table.rows):
            lines.append(
                "| "
                + " | ".join(_md_cell(cell_text(v, table.fmt(r, j), lang)) for j, v in enumerate(row))
                + " |"
            )
        lines.append("")
    lines += [f"*{notes_text(report, lang)}*", ""]
    cp = checkpoint_text(report, lang)
    if cp:
        lines += [cp, ""]
    lines += [t("report.issuer", lang), date_text(report.generated_at.date(), lang), ""]
    return "\n".join(lines)


# --- Excel ----------------------------------------------------------------------------------------------

_BAD_SHEET_CHARS = str.maketrans({c: "_" for c in "[]:*?/\\"})


def write_xlsx(report: Report, out: str | Path | IO[bytes], lang: str = "zh") -> None:
    """One sheet per table with headers in the report's language, real numbers with number formats; a first sheet
    holds the title, the narrative and the notes."""
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(out) if isinstance(out, Path) else out, {"in_memory": True})
    try:
        title_f = wb.add_format({"bold": True, "font_size": 16, "font_name": "黑体"})
        wrap_f = wb.add_format({"text_wrap": True, "valign": "top", "font_name": "仿宋", "font_size": 12})
        head_f = wb.add_format(
            {
                "bold": True,
                "bg_color": "#DDE4EE",
                "border": 1,
                "text_wrap": True,
                "valign": "vcenter",
                "align": "center",
            }
        )
        fmts = {
            "text": wb.add_format({"border": 1}),
            "int": wb.add_format({"border": 1, "num_format": "0"}),
            "signed_int": wb.add_format({"border": 1, "num_format": "+0;-0;0"}),
            "km": wb.add_format({"border": 1, "num_format": "0.0"}),
            "signed_km": wb.add_format({"border": 1, "num_format": "+0.0;-0.0;0.0"}),
            "pct": wb.add_format({"border": 1, "num_format": "0.0%"}),
            "signed_pct": wb.add_format({"border": 1, "num_format": "+0.0%;-0.0%;0.0%"}),
            "pp": wb.add_format({"border": 1, "num_format": "+0.0%;-0.0%;0.0%"}),
        }
        ws = wb.add_worksheet(_sheet_name(t("report.sheet.report", lang), set()))
        ws.set_column(0, 0, 110)
        ws.write(0, 0, report_title(report, lang), title_f)
        row = 2
        for para in report.paragraphs(lang):
            ws.write(row, 0, para, wrap_f)
            ws.set_row(row, 18 * max(1, len(para) // 55 + 1))
            row += 1
        ws.write(row + 1, 0, notes_text(report, lang), wrap_f)
        used = {ws.name}
        for table in report_tables(report, lang):
            sh = wb.add_worksheet(_sheet_name(table.title(lang), used))
            used.add(sh.name)
            for j, col in enumerate(table.columns):
                sh.write(0, j, col, head_f)
                width = max(
                    [_width(col)]
                    + [_width(cell_text(r[j], table.fmt(i, j), lang)) for i, r in enumerate(table.rows[:200])]
                )
                sh.set_column(j, j, min(60, max(8, width + 2)))
            for i, r in enumerate(table.rows, start=1):
                for j, v in enumerate(r):
                    f = table.fmt(i - 1, j)
                    if v is None:
                        sh.write_blank(i, j, None, fmts["text"])
                    elif f == "text":
                        sh.write_string(i, j, str(v), fmts["text"])
                    else:
                        sh.write_number(i, j, float(v), fmts.get(f, fmts["text"]))
            sh.freeze_panes(1, 1)
    finally:
        wb.close()


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _sheet_name(name: str, used: set[str]) -> str:
    base = name.translate(_BAD_SHEET_CHARS)[:31] or "Sheet"
    out, k = base, 2
    while out in used:
        suffix = f"({k})"
        out, k = base[: 31 - len(suffix)] + suffix, k + 1
    return out


# --- Word -----------------------------------------------------------------------------------------------


def set_fonts(
    rpr_owner: Any, east_asia: str, latin: str, size_pt: float | None = None, bold: bool | None = None
) -> None:
    """Set the fonts of a run's or a style's ``w:rPr`` explicitly (``w:ascii``, ``w:hAnsi``, ``w:eastAsia``), removing
    theme fonts, which would otherwise win."""
    _set_rpr_fonts(rpr_owner.get_or_add_rPr(), east_asia, latin, size_pt, bold)


def _set_rpr_fonts(
    rpr: Any, east_asia: str, latin: str, size_pt: float | None = None, bold: bool | None = None
) -> None:
    from docx.oxml.ns import qn

    fonts = rpr.get_or_add_rFonts()
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attr), None)
    fonts.set(qn("w:ascii"), latin)
    fonts.set(qn("w:hAnsi"), latin)
    fonts.set(qn("w:eastAsia"), east_asia)
    fonts.set(qn("w:cs"), latin)
    if size_pt is not None:
        for tag in ("w:sz", "w:szCs"):
            el = rpr.find(qn(tag))
            if el is None:
                el = rpr.makeelement(qn(tag), {})
                rpr.append(el)
            el.set(qn("w:val"), str(round(size_pt * 2)))
    if bold is not None:
        for tag in ("w:b", "w:bCs"):
            el = rpr.find(qn(tag))
            if el is None:
                el = rpr.makeelement(qn(tag), {})
                rpr.append(el)
            el.set(qn("w:val"), "1" if bold else "0")


def _run(paragraph: Any, text: str, font: tuple[str, str], size: float, bold: bool | None = None) -> Any:
    run = paragraph.add_run(text)
    set_fonts(run._element, font[0], font[1], size, bold)
    return run


def _style_doc(doc: Any) -> None:
    from docx.enum.text import WD_LINE_SPACING
    from docx.shared import Mm, Pt, RGBColor

    sec = doc.sections[0]
    sec.page_width, sec.page_height = Mm(210), Mm(297)
    sec.top_margin, sec.bottom_margin, sec.left_margin, sec.right_margin = Mm(37), Mm(35), Mm(28), Mm(26)
    sec.header_distance, sec.footer_distance = Mm(15), Mm(25)

    from docx.oxml.ns import qn

    defaults = doc.styles.element.find(qn("w:docDefaults"))
    rpr_default = defaults.find(qn("w:rPrDefault")).find(qn("w:rPr")) if defaults is not None else None
    if rpr_default is not None:  # text outside any style (e.g. in table cells) also gets the Chinese font
        _set_rpr_fonts(rpr_default, BODY_FONT[0], BODY_FONT[1])
        lang_el = rpr_default.find(qn("w:lang"))
        if lang_el is not None:
            lang_el.set(qn("w:eastAsia"), "zh-CN")
    normal = doc.styles["Normal"]
    set_fonts(normal.element, BODY_FONT[0], BODY_FONT[1], BODY_PT)
    pf = normal.paragraph_format
    pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    pf.line_spacing = Pt(LINE_PT)
    pf.space_before = pf.space_after = Pt(0)
    for name, font in (("Heading 1", H1_FONT), ("Heading 2", H2_FONT)):
        st = doc.styles[name]
        set_fonts(st.element, font[0], font[1], BODY_PT, bold=False)
        st.font.color.rgb = RGBColor(0, 0, 0)
        st.font.italic = False
        spf = st.paragraph_format
        spf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        spf.line_spacing = Pt(LINE_PT)
        spf.space_before = spf.space_after = Pt(0)
        spf.first_line_indent = Pt(BODY_PT * 2)
        spf.keep_with_next = True
    for name in ("Table Grid",):
        if name in [s.name for s in doc.styles]:
            set_fonts(doc.styles[name].element, BODY_FONT[0], BODY_FONT[1], TABLE_PT)


def _page_number_footer(doc: Any) -> None:
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn

    p = doc.sections[0].footer.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.first_line_indent = 0
    _run(p, "— ", BODY_FONT, 14)
    run = _run(p, "", BODY_FONT, 14)
    for kind, text in (("begin", None), (None, " PAGE "), ("separate", None), (None, "1"), ("end", None)):
        if kind:
            el = run._element.makeelement(qn("w:fldChar"), {qn("w:fldCharType"): kind})
        elif text == " PAGE ":
            el = run._element.makeelement(qn("w:instrText"), {qn("xml:space"): "preserve"})
            el.text = text
        else:
            el = run._element.makeelement(qn("w:t"), {})
            el.text = text
        run._element.append(el)
    _run(p, " —", BODY_FONT, 14)


def _heading(doc: Any, text: str, level: int) -> None:
    p = doc.add_paragraph(style="Heading 1" if level == 1 else "Heading 2")
    _run(p, text, H1_FONT if level == 1 else H2_FONT, BODY_PT, bold=False)


def _body(doc: Any, text: str, indent: bool = True, size: float = BODY_PT) -> Any:
    from docx.shared import Pt

    p = doc.add_paragraph()
    p.paragraph_format.first_line_indent = Pt(size * 2) if indent else Pt(0)
    _run(p, text, BODY_FONT, size)
    return p


def _docx_table(doc: Any, table: Table, lang: str) -> None:
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
    from docx.shared import Pt

    tb = doc.add_table(rows=1 + len(table.rows), cols=len(table.columns))
    tb.style = doc.styles["Table Grid"]
    tb.alignment = WD_TABLE_ALIGNMENT.CENTER
    cells = tb._cells  # one pass over the grid: python-docx's per-cell access is quadratic
    ncol = len(table.columns)

    def fill(cell: Any, text: str, font: tuple[str, str], numeric: bool) -> None:
        p = cell.paragraphs[0]
        pf = p.paragraph_format
        pf.first_line_indent = Pt(0)
        pf.line_spacing_rule = WD_LINE_SPACING.SINGLE
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT if numeric else WD_ALIGN_PARAGRAPH.CENTER
        _run(p, text, font, TABLE_PT)

    for j, col in enumerate(table.columns):
        fill(cells[j], col, H1_FONT, False)
        cells[j].paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.CENTER
    for i, row in enumerate(table.rows):
        for j, v in enumerate(row):
            f = table.fmt(i, j)
            fill(cells[(i + 1) * ncol + j], cell_text(v, f, lang), BODY_FONT, f != "text")
    doc.add_paragraph()


def write_docx(
    report: Report, out: str | Path | IO[bytes], lang: str = "zh", map_png: bytes | None = None
) -> None:
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt

    doc = Document()
    _style_doc(doc)
    _page_number_footer(doc)
    cp = doc.core_properties
    cp.title = report_title(report, lang)
    cp.author = t("report.issuer", lang)
    cp.language = "zh-CN" if lang == "zh" else "en"

    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    title.paragraph_format.first_line_indent = Pt(0)
    title.paragraph_format.line_spacing = Pt(36)
    title.paragraph_format.space_after = Pt(LINE_PT)
    _run(title, report_title(report, lang), TITLE_FONT, TITLE_PT)

    n = 0

    def level1(key: str) -> None:
        nonlocal n
        _heading(doc, t("report.h1", lang, n=LEVEL1[n] if lang == "zh" else str(n + 1), text=t(key, lang)), 1)
        n += 1

    level1("report.section.overview")
    for para in report.paragraphs(lang):
        _body(doc, para)

    level1("report.section.tables")
    for k, table in enumerate(report_tables(report, lang)):
        _heading(
            doc, t("report.h2", lang, n=LEVEL1[k] if lang == "zh" else str(k + 1), text=table.title(lang)), 2
        )
        _docx_table(doc, table, lang)

    if map_png:
        level1("report.section.map")
        p = doc.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.paragraph_format.first_line_indent = Pt(0)
        p.paragraph_format.line_spacing = None  # an exact line pitch would clip the picture
        p.add_run().add_picture(io.BytesIO(map_png), width=Mm(150))
        cap = _body(
            doc, t("report.map.caption", lang, period=report_title(report, lang)), indent=False, size=14
        )
        cap.alignment = WD_ALIGN_PARAGRAPH.CENTER

    level1("report.section.notes")
    _body(doc, notes_text(report, lang))
    cp_text = checkpoint_text(report, lang)
    if cp_text:
        _body(doc, cp_text, size=12)

    doc.add_paragraph()
    for text in (t("report.issuer", lang), date_text(report.generated_at.date(), lang)):
        p = _body(doc, text, indent=False)
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        p.paragraph_format.right_indent = Pt(BODY_PT * 4)
    doc.save(str(out) if isinstance(out, Path) else out)  # python-docx takes a path as text


# --- one entry point for the CLI and the page -------------------------------------------------------------


def render(report: Report, fmt: str, lang: str = "zh", session: Any = None) -> bytes:
    """The report as the bytes of a file in ``fmt`` (json, md, xlsx, docx). The docx map needs ``session``."""
    if fmt == "json":
        return to_json_text(report).encode("utf-8")
    if fmt == "md":
        return to_markdown(report, lang).encode("utf-8")
    buf = io.BytesIO()
    if fmt == "xlsx":
        write_xlsx(report, buf, lang)
    elif fmt == "docx":
        png = None
        if session is not None:
            from patrol_app.reports.figure import report_map_png

            png = report_map_png(session, report, lang)
        write_docx(report, buf, lang, png)
    else:
        raise ValueError(f"unknown report format {fmt!r}")
    return buf.getvalue()
