"""Workbooks around a ledger import: the blank template a bureau fills in, and the workbook of bad rows to fix and
upload again. No Streamlit here.

The template's headers and sheet names are Chinese whatever the language (they are the ledger format the reader
recognises); its notes come from the catalogs.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from patrol_app.domain.catalog import CATALOG
from patrol_app.domain.rules import MEASURES
from patrol_app.i18n import t
from patrol_app.io.ledger import EXAMPLE_MARK, read_ledger
from patrol_app.services.errors import FieldError

PATROL_SHEET = "巡查台账"
INCIDENT_SHEET = "问题台账"
LISTS_SHEET = "可选值"
NOTES_SHEET = "填写说明"

PATROL_HEADERS = (
    "巡查日期",
    "开始时间",
    "结束时间",
    "巡查路线",
    "出动车辆(台次)",
    "出动人员(人次)",
    "巡查里程(公里)",
    "巡查人员",
    "联合单位",
    "天气",
    "备注",
)
INCIDENT_HEADERS = (
    "发现时间",
    "违法类型",
    "路线编号",
    "桩号",
    "侧别",
    "经度",
    "纬度",
    "问题描述",
    "当事人",
    "联系电话",
    "处理措施",
    "整改期限",
    "办结情况",
    "办结日期",
)
STATUS_CHOICES = ("办理中", "已办结")
SIDE_CHOICES = ("左侧", "右侧")
MEASURE_CHOICES = {
    "persuasion": "现场劝导",
    "order_correct": "责令限期改正",
    "case": "立案查处",
    "transfer": "移交其他部门",
}
#: Rows of the template that carry drop-downs.
TEMPLATE_ROWS = 2000
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

BAD_FILL = "#FFC7CE"
BAD_FONT = "#9C0006"
#: Cells with a comment (the reason) in the workbook of bad rows; beyond, the reason column alone.
MAX_COMMENTS = 2000


def _col(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def template_xlsx(road_codes: Sequence[str], lang: str = "zh", today: dt.date | None = None) -> bytes:
    """The ledger template: a sheet of patrols and one of incidents with Chinese headers, drop-downs (type,
    status, side, measure, this county's road codes), one example row each (marked 示例: not imported), notes."""
    import xlsxwriter

    assert tuple(MEASURE_CHOICES) == MEASURES
    today = today or dt.date.today()
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    head = wb.add_format(
        {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"}
    )
    example = wb.add_format({"italic": True, "font_color": "#7F7F7F"})
    example_date = wb.add_format({"italic": True, "font_color": "#7F7F7F", "num_format": "yyyy-mm-dd"})
    example_dt = wb.add_format({"italic": True, "font_color": "#7F7F7F", "num_format": "yyyy-mm-dd hh:mm"})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    text_fmt = wb.add_format({"num_format": "@"})

    lists = {
        "type": [v.name_zh for v in CATALOG],
        "status": list(STATUS_CHOICES),
        "side": list(SIDE_CHOICES),
        "measure": list(MEASURE_CHOICES.values()),
        "road": list(road_codes) or [""],
    }
    titles = {
        "type": "可选违法类型",
        "status": "可选办结情况",
        "side": "可选侧别",
        "measure": "可选处理措施",
        "road": "可选路线",
    }
    ref: dict[str, str] = {}

    ws_p = wb.add_worksheet(PATROL_SHEET)
    ws_i = wb.add_worksheet(INCIDENT_SHEET)
    ws_l = wb.add_worksheet(LISTS_SHEET)
    ws_n = wb.add_worksheet(NOTES_SHEET)
    for j, (k, values) in enumerate(lists.items()):
        ws_l.write(0, j, titles[k], head)
        for i, v in enumerate(values, start=1):
            ws_l.write_string(i, j, v)
        ws_l.set_column(j, j, 28 if k == "type" else 14)
        ref[k] = f"='{LISTS_SHEET}'!${_col(j)}$2:${_col(j)}${len(values) + 1}"

    def drop(ws: Any, col: int, key: str, strict: bool = True) -> None:
        ws.data_validation(
            1,
            col,
            TEMPLATE_ROWS,
            col,
            {
                "validate": "list",
                "source": ref[key],
                "ignore_blank": True,
                "error_type": "stop" if strict else "information",
                "error_title": t("imports.template.invalid_title", lang),
                "error_message": t("imports.template.invalid_" + key, lang),
                "input_title": titles[key],
                "input_message": t("imports.template.input_" + key, lang),
            },
        )

    # patrols
    for j, h in enumerate(PATROL_HEADERS):
        ws_p.write(0, j, h, head)
    ws_p.set_row(0, 30)
    ws_p.set_column(0, 0, 12, date_fmt)
    ws_p.set_column(1, 2, 9, text_fmt)
    ws_p.set_column(3, 3, 16)
    ws_p.set_column(4, 6, 11)
    ws_p.set_column(7, 10, 16)
    ws_p.freeze_panes(1, 0)
    day = today - dt.timedelta(days=1)
    first = road_codes[0] if road_codes else "X001"
    ex_p = [day, "08:30", "11:45", first, 1, 2, 36.5, "张三、李四", "", "晴", EXAMPLE_MARK]
    for j, cell in enumerate(ex_p):
        if isinstance(cell, dt.date):
            ws_p.write_datetime(1, j, dt.datetime.combine(cell, dt.time()), example_date)
        else:
            ws_p.write(1, j, cell, example)
    drop(ws_p, 3, "road", strict=False)  # several roads may be written: 、-separated
    ws_p.data_validation(
        1,
        4,
        TEMPLATE_ROWS,
        5,
        {
            "validate": "integer",
            "criteria": ">=",
            "value": 0,
            "error_message": t("imports.template.invalid_count", lang),
        },
    )
    ws_p.data_validation(
        1,
        0,
        TEMPLATE_ROWS,
        0,
        {
            "validate": "date",
            "criteria": "<=",
            "value": dt.datetime(2100, 1, 1),
            "error_type": "information",
            "error_message": t("imports.template.invalid_date", lang),
        },
    )

    # incidents
    for j, h in enumerate(INCIDENT_HEADERS):
        ws_i.write(0, j, h, head)
    ws_i.set_row(0, 30)
    ws_i.set_column(0, 0, 16, wb.add_format({"num_format": "yyyy-mm-dd hh:mm"}))
    ws_i.set_column(1, 1, 26)
    ws_i.set_column(2, 6, 11)
    ws_i.set_column(7, 7, 24)
    ws_i.set_column(8, 10, 14)
    ws_i.set_column(11, 11, 12, date_fmt)
    ws_i.set_column(12, 12, 10)
    ws_i.set_column(13, 13, 12, date_fmt)
    ws_i.freeze_panes(1, 0)
    ex_i = [
        dt.datetime.combine(day, dt.time(9, 40)),
        CATALOG[0].name_zh,
        first,
        "K1+200",
        "右侧",
        "",
        "",
        EXAMPLE_MARK,
        "",
        "",
        MEASURE_CHOICES["persuasion"],
        "",
        STATUS_CHOICES[1],
        "",
    ]
    for j, cell in enumerate(ex_i):
        if isinstance(cell, dt.datetime):
            ws_i.write_datetime(1, j, cell, example_dt)
        else:
            ws_i.write(1, j, cell, example)
    drop(ws_i, 1, "type")
    drop(ws_i, 2, "road")
    drop(ws_i, 4, "side")
    drop(ws_i, 10, "measure")
    drop(ws_i, 12, "status")

    # notes
    ws_n.set_column(0, 0, 110, wb.add_format({"text_wrap": True, "valign": "top"}))
    n = 0
    while True:
        key = f"imports.template.note{n + 1}"
        try:
            line = t(key, lang, example=EXAMPLE_MARK)
        except KeyError:
            break
        ws_n.write_string(n, 0, line)
        n += 1
    ws_l.hide()
    ws_p.activate()
    wb.close()
    return buf.getvalue()


def error_workbook(
    path: str | Path, errors: Sequence[FieldError], lang: str = "zh", name: str | None = None
) -> bytes:
    """The bad rows of a ledger as an XLSX, to fix and upload again: per sheet, the original header and cells of
    every bad row, each bad cell filled red (with the reason as a comment), and a column with every reason of the
    row. Re-read from the uploaded file, so the cells are exactly as they were."""
    import xlsxwriter

    by_sheet: dict[str | None, dict[int, list[FieldError]]] = {}
    for e in errors:
        if e.row is not None:
            by_sheet.setdefault(e.sheet, {}).setdefault(e.row, []).append(e)
    sheets = {sh.name: sh for sh in read_ledger(path, keep_cells=True, name=name)}
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    bad = wb.add_format({"bg_color": BAD_FILL, "font_color": BAD_FONT, "border": 1, "border_color": BAD_FONT})
    bad_dt = wb.add_format(
        {
            "bg_color": BAD_FILL,
            "font_color": BAD_FONT,
            "border": 1,
            "border_color": BAD_FONT,
            "num_format": "yyyy-mm-dd hh:mm",
        }
    )
    plain_dt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    reason_fmt = wb.add_format({"font_color": BAD_FONT, "text_wrap": True})
    comments = 0
    written = False
    for sheet_name, rows in by_sheet.items():
        sh = sheets.get(sheet_name)
        if sh is None:
            continue
        title = (sheet_name or t("imports.errors.sheet", lang))[:31]
        ws = wb.add_worksheet(title)
        header = list(sh.header)
        while header and not header[-1]:
            header.pop()
        index = {h.strip(): j for j, h in enumerate(header) if h}
        for j, h in enumerate(header):
            ws.write_string(0, j, h, head)
        extra = len(header)
        ws.write_string(0, extra, t("imports.errors.col_row", lang), head)
        ws.write_string(0, extra + 1, t("imports.errors.col_reason", lang), head)
        ws.set_column(extra + 1, extra + 1, 60)
        ws.freeze_panes(1, 0)
        cells_of = {r.row: r.cells or [] for r in sh.rows}
        out = 1
        for rownum in sorted(rows):
            errs = rows[rownum]
            cells = cells_of.get(rownum, [])
            marked: dict[int, list[FieldError]] = {}
            for e in errs:
                col = index.get((e.column or "").strip())
                if col is not None:
                    marked.setdefault(col, []).append(e)
            for j in range(max(len(header), len(cells))):
                v = cells[j] if j < len(cells) else ""
                fmt = bad if j in marked else None
                if isinstance(v, (dt.datetime, dt.date)):
                    d = v if isinstance(v, dt.datetime) else dt.datetime.combine(v, dt.time())
                    ws.write_datetime(out, j, d, bad_dt if j in marked else plain_dt)
                elif isinstance(v, dt.time):
                    ws.write_string(out, j, v.strftime("%H:%M"), fmt)
                elif isinstance(v, bool):
                    ws.write_boolean(out, j, v, fmt)
                elif isinstance(v, (int, float)):
                    ws.write_number(out, j, v, fmt)
                else:
                    ws.write_string(out, j, "" if v is None else str(v), fmt)
                if j in marked and comments < MAX_COMMENTS:
                    ws.write_comment(out, j, "；".join(t(e.key, lang, **e.params) for e in marked[j]))
                    comments += 1
            ws.write_number(out, extra, rownum)
            ws.write_string(out, extra + 1, "；".join(e.render(lang) for e in errs), reason_fmt)
            out += 1
        written = True
    if not written:
        wb.add_worksheet(t("imports.errors.sheet", lang))
    wb.close()
    return buf.getvalue()
