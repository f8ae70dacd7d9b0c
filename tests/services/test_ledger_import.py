"""Ledger (台账) import: CSV and XLSX as the bureau keeps them, all or nothing.

Most tests call :func:`patrol_app.services.records.import_ledger` in-process against a copy of the demo store;
two go through ``patrol import`` in a subprocess. Good incident points are built with
:func:`gis.linref.offset_point` at known chainages and offsets on demo roads.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import func, select

from gis.linref import offset_point
from gis.stakes import format_stake
from patrol_app.i18n import t
from patrol_app.services import records
from patrol_app.services.errors import ServiceError
from patrol_app.services.records import ImportResult, import_ledger, local_now
from patrol_app.services.users import cli_actor
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import Incident, Patrol

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
#: as typed in Chinese Excel: full-width parentheses, 巡查日期
PATROL_HEADER_FW = [
    "巡查日期",
    "出动车辆（台次）",
    "出动人员（人次）",
    "巡查里程（公里）",
    "巡查路线",
    "巡查人员",
    "联合单位",
    "备注",
]
INCIDENT_HEADER = [
    "发现时间",
    "违法类型",
    "路线编号",
    "桩号",
    "经度",
    "纬度",
    "侧别",
    "问题描述",
    "当事人",
    "处理措施",
    "办结情况",
    "办结日期",
]

Row = list[Any]


def patrol_row(
    date: Any = "2025-03-05",
    vehicles: Any = 2,
    personnel: Any = 4,
    km: Any = 20,
    roads: Any = "X001",
    crew: str = "张建华、李明",
    joint: str = "",
    notes: str = "",
) -> Row:
    return [date, vehicles, personnel, km, roads, crew, joint, notes]


def incident_row(
    found: Any = "2025-03-05 09:30",
    type_: Any = "堆放物品",
    road: Any = "",
    stake: Any = "",
    lon: Any = "",
    lat: Any = "",
    side: Any = "",
    desc: str = "",
    party: str = "",
    measure: str = "",
    status: str = "",
    closed: Any = "",
) -> Row:
    return [found, type_, road, stake, lon, lat, side, desc, party, measure, status, closed]


def write_csv(path: Path, rows: list[Row], encoding: str = "utf-8-sig") -> Path:
    with path.open("w", newline="", encoding=encoding) as f:
        csv.writer(f).writerows([["" if v is None else str(v) for v in r] for r in rows])
    return path


def write_xlsx(path: Path, sheets: dict[str, list[Row]]) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append([None if v == "" else v for v in r])
    wb.save(path)
    return path


def do_import(path: Path, **kw: Any) -> ImportResult:
    with session_scope() as s:
        return import_ledger(s, cli_actor(s), path, **kw)


def tomorrow() -> dt.date:
    return local_now().date() + dt.timedelta(days=1)


def batch_patrols(batch_id: int) -> list[dict[str, Any]]:
    with read_session() as s:
        rows = s.execute(
            select(Patrol).where(Patrol.import_batch_id == batch_id).order_by(Patrol.id)
        ).scalars()
        return [
            {
                "date": p.date,
                "vehicles": p.vehicles,
                "personnel": p.personnel,
                "km": p.km,
                "roads": p.road_codes,
                "crew": p.crew,
                "joint": p.joint,
                "notes": p.notes,
                "source": p.source,
            }
            for p in rows
        ]


def batch_incidents(batch_id: int) -> dict[str, Incident]:
    """The batch's incidents by description (each test row has its own)."""
    with read_session() as s:
        rows = s.execute(select(Incident).where(Incident.import_batch_id == batch_id)).scalars().all()
        s.expunge_all()  # keep the loaded values after the read session ends
    return {i.description: i for i in rows}


def sums(batch_id: int) -> tuple[int, int]:
    with read_session() as s:
        return tuple(
            s.execute(
                select(func.sum(Patrol.vehicles), func.sum(Patrol.personnel)).where(
                    Patrol.import_batch_id == batch_id
                )
            ).one()
        )  # type: ignore[return-value]


@pytest.fixture
def net(store):  # type: ignore[no-untyped-def]
    return store.network()


