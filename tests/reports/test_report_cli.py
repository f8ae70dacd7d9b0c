"""``patrol report`` and ``patrol export`` end to end, in subprocesses against a copy of the demo store; and the
issue's "done when": a year's ledger imported with ``patrol import`` gives a report that matches it to the unit."""

from __future__ import annotations

import datetime as dt
import json
import random

import geopandas as gpd

DEMO_YEAR = dt.date.today().year - 1


def ok(proc):  # type: ignore[no-untyped-def]
    assert proc.returncode == 0, proc.stderr
    return proc


def test_report_and_export_verbs(store, tmp_path, run_patrol_many):
    y = str(DEMO_YEAR)
    out = tmp_path / "out"
    j, docx, gpkg, kmz, csv_, rng = run_patrol_many(
        [
            ["report", "--year", y, "--out", "-"],
            ["report", "--year", y, "--out", out / "r.docx", "--user", "manager"],
            [
                "export",
                "incidents",
                "--format",
                "gpkg",
                "--out",
                out / "i.gpkg",
                "--year",
                y,
                "--user",
                "manager",
            ],
            ["export", "patrols", "--out", out / "p.kmz", "--year", y, "--user", "reviewer"],
            [
                "export",
                "incidents",
                "--out",
                out / "i.csv",
                "--year",
                y,
                "--road",
                "X001,X002",
                "--type",
                "堆放物品",
                "--status",
                "closed",
                "--user",
                "reviewer",
            ],
            ["report", "--from", f"{y}-03-01", "--to", f"{y}/6/30", "--out", "-"],
        ],
        store.env,
    )
    data = json.loads(ok(j).stdout)
    assert (data["year"], data["patrols"], data["vehicle_trips"], data["person_trips"]) == (
        DEMO_YEAR,
        130,
        263,
        734,
    )
    assert data["narrative_zh"].startswith(f"{DEMO_YEAR}年共出动车辆260多台次，出动人员730多人次")
    assert sum(data["incidents_by_month"].values()) == data["incidents_total"]
    assert "已写入" in ok(docx).stdout and (out / "r.docx").stat().st_size > 50_000

    assert "当事人姓名和电话已脱敏" in ok(gpkg).stdout
    g = gpd.read_file(out / "i.gpkg")
    assert len(g) == data["incidents_total"] and g.party.str.endswith("**").all()
    assert "脱敏" not in ok(kmz).stdout
    assert len(gpd.read_file(out / "p.kmz")) == 130

    rows = (out / "i.csv").read_text(encoding="utf-8-sig").splitlines()
    assert f"已导出问题 {len(rows) - 1} 条" in ok(csv_).stdout
    assert all(",X00" in r and "已办结" in r and "堆放物品" in r for r in rows[1:])

    part = json.loads(ok(rng).stdout)
    assert part["period"] == {"from": f"{y}-03-01", "to": f"{y}-06-30", "tz": "Asia/Shanghai"}
    assert list(part["incidents_by_month"]) == ["03", "04", "05", "06"]
    assert part["patrols"] < 130


def test_refusals(store, tmp_path, run_patrol_many):
    y = str(DEMO_YEAR)
    officer, stdout_docx, bad_range, patrol_type, no_format, officer_export = run_patrol_many(
        [
            ["report", "--year", y, "--user", "officer"],
            ["report", "--year", y, "--format", "docx"],
            ["report", "--from", f"{y}-06-01", "--to", f"{y}-03-01"],
            ["export", "patrols", "--out", tmp_path / "p.csv", "--type", "stall"],
            ["export", "incidents", "--out", tmp_path / "p.txt"],
            ["export", "incidents", "--out", tmp_path / "o.csv", "--user", "officer"],
        ],
        store.env,
    )
    assert officer.returncode == 1 and "无权" in officer.stderr and not officer.stdout
    assert stdout_docx.returncode == 2 and "--out" in stdout_docx.stderr
    assert bad_range.returncode == 2 and "晚于" in bad_range.stderr
    assert patrol_type.returncode == 2 and not (tmp_path / "p.csv").exists()
    assert no_format.returncode == 2 and "--format" in no_format.stderr
    assert officer_export.returncode == 1 and not (tmp_path / "o.csv").exists()