def errors_of(res: ImportResult) -> list[tuple[str | None, int | None, str, str]]:
    return [(e.sheet, e.row, e.column, e.key) for e in res.errors]


# --- good ledgers ----------------------------------------------------------------------------------


def test_patrol_csv_text_dates_and_road_separators(store, tmp_path):
    rows = [
        patrol_row("2021-03-05", 2, 5, 40.5, "X001、Y002", "张建华、李明、王芳、赵磊、吴刚", "", "晴"),
        patrol_row("2021/3/6", 3, 6, 30, "X002,X003", "张建华、李明", "交警大队", ""),
        patrol_row("2021年3月7日", 1, 2, 12.5, "X004;Y005", "王芳、赵磊"),
        patrol_row("2025-03-08", "2台次", "4人次", "", "X005 Y006", "陈静、刘洋"),
        patrol_row(
            "2025-3-9", 2, 3, "18公里", "x6，X007；Y008", "杨帆、周强、孙丽", "镇人民政府", "联合整治"
        ),
    ]
    path = write_csv(tmp_path / "巡查台账.csv", [PATROL_HEADER, *rows])
    before = store.counts()

    res = do_import(path)

    assert res.ok, [e.render() for e in res.errors]
    assert (res.patrols, res.incidents) == (5, 0)
    after = store.counts()
    assert after["patrols"] == before["patrols"] + 5
    assert after["import_batches"] == before["import_batches"] + 1
    assert (
        after["audit_log"] == before["audit_log"] + 1 + 5
    )  # the import, and the state of each patrol it wrote
    got = batch_patrols(res.batch_id)
    assert [p["date"] for p in got] == [
        dt.date(2021, 3, 5),
        dt.date(2021, 3, 6),
        dt.date(2021, 3, 7),
        dt.date(2025, 3, 8),
        dt.date(2025, 3, 9),
    ]
    assert [p["roads"] for p in got] == [
        ["X001", "Y002"],
        ["X002", "X003"],
        ["X004", "Y005"],
        ["X005", "Y006"],
        ["X006", "X007", "Y008"],
    ]
    assert [p["vehicles"] for p in got] == [2, 3, 1, 2, 2]
    assert [p["personnel"] for p in got] == [5, 6, 2, 4, 3]
    assert sums(res.batch_id) == (10, 20)  # the ledger's 台次 and 人次
    assert [p["km"] for p in got] == [40.5, 30.0, 12.5, None, 18.0]
    assert got[0]["crew"] == "张建华、李明、王芳、赵磊、吴刚"
    assert [p["joint"] for p in got] == ["", "交警大队", "", "", "镇人民政府"]
    assert [p["notes"] for p in got] == ["晴", "", "", "", "联合整治"]
    assert {p["source"] for p in got} == {"ledger"}


def test_incident_csv_located_by_lon_lat_and_by_road_and_stake(store, net, tmp_path):
    def pt(code: str, ch: float, off: float, side: str) -> list[str]:
        lon, lat = offset_point(net, code, ch, off, side)
        return [repr(lon), repr(lat)]

    rows = [
        incident_row(
            "2025-03-05 09:30",
            "堆放物品",
            "",
            "",
            *pt("X002", 5000, 15, "left"),
            "",
            "r2 堆放砂石",
            "王某某",
            "现场劝导",
            "已办结",
            "2025-03-06",
        ),
        incident_row(
            "2025/3/6", "摆摊设点", "", "", *pt("Y005", 2000, 3, "right"), "", "r3 摆摊", "", "", "未办结"
        ),
        incident_row(
            "2025年3月7日",
            "违章建房",
            "X003",
            "K2+100",
            "",
            "",
            "左侧",
            "r4 建房",
            "",
            "责令限期改正",
            "办理中",
        ),
        incident_row("2025-03-08 14:05", "超限运输", "x4", "K1+500", "", "", "右", "r5 超限"),
        incident_row(
            "2025-03-09",
            "dumping",
            "X001",
            "",
            *pt("X001", 20000, 5, "right"),
            "",
            "r6 倾倒垃圾",
            "",
            "立案查处",
            "已办结",
            "2025年3月20日",
        ),
        incident_row(
            "2025-03-10",
            "在公路建筑控制区内修建建筑物、地面构筑物",
            "",
            "",
            *pt("X002", 8000, 25, "left"),
            "",
            "r7 控制区外",
        ),
    ]
    path = write_csv(tmp_path / "问题台账.csv", [INCIDENT_HEADER, *rows])
    before = store.counts()

    res = do_import(path)

    assert res.ok, [e.render() for e in res.errors]
    assert (res.patrols, res.incidents) == (0, 6)
    assert store.counts()["incidents"] == before["incidents"] + 6
    inc = batch_incidents(res.batch_id)

    # located from lon/lat: road, stake, side, offset and zone come from the geometry
    for desc, code, ch, off, side, zone, in_zone in [
        ("r2 堆放砂石", "X002", 5000, 15.0, "left", "control_zone", True),
        ("r3 摆摊", "Y005", 2000, 3.0, "right", "road_land", False),  # road land is not the control zone
        ("r6 倾倒垃圾", "X001", 20000, 5.0, "right", "road_land", False),
        ("r7 控制区外", "X002", 8000, 25.0, "left", "outside", False),
    ]:
        i = inc[desc]
        assert (i.road_code, i.stake, i.side, i.zone, i.in_control_zone) == (
            code,
            format_stake(ch),
            side,
            zone,
            in_zone,
        ), desc
        assert i.chainage_m == pytest.approx(ch, abs=1.0)
        assert i.offset_m == pytest.approx(off, abs=0.2)
        assert i.town  # the nearest town is filled in
    # located from road + stake: the centreline point, side as written, no offset, zone not judged
    for desc, code, stake, side in [
        ("r4 建房", "X003", "K2+100", "left"),
        ("r5 超限", "X004", "K1+500", "right"),
    ]:
        i = inc[desc]
        chainage = 2100.0 if stake == "K2+100" else 1500.0
        assert (i.road_code, i.stake, i.chainage_m, i.side) == (code, stake, chainage, side), desc
        assert (i.lon, i.lat) == pytest.approx(net.point_at(code, chainage), abs=1e-7)
        assert (i.offset_m, i.zone, i.in_control_zone, i.location_method) == (None, "unknown", None, "stake")

    assert {d: i.type_code for d, i in inc.items()} == {
        "r2 堆放砂石": "materials",
        "r3 摆摊": "stall",
        "r4 建房": "building",
        "r5 超限": "over_limit",
        "r6 倾倒垃圾": "dumping",
        "r7 控制区外": "building",
    }
    assert {d: i.status for d, i in inc.items()} == {
        "r2 堆放砂石": "closed",
        "r3 摆摊": "open",
        "r4 建房": "open",
        "r5 超限": "open",
        "r6 倾倒垃圾": "closed",
        "r7 控制区外": "open",
    }
    assert inc["r2 堆放砂石"].closed_at == dt.date(2025, 3, 6)
    assert inc["r6 倾倒垃圾"].closed_at == dt.date(2025, 3, 20)
    assert inc["r2 堆放砂石"].found_at == dt.datetime(2025, 3, 5, 9, 30)
    assert inc["r3 摆摊"].found_at == dt.datetime(2025, 3, 6)
    assert inc["r4 建房"].found_at == dt.datetime(2025, 3, 7)
    assert inc["r5 超限"].found_at == dt.datetime(2025, 3, 8, 14, 5)
    assert (inc["r2 堆放砂石"].party, inc["r2 堆放砂石"].measure) == ("王某某", "persuasion")
    assert inc["r4 建房"].measure == "order_correct"
    assert {i.source for i in inc.values()} == {"ledger"}