TYPES = ["堆放物品", "摆摊设点", "违章建房", "砍伐行道树", "超限运输", "倾倒垃圾"]
TYPE_CODES = {
    "堆放物品": "materials",
    "摆摊设点": "stall",
    "违章建房": "building",
    "砍伐行道树": "trees",
    "超限运输": "over_limit",
    "倾倒垃圾": "dumping",
}


def test_a_years_ledger_gives_a_report_that_matches_it_to_the_unit(store, tmp_path, run_patrol):
    """The issue's acceptance: import a year's ledger (patrols and incidents), then one command gives the
    report, whose figures are the ledger's sums exactly."""
    import openpyxl

    net = store.network()
    codes = [c for c in net.codes if c[0] in "XY"]
    rnd = random.Random(2019)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "巡查台账"
    ws.append(["2019年路政巡查台账"])
    ws.append(
        ["日期", "巡查路线", "出动车辆(台次)", "出动人员(人次)", "巡查里程(公里)", "巡查人员", "联合单位"]
    )
    patrols = []
    for _ in range(47):
        d = dt.date(2019, 1, 1) + dt.timedelta(days=rnd.randrange(365))
        roads = rnd.sample(codes, rnd.choice([1, 2]))
        p = (d, roads, rnd.choice([1, 2, 3]), rnd.choice([2, 4, 5, 6]), round(rnd.uniform(10, 80), 1))
        patrols.append(p)
        ws.append(
            [d.isoformat(), "、".join(roads), p[2], p[3], p[4], "张建华、李明", rnd.choice(["", "交警大队"])]
        )
    wi = wb.create_sheet("问题台账")
    wi.append(["发现时间", "违法类型", "路线编号", "桩号", "当事人", "处理措施", "办结情况", "办结日期"])
    incidents = []
    for _ in range(83):
        found = dt.datetime(2019, 1, 1, 8) + dt.timedelta(days=rnd.randrange(365), minutes=rnd.randrange(600))
        code = rnd.choice(codes)
        r = net.routes[code]
        ch = rnd.uniform(r.start_m + 10, r.end_m - 10)
        closed = rnd.random() < 0.9
        kind = rnd.choice(TYPES)
        incidents.append((found, kind, code, closed))
        wi.append(
            [
                found.strftime("%Y-%m-%d %H:%M"),
                kind,
                code,
                f"K{int(ch // 1000)}+{int(ch % 1000):03d}",
                "王某某",
                "现场劝导",
                "已办结" if closed else "办理中",
                (found.date() + dt.timedelta(days=3)).isoformat() if closed else "",
            ]
        )
    # a patrol and an incident of the next year in the same file must not count
    ws.append(["2020-01-01", codes[0], 9, 9, 99.0, "张建华、李明", ""])
    wi.append(["2020-01-01 00:00", "堆放物品", codes[0], "K1+000", "", "", "办理中", ""])
    path = tmp_path / "2019年台账.xlsx"
    wb.save(path)

    ok(run_patrol(["import", path], store.env))
    data = json.loads(ok(run_patrol(["report", "--year", "2019", "--out", "-"], store.env)).stdout)

    assert data["patrols"] == len(patrols)
    assert data["vehicle_trips"] == sum(p[2] for p in patrols)
    assert data["person_trips"] == sum(p[3] for p in patrols)
    assert data["km_patrolled"] == round(sum(p[4] for p in patrols), 1)
    assert data["incidents_total"] == len(incidents)
    assert data["incidents_closed"] == sum(i[3] for i in incidents)
    assert data["incidents_open"] == sum(not i[3] for i in incidents)
    assert data["closure_rate"] == round(sum(i[3] for i in incidents) / len(incidents), 4)
    by_type = {TYPE_CODES[k]: sum(i[1] == k for i in incidents) for k in TYPES}
    assert {k: v for k, v in data["incidents_by_type"].items() if v} == {
        k: v for k, v in by_type.items() if v
    }
    by_month = {f"{m:02d}": sum(i[0].month == m for i in incidents) for m in range(1, 13)}
    assert data["incidents_by_month"] == by_month
    by_road: dict[str, int] = {}
    for i in incidents:
        by_road[i[2]] = by_road.get(i[2], 0) + 1
    assert data["incidents_by_road"] == dict(sorted(by_road.items()))
    assert data["narrative_zh"].startswith("2019年共出动车辆")
    pct = round(100 * data["closure_rate"])
    assert f"办结率达{min(pct, 99)}%" in data["narrative_zh"]