def test_xlsx_workbook_with_title_rows_excel_dates_and_two_sheets(store, net, tmp_path):
    lon, lat = offset_point(net, "X002", 5000, 15, "left")
    path = write_xlsx(
        tmp_path / "2025年台账.xlsx",
        {
            "巡查台账": [
                ["麒麟区公路路政巡查台账（2025年第一季度）"],
                PATROL_HEADER_FW,
                patrol_row(dt.datetime(2025, 1, 6), 2, 5, 40.5, "X001、Y002", "张建华、李明"),
                patrol_row(dt.datetime(2025, 2, 14), 3, 6, 35.0, "X003", "王芳、赵磊"),
                patrol_row(dt.date(2025, 3, 3), 2, 4, 22.0, "Y005 Y006", "陈静、刘洋"),
                ["合计", 7, 15, 97.5],  # the totals row under the table
            ],
            "问题台账": [
                ["麒麟区公路路政问题台账"],
                INCIDENT_HEADER,
                incident_row(
                    dt.datetime(2025, 1, 6, 10, 15),
                    "堆放物品",
                    "",
                    "",
                    lon,
                    lat,
                    "",
                    "x1 堆放",
                    "",
                    "",
                    "已办结",
                    dt.datetime(2025, 1, 8),
                ),
                incident_row(
                    dt.datetime(2025, 2, 14, 9, 0),
                    "摆摊设点",
                    "X003",
                    "K2+100",
                    "",
                    "",
                    "左侧",
                    "x2 摆摊",
                    "",
                    "",
                    "未办结",
                ),
            ],
        },
    )
    before = store.counts()

    res = do_import(path)

    assert res.ok, [e.render() for e in res.errors]
    assert (res.patrols, res.incidents) == (3, 2)
    assert [(sh["sheet"], sh["kind"], sh["rows"], sh["skipped_total_rows"]) for sh in res.sheets] == [
        ("巡查台账", "patrols", 3, [6]),
        ("问题台账", "incidents", 2, []),
    ]
    assert res.sheets[0]["columns"]["vehicles"] == "出动车辆（台次）"  # the header as written
    after = store.counts()
    assert after["patrols"] == before["patrols"] + 3
    assert after["incidents"] == before["incidents"] + 2
    assert sums(res.batch_id) == (7, 15)  # equals the ledger's 合计 row
    got = batch_patrols(res.batch_id)
    assert [p["date"] for p in got] == [dt.date(2025, 1, 6), dt.date(2025, 2, 14), dt.date(2025, 3, 3)]
    assert [p["roads"] for p in got] == [["X001", "Y002"], ["X003"], ["Y005", "Y006"]]
    assert sum(p["km"] for p in got) == pytest.approx(97.5)
    inc = batch_incidents(res.batch_id)
    assert inc["x1 堆放"].found_at == dt.datetime(2025, 1, 6, 10, 15)
    assert (inc["x1 堆放"].status, inc["x1 堆放"].closed_at) == ("closed", dt.date(2025, 1, 8))
    assert (inc["x1 堆放"].road_code, inc["x1 堆放"].stake, inc["x1 堆放"].side) == ("X002", "K5+000", "left")
    assert (inc["x2 摆摊"].road_code, inc["x2 摆摊"].stake, inc["x2 摆摊"].status) == (
        "X003",
        "K2+100",
        "open",
    )


def test_gbk_csv_as_exported_by_chinese_excel(store, tmp_path):
    rows = [
        PATROL_HEADER_FW,
        patrol_row("2025/3/5", 2, 5, 40.5, "X001、Y002", "张建华、李明、王芳", "", "路面清洁"),
        patrol_row("2025/3/6", 2, 3, 20, "X003", "赵磊、陈静", "综合执法局", "发现堆放砂石一处"),
    ]
    path = tmp_path / "巡查台账_gbk.csv"
    write_csv(path, rows, encoding="gbk")  # "CSV (逗号分隔)" from Chinese Excel: GBK, CRLF, no BOM
    raw = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")

    res = do_import(path)

    assert res.ok, [e.render() for e in res.errors]
    got = batch_patrols(res.batch_id)
    assert [(p["date"], p["vehicles"], p["personnel"], p["roads"]) for p in got] == [
        (dt.date(2025, 3, 5), 2, 5, ["X001", "Y002"]),
        (dt.date(2025, 3, 6), 2, 3, ["X003"]),
    ]
    assert [(p["crew"], p["joint"], p["notes"]) for p in got] == [
        ("张建华、李明、王芳", "", "路面清洁"),
        ("赵磊、陈静", "综合执法局", "发现堆放砂石一处"),
    ]


# --- bad ledgers: one file per problem -------------------------------------------------------------

GOOD_PATROL = patrol_row()


def _good_incident(net) -> Row:  # type: ignore[no-untyped-def]
    lon, lat = offset_point(net, "X002", 5000, 15, "left")
    return incident_row(lon=lon, lat=lat, desc="good")


def _far(net) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    return offset_point(net, "X002", 5000, 150, "right")  # 150 m from X002, no other road near


def _near(net) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    return offset_point(net, "Y005", 2000, 3, "right")


#: name → (kind, bad row built from the network, column header as written, error key)
BAD_ROWS: dict[str, tuple[str, Callable[[Any], Row], str, str]] = {
    "unknown road (patrol)": (
        "patrols",
        lambda net: patrol_row(roads="X001、X999"),
        "巡查路线",
        "error.unknown_road",
    ),
    "unknown road (incident)": (
        "incidents",
        lambda net: incident_row(road="X999", stake="K1+000"),
        "路线编号",
        "error.unknown_road",
    ),
    "malformed stake": (
        "incidents",
        lambda net: incident_row(road="X002", stake="K3+1250"),
        "桩号",
        "error.stake_format",
    ),
    "stake beyond the road's end": (
        "incidents",
        lambda net: incident_row(road="X002", stake="K25+000"),
        "桩号",
        "error.stake_out_of_range",
    ),
    "too far from every road": (
        "incidents",
        lambda net: incident_row(lon=_far(net)[0], lat=_far(net)[1]),
        "经度",
        "error.no_road_in_reach",
    ),
    "swapped lon/lat": (
        "incidents",
        lambda net: incident_row(lon=_near(net)[1], lat=_near(net)[0]),
        "经度",
        "error.swapped_coordinates",
    ),
    "out of the area": (
        "incidents",
        lambda net: incident_row(lon=116.397, lat=39.909),
        "经度",
        "error.out_of_area",
    ),
    "negative count": ("patrols", lambda net: patrol_row(vehicles=-1), "出动车辆(台次)", "error.negative"),
    "non-numeric count": (
        "patrols",
        lambda net: patrol_row(personnel="五人"),
        "出动人员(人次)",
        "error.bad_count",
    ),
    "future date (patrol)": (
        "patrols",
        lambda net: patrol_row(date=tomorrow().isoformat()),
        "日期",
        "error.future_date",
    ),
    "future date (incident)": (
        "incidents",
        lambda net: incident_row(found=tomorrow().isoformat(), road="X002", stake="K1+000"),
        "发现时间",
        "error.future_date",
    ),
    "unknown type": (
        "incidents",
        lambda net: incident_row(type_="超载", road="X002", stake="K1+000"),
        "违法类型",
        "error.unknown_type",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_row_is_named_and_nothing_is_written(store, net, tmp_path, case):
    kind, build, column, key = BAD_ROWS[case]
    header, good = (
        (PATROL_HEADER, GOOD_PATROL) if kind == "patrols" else (INCIDENT_HEADER, _good_incident(net))
    )
    path = write_csv(tmp_path / "bad.csv", [header, good, build(net), good])
    before = store.counts()

    res = do_import(path)

    assert not res.ok
    assert errors_of(res) == [(None, 3, column, key)]  # header on row 1: the bad row is row 3
    text = res.errors[0].render()
    assert text.startswith(f"第3行 「{column}」列: ")
    assert store.counts() == before
    assert res.batch_id is None


def test_every_problem_of_a_row_is_listed_with_its_location_check(store, net, tmp_path):
    """A row with an unknown type AND a point 150 m from every road has two problems; both are listed, as they
    are when the location is a stake beyond the road's end (see the error list of the mixed ledger below)."""
    far = _far(net)
    path = write_csv(
        tmp_path / "two_problems.csv",
        [
            INCIDENT_HEADER,
            incident_row(type_="超载", road="X002", stake="K30+000"),
            incident_row(type_="超载", lon=far[0], lat=far[1]),
        ],
    )

    res = do_import(path, dry_run=True)

    assert sorted(errors_of(res)) == [
        (None, 2, "桩号", "error.stake_out_of_range"),
        (None, 2, "违法类型", "error.unknown_type"),
        (None, 3, "经度", "error.no_road_in_reach"),
        (None, 3, "违法类型", "error.unknown_type"),
    ]


def _mixed_workbook(net, path: Path) -> tuple[Path, list[tuple[str, int, str, str]]]:  # type: ignore[no-untyped-def]
    """One workbook mixing every kind of problem, with title rows: the header is on row 2, data from row 3."""
    far, near = _far(net), _near(net)
    good_pt = offset_point(net, "X002", 5000, 15, "left")
    write_xlsx(
        path,
        {
            "巡查台账": [
                ["麒麟区公路路政巡查台账"],
                PATROL_HEADER_FW,
                patrol_row(dt.datetime(2025, 3, 3)),  # 3 good
                patrol_row(dt.datetime(2025, 3, 4), roads="X001、X999"),  # 4
                patrol_row(dt.datetime(2025, 3, 5)),  # 5 good
                patrol_row(dt.datetime(2025, 3, 6), vehicles=-1, personnel=1),  # 6: two problems
                patrol_row(dt.datetime(2025, 3, 7), personnel="若干"),  # 7
                patrol_row(tomorrow().isoformat()),  # 8
                ["合计", 8, 16],  # 9: totals, skipped
            ],
            "问题台账": [
                ["麒麟区公路路政问题台账"],
                INCIDENT_HEADER,
                incident_row(dt.datetime(2025, 3, 3, 9), lon=good_pt[0], lat=good_pt[1]),  # 3 good
                incident_row(road="X002", stake="K3+1250"),  # 4
                incident_row(road="X002", stake="K25+000"),  # 5
                incident_row(road="X003", stake="K2+100", side="左侧"),  # 6 good
                incident_row(lon=far[0], lat=far[1]),  # 7
                incident_row(lon=near[1], lat=near[0]),  # 8
                incident_row(lon=116.397, lat=39.909),  # 9
                incident_row(type_="超载", road="X002", stake="K1+000"),  # 10
                incident_row(road="X999", stake="K1+000"),  # 11
                incident_row(
                    found=dt.datetime.combine(tomorrow(), dt.time(9)), road="X002", stake="K1+000"
                ),  # 12
            ],
        },
    )
    p, i = "巡查台账", "问题台账"
    expected = [
        (p, 4, "巡查路线", "error.unknown_road"),
        (p, 6, "出动车辆（台次）", "error.negative"),
        (p, 7, "出动人员（人次）", "error.bad_count"),
        (p, 8, "巡查日期", "error.future_date"),
        (i, 4, "桩号", "error.stake_format"),
        (i, 5, "桩号", "error.stake_out_of_range"),
        (i, 7, "经度", "error.no_road_in_reach"),
        (i, 8, "经度", "error.swapped_coordinates"),
        (i, 9, "经度", "error.out_of_area"),
        (i, 10, "违法类型", "error.unknown_type"),
        (i, 11, "路线编号", "error.unknown_road"),
        (i, 12, "发现时间", "error.future_date"),
    ]
    return path, expected


def test_mixed_bad_workbook_lists_every_bad_row_and_writes_nothing(store, net, tmp_path):
    path, expected = _mixed_workbook(net, tmp_path / "混合错误台账.xlsx")
    before = store.counts()

    res = do_import(path)

    assert not res.ok
    assert sorted(errors_of(res)) == sorted(expected)
    assert res.sheets[0]["skipped_total_rows"] == [9]
    assert store.counts() == before
    rendered = {e.render() for e in res.errors}
    assert "工作表「巡查台账」 第4行 「巡查路线」列: " + t("error.unknown_road", code="X999") in rendered
    assert "工作表「问题台账」 第10行 「违法类型」列: " + t("error.unknown_type", value="超载") in rendered


def test_xlsx_error_message_quotes_the_number_as_the_cell_shows_it(store, tmp_path):
    path = write_xlsx(
        tmp_path / "负数.xlsx",
        {"巡查台账": [PATROL_HEADER_FW, patrol_row(dt.datetime(2025, 3, 6), vehicles=-1)]},
    )

    res = do_import(path, dry_run=True)

    assert [e.render() for e in res.errors] == [
        "工作表「巡查台账」 第2行 「出动车辆（台次）」列: " + t("error.negative", value="-1")
    ]


def test_mixed_bad_workbook_through_the_cli(store, net, tmp_path, run_patrol):
    path, expected = _mixed_workbook(net, tmp_path / "混合错误台账.xlsx")
    before = store.counts()

    p = run_patrol(["import", path], store.env)

    assert p.returncode == 1
    lines = [line.strip() for line in p.stderr.strip().splitlines()]
    assert lines[0] == t("cli.import_failed", count=len(expected))
    assert len(lines) == 1 + len(expected)
    for sheet, row, column, _key in expected:
        prefix = f"工作表「{sheet}」 第{row}行 「{column}」列: "
        assert any(line.startswith(prefix) for line in lines[1:]), prefix
    assert store.counts() == before


# --- all or nothing --------------------------------------------------------------------------------


def test_same_file_twice_is_refused(store, tmp_path):
    path = write_csv(tmp_path / "巡查台账.csv", [PATROL_HEADER, patrol_row(), patrol_row("2025-03-06")])
    first = do_import(path)
    assert first.ok and first.batch_id is not None
    after_first = store.counts()

    with pytest.raises(ServiceError) as exc:
        do_import(path)
    assert exc.value.key == "error.already_imported"
    assert exc.value.params["batch"] == first.batch_id
    # the same bytes under another name are the same ledger
    copy = shutil.copyfile(path, tmp_path / "巡查台账(1).csv")
    with pytest.raises(ServiceError):
        do_import(copy)
    assert store.counts() == after_first


def test_dry_run_validates_but_writes_nothing(store, net, tmp_path):
    lon, lat = offset_point(net, "Y005", 2000, 3, "right")
    path = write_xlsx(
        tmp_path / "台账.xlsx",
        {
            "巡查台账": [PATROL_HEADER, patrol_row(), patrol_row("2025-03-06", personnel=6)],
            "问题台账": [INCIDENT_HEADER, incident_row(lon=lon, lat=lat)],
        },
    )
    before = store.counts()

    res = do_import(path, dry_run=True)

    assert res.ok and res.dry_run
    assert (res.patrols, res.incidents, res.batch_id) == (2, 1, None)
    assert store.counts() == before
    # and the real import afterwards writes what the dry run counted
    res = do_import(path)
    assert (res.patrols, res.incidents) == (2, 1)
    assert store.counts()["patrols"] == before["patrols"] + 2


def test_crash_mid_import_leaves_the_store_as_it_was(store, net, tmp_path, monkeypatch):
    lon, lat = offset_point(net, "X002", 5000, 15, "left")
    path = write_xlsx(
        tmp_path / "台账.xlsx",
        {
            "巡查台账": [PATROL_HEADER, patrol_row(), patrol_row("2025-03-06")],
            "问题台账": [INCIDENT_HEADER, incident_row(lon=lon, lat=lat)],
        },
    )
    before = store.counts()
    real_store_records = records.store_records
    inserted: list[int] = []

    def crash_after_writing(session, *args, **kwargs):  # type: ignore[no-untyped-def]
        real_store_records(session, *args, **kwargs)
        inserted.append(session.execute(select(func.count()).select_from(Patrol)).scalar_one())
        raise RuntimeError("disk full")

    monkeypatch.setattr(records, "store_records", crash_after_writing)

    with pytest.raises(RuntimeError, match="disk full"):
        do_import(path)

    assert inserted == [before["patrols"] + 2]  # the rows were in the transaction when it failed
    assert store.counts() == before
    # nothing of the failed attempt remains: the same file imports normally afterwards
    monkeypatch.setattr(records, "store_records", real_store_records)
    res = do_import(path)
    assert res.ok and (res.patrols, res.incidents) == (2, 1)


def test_patrol_with_fewer_than_two_personnel_is_kept_and_flagged(store, tmp_path):
    """A patrol is not a penalty (《行政处罚法》第四十二条 is about penalties): a ledger row with one person is a
    historical fact — imported as written, and flagged."""
    path = write_csv(
        tmp_path / "one.csv", [PATROL_HEADER, GOOD_PATROL, patrol_row(personnel=1), patrol_row(personnel=0)]
    )

    res = do_import(path)

    assert res.ok and res.patrols == 3
    assert [(e.row, e.key, e.params["count"]) for e in res.flagged] == [
        (3, "patrol.flag.few_personnel", 1),
        (4, "patrol.flag.few_personnel", 0),
    ]
    with read_session() as s:
        flags = [
            (p.personnel, p.flags)
            for p in s.execute(
                select(Patrol).where(Patrol.import_batch_id == res.batch_id).order_by(Patrol.id)
            ).scalars()
        ]
    assert flags == [(4, ""), (1, "few_personnel"), (0, "few_personnel")]
    assert "少于两人" in res.flagged[0].render() and "第四十二条" not in res.flagged[0].render()


def test_a_shed_beyond_road_land_but_in_the_zone_is_a_building(store, net, tmp_path):
    """搭建棚房 on road land is a stall (公路法 第四十六条); outside road land, inside the control zone, it is a building
    (第五十六条) — X002's road land is 12 m either side, its control line 22 m."""

    def pt(off: float) -> list[str]:
        lon, lat = offset_point(net, "X002", 6000, off, "right")
        return [repr(lon), repr(lat)]

    path = write_csv(
        tmp_path / "棚房.csv",
        [
            INCIDENT_HEADER,
            incident_row("2025-03-05", "搭建棚房", "", "", *pt(5.0), "", "on land"),
            incident_row("2025-03-05", "搭建棚房", "", "", *pt(17.0), "", "in zone"),
            incident_row("2025-03-05", "摆摊设点", "", "", *pt(17.0), "", "stall in zone"),
        ],
    )
    res = do_import(path)
    assert res.ok, [e.render() for e in res.errors]
    inc = batch_incidents(res.batch_id)
    assert {d: (i.type_code, i.zone) for d, i in inc.items()} == {
        "on land": ("stall", "road_land"),
        "in zone": ("building", "control_zone"),
        "stall in zone": ("stall", "control_zone"),
    }  # a stall is not a structure: kept as recorded


def test_rows_checked_in_worker_processes_give_the_same_import(store, net, tmp_path, monkeypatch):
    """``jobs=2`` (the command line's ``--jobs``) checks incident chunks in forked workers: the same errors in the
    same order, the same preview, and, written, the same records as one process."""
    monkeypatch.setattr(records, "CHUNK", 4)
    far = _far(net)
    near = _near(net)
    rows: list[Row] = [INCIDENT_HEADER]
    for i in range(30):
        if i % 7 == 3:
            rows.append(incident_row(type_="超载", lon=far[0], lat=far[1]))  # two problems
        elif i % 7 == 5:
            rows.append(incident_row(road="X002", stake="K30+000"))  # beyond the road's end
        elif i % 2:
            rows.append(
                incident_row(found=f"2025-03-{i % 28 + 1:02d} 09:30", lon=near[0], lat=near[1], desc=f"行{i}")
            )
        else:
            rows.append(incident_row(road="X001", stake=f"K1+{i * 10:03d}", side="左侧", desc=f"行{i}"))
    bad = write_csv(tmp_path / "bad.csv", rows)
    one = do_import(bad, dry_run=True, jobs=1)
    two = do_import(bad, dry_run=True, jobs=2)
    assert errors_of(one) and errors_of(one) == errors_of(two)
    assert [e.render("en") for e in one.errors] == [e.render("en") for e in two.errors]
    assert one.sheets == two.sheets

    good = write_csv(
        tmp_path / "good.csv", [rows[0], *[r for k, r in enumerate(rows[1:]) if k % 7 not in (3, 5)]]
    )
    checked = do_import(good, dry_run=True, jobs=1)
    written = do_import(good, jobs=2)
    assert written.ok and written.incidents == checked.incidents == 22
    assert written.preview == checked.preview
    stored = batch_incidents(written.batch_id)
    assert sorted(i.description for i in stored.values()) == sorted(
        f"行{k}" for k in range(30) if k % 7 not in (3, 5)
    )
