"""Ledger import in the app's way: the template, background check and import with progress, one job at a time,
the workbook of bad rows, batch filters, rollback. Real files read back with openpyxl; real SQLite store."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from gis.linref import offset_point
from patrol_app.io.exports import ExportFilter
from patrol_app.io.exports import count as export_count
from patrol_app.io.ledger_workbooks import BAD_FILL, error_workbook, template_xlsx
from patrol_app.reports.rollup import Period, rollup
from patrol_app.services import ledger_jobs as jobs
from patrol_app.services import mapdata
from patrol_app.services.errors import PermissionDenied, ServiceError
from patrol_app.services.records import local_now
from patrol_app.services.users import get_user
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import AuditEntry, ImportBatch, ImportJob, Incident, IncidentEvent, Patrol


def user(name: str):  # type: ignore[no-untyped-def]
    with read_session() as s:
        return get_user(s, name)


def yesterday() -> dt.datetime:
    return (local_now() - dt.timedelta(days=1)).replace(hour=9, minute=30, second=0, microsecond=0)


def filled_template(
    tmp: Path, codes: list[str], incidents: list[list], patrols: list[list] | None = None
) -> Path:
    """The downloaded template with rows typed under the example, as a user would in Excel."""
    src = tmp / "template.xlsx"
    src.write_bytes(template_xlsx(codes))
    wb = openpyxl.load_workbook(src)
    for name, rows in (("问题台账", incidents), ("巡查台账", patrols or [])):
        ws = wb[name]
        for i, r in enumerate(rows, start=3):  # row 2 is the example
            for j, v in enumerate(r, start=1):
                ws.cell(i, j, v)
    out = tmp / "台账.xlsx"
    wb.save(out)
    return out


def run(path: Path, dry_run: bool = True, username: str = "leader") -> jobs.JobView:
    jid = jobs.start_job(user(username), path, path.name, dry_run=dry_run, wait=True)
    with read_session() as s:
        v = jobs.job_view(s, get_user(s, username), jid)
    assert v is not None and not v.running
    return v


# --- the template ---------------------------------------------------------------------------------------------


def test_template_has_both_sheets_drop_downs_example_and_notes(store, tmp_path):
    codes = store.network().codes
    path = tmp_path / "t.xlsx"
    path.write_bytes(template_xlsx(codes))
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[:2] == ["巡查台账", "问题台账"] and "填写说明" in wb.sheetnames
    inc = wb["问题台账"]
    assert [c.value for c in inc[1]][:5] == ["发现时间", "违法类型", "路线编号", "桩号", "侧别"]
    lists = wb["可选值"]
    assert lists.sheet_state == "hidden"
    listed = {
        lists.cell(1, j).value: [
            lists.cell(i, j).value for i in range(2, lists.max_row + 1) if lists.cell(i, j).value
        ]
        for j in range(1, lists.max_column + 1)
    }
    assert listed["可选路线"] == codes and "已办结" in listed["可选办结情况"] and "右侧" in listed["可选侧别"]
    assert "现场劝导" in listed["可选处理措施"] and len(listed["可选违法类型"]) >= 6
    ranges = {str(dv.sqref).split(":")[0]: dv.formula1 for dv in inc.data_validations.dataValidation}
    assert "可选值" in ranges["B2"] and "可选值" in ranges["C2"] and "可选值" in ranges["E2"]
    assert "可选值" in ranges["K2"] and "可选值" in ranges["M2"]
    assert inc["H2"].value == "示例" and wb["巡查台账"]["K2"].value == "示例"
    notes = [c.value for c in wb["填写说明"]["A"] if c.value]
    assert len(notes) >= 5 and any("示例" in n for n in notes)


def test_filled_template_imports_its_rows_not_the_example(store, tmp_path):
    net = store.network()
    lon, lat = offset_point(net, "X001", 2500.0, 14.0, "left")
    found = yesterday()
    path = filled_template(
        tmp_path,
        net.codes,
        [
            [
                found,
                "在公路及公路用地范围内堆放物品",
                "X001",
                "K1+300",
                "右侧",
                None,
                None,
                "路肩堆砂",
                "王某",
                None,
                "现场劝导",
                None,
                "办理中",
                None,
            ],
            [
                found,
                "堆放物品",
                None,
                None,
                None,
                lon,
                lat,
                "堆放砖块",
                "",
                None,
                "责令限期改正",
                None,
                "已办结",
                found.date(),
            ],
        ],
        patrols=[
            [found.date(), "08:30", "11:00", "X001、X002", 1, 2, 30, "张三、李四", None, "晴", "常规巡查"]
        ],
    )
    v = run(path)
    res = jobs.job_result(v)
    assert v.status == "done" and res is not None and res.ok
    assert (res.patrols, res.incidents) == (1, 2)
    assert all(info["example_rows"] == [2] for info in res.sheets)
    assert (
        res.preview["incidents"][1]["road_code"] == "X001"
        and res.preview["incidents"][1]["stake"] == "K2+500"
    )
    v = run(path, dry_run=False)
    assert v.status == "done" and v.batch_id and v.rows_written == 3
    with read_session() as s:
        descs = set(
            s.execute(select(Incident.description).where(Incident.import_batch_id == v.batch_id)).scalars()
        )
    assert descs == {"路肩堆砂", "堆放砖块"}


# --- background jobs, progress, one at a time -------------------------------------------------------------------


def big_ledger(tmp: Path, codes: list[str], n: int, bad_every: int = 0) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "问题台账"
    ws.append(["发现时间", "违法类型", "路线编号", "桩号"])
    found = yesterday()
    for i in range(n):
        stake = "K1+x" if bad_every and i % bad_every == 0 else f"K1+{i % 900:03d}"
        ws.append([found, "堆放物品", codes[i % 3], stake])
    path = tmp / "大台账.xlsx"
    wb.save(path)
    return path


def test_progress_moves_through_read_check_and_write(store, tmp_path):
    path = big_ledger(tmp_path, store.network().codes, 12_000)
    seen: list[tuple[str, int, int]] = []
    from patrol_app.services import records

    with session_scope() as s:
        res = records.import_ledger(s, get_user(s, "leader"), path, progress=lambda *a: seen.append(a))
    stages = [st for st, _, _ in seen]
    assert stages.index("read") < stages.index("validate") < stages.index("write")
    for stage in ("read", "validate", "write"):
        done = [d for st, d, _ in seen if st == stage]
        assert done == sorted(done) and len(done) >= 3
    assert seen[-1] == ("write", 12_000, 12_000) and res.incidents == 12_000


def test_a_second_import_is_told_one_is_running(store, tmp_path):
    path = big_ledger(tmp_path, store.network().codes, 10)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with session_scope() as s:
        s.add(
            ImportJob(
                dry_run=False,
                filename="去年台账.xlsx",
                sha256="x" * 64,
                status="running",
                stage="write",
                created_by=get_user(s, "manager").id,
                started_at=now,
                updated_at=now,
            )
        )
    with pytest.raises(ServiceError) as exc:
        jobs.start_job(user("leader"), path, path.name)
    assert exc.value.key == "imports.error.running" and exc.value.params["file"] == "去年台账.xlsx"
    with read_session() as s:
        assert jobs.running_job(s, get_user(s, "leader")).filename == "去年台账.xlsx"
    with session_scope() as s:  # the server stopped mid-import long ago: not running any more
        s.execute(ImportJob.__table__.update().values(updated_at=now - dt.timedelta(hours=1)))
    v = run(path)
    assert v.status == "done"
    with read_session() as s:
        stale = s.execute(select(ImportJob).where(ImportJob.filename == "去年台账.xlsx")).scalar_one()
    assert stale.status == "failed" and stale.error["key"] == "imports.error.interrupted"


def test_officers_cannot_import_and_a_file_is_imported_once(store, tmp_path):
    path = big_ledger(tmp_path, store.network().codes, 5)
    with pytest.raises(PermissionDenied):
        jobs.start_job(user("officer"), path)
    v = run(path, dry_run=False)
    assert v.status == "done"
    with pytest.raises(ServiceError, match="already_imported"):
        jobs.start_job(user("leader"), path)


# --- bad rows ------------------------------------------------------------------------------------------------


def test_every_bad_row_listed_and_the_error_workbook_marks_the_bad_cells(store, tmp_path):
    net = store.network()
    found = yesterday()
    path = filled_template(
        tmp_path,
        net.codes,
        [
            [
                found,
                "堆放物品",
                "X001",
                "K1+300",
                "右侧",
                None,
                None,
                "好行",
                "",
                None,
                "现场劝导",
                None,
                "办理中",
                None,
            ],
            [
                found,
                "乱写的类型",
                "X001",
                "K1+3OO",
                "右侧",
                None,
                None,
                "坏行一",
                "",
                None,
                "现场劝导",
                None,
                "办理中",
                None,
            ],
            [
                found + dt.timedelta(days=30),
                "堆放物品",
                "X999",
                "K1+300",
                "中间",
                None,
                None,
                "坏行二",
                "",
                None,
                None,
                None,
                "办理中",
                None,
            ],
        ],
    )
    v = run(path)
    res = jobs.job_result(v)
    assert v.status == "done" and v.bad_rows == 2 and res.bad_rows == 2
    where = {(e.sheet, e.row, e.column) for e in res.errors}
    assert {
        ("问题台账", 4, "违法类型"),
        ("问题台账", 4, "桩号"),
        ("问题台账", 5, "发现时间"),
        ("问题台账", 5, "路线编号"),
        ("问题台账", 5, "侧别"),
    } <= where
    out = tmp_path / "bad.xlsx"
    out.write_bytes(error_workbook(path, res.errors, "zh", v.filename))
    wb = openpyxl.load_workbook(out)
    ws = wb["问题台账"]
    header = [c.value for c in ws[1]]
    assert header[-2:] == ["原行号", "问题说明"] and header[:2] == ["发现时间", "违法类型"]
    assert [ws.cell(r, len(header) - 1).value for r in (2, 3)] == [4, 5]
    assert ws.max_row == 3  # the good row and the example are not in it

    def red(row: int, col_name: str) -> bool:
        cell = ws.cell(row, header.index(col_name) + 1)
        return cell.fill.fgColor.rgb.endswith(BAD_FILL.lstrip("#"))

    assert red(2, "违法类型") and red(2, "桩号") and not red(2, "路线编号") and not red(2, "发现时间")
    assert red(3, "发现时间") and red(3, "路线编号") and red(3, "侧别") and not red(3, "违法类型")
    assert ws.cell(2, header.index("桩号") + 1).value == "K1+3OO"  # cells exactly as typed
    assert (
        "桩号" in ws.cell(2, len(header)).value and ws.cell(2, header.index("桩号") + 1).comment is not None
    )
    # fixed in the workbook and uploaded again: imported
    ws.cell(2, header.index("违法类型") + 1).value = "堆放物品"
    ws.cell(2, header.index("桩号") + 1).value = "K1+300"
    ws.cell(3, header.index("发现时间") + 1).value = found
    ws.cell(3, header.index("路线编号") + 1).value = "X002"
    ws.cell(3, header.index("侧别") + 1).value = "左侧"
    wb.save(out)
    v = run(out, dry_run=False)
    assert v.status == "done" and (v.incidents, v.bad_rows) == (2, 0)


def test_a_file_that_is_no_ledger_fails_the_job_with_the_reason(store, tmp_path):
    path = tmp_path / "随便.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    v = run(path)
    assert v.status == "failed" and v.error["key"] == "error.ledger_no_sheet"


# --- batch filters and rollback ---------------------------------------------------------------------------------


def imported_batch(store, tmp_path) -> int:  # type: ignore[no-untyped-def]
    net = store.network()
    found = yesterday()
    path = filled_template(
        tmp_path,
        net.codes,
        [
            [
                found,
                "堆放物品",
                "X001",
                f"K1+{i}00",
                "右侧",
                None,
                None,
                f"行{i}",
                "",
                None,
                None,
                None,
                "办理中",
                None,
            ]
            for i in range(1, 4)
        ],
        patrols=[[found.date(), "08:30", "11:00", "X001", 1, 2, 30, "张三、李四", None, None, None]],
    )
    v = run(path, dry_run=False)
    assert v.batch_id
    return v.batch_id


def test_map_report_and_exports_filter_to_a_batch(store, tmp_path):
    batch = imported_batch(store, tmp_path)
    day = yesterday().date()
    with read_session() as s:
        mgr = get_user(s, "manager")
        assert mapdata.incident_count(s, mgr, mapdata.MapFilter(batch=batch)) == 3
        assert export_count(s, mgr, "incidents", ExportFilter(batch=batch)) == 3
        assert export_count(s, mgr, "patrols", ExportFilter(batch=batch)) == 1
        r = rollup(s, Period(day, day), batch)
        assert (r.incidents_total, r.patrols, r.person_trips) == (3, 1, 2)
        info = jobs.batch_info(s, mgr, batch)
    assert (info.first_date, info.last_date, info.patrols, info.incidents) == (day, day, 1, 3)
    assert "导入批次" in mapdata.filter_summary(mapdata.MapFilter(batch=batch), "zh")


def test_rollback_removes_the_batch_audited_and_allows_a_new_import(store, tmp_path):
    batch = imported_batch(store, tmp_path)
    with session_scope() as s, pytest.raises(PermissionDenied):
        jobs.rollback_batch(s, get_user(s, "leader"), batch)
    with session_scope() as s:
        res = jobs.rollback_batch(s, get_user(s, "admin"), batch)
    assert res == {"patrols": 1, "incidents": 3}
    with read_session() as s:
        assert (
            s.scalar(select(func.count()).select_from(Incident).where(Incident.import_batch_id == batch)) == 0
        )
        assert s.scalar(select(func.count()).select_from(Patrol).where(Patrol.import_batch_id == batch)) == 0
        assert s.get(ImportBatch, batch).rolled_back_at is not None
        last = s.execute(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(1)).scalar_one()
    assert last.action == "ledger.rollback" and last.before["incidents"] == 3
    with session_scope() as s, pytest.raises(ServiceError, match="rolled_back_already"):
        jobs.rollback_batch(s, get_user(s, "admin"), batch)
    assert imported_batch(store, tmp_path) != batch  # the same file may be imported again


def test_rollback_is_refused_while_its_records_are_used(store, tmp_path):
    batch = imported_batch(store, tmp_path)
    with session_scope() as s:
        inc = s.execute(select(Incident).where(Incident.import_batch_id == batch).limit(1)).scalar_one()
        s.add(
            IncidentEvent(
                incident_id=inc.id,
                at=dt.datetime(2025, 1, 1),
                actor_id=get_user(s, "leader").id,
                action="reinspect",
                note="复查",
            )
        )
    before = store.counts()
    with session_scope() as s, pytest.raises(jobs.RollbackRefused) as exc:
        jobs.rollback_batch(s, get_user(s, "admin"), batch)
    assert exc.value.blockers == {"events": 1}
    assert "1 条处理记录" in jobs.blockers_text(exc.value.blockers, "zh")
    assert store.counts() == before


# --- on PostgreSQL ------------------------------------------------------------------------------------------------


@pytest.mark.postgres
def test_background_import_progress_and_rollback_on_postgres(tmp_path, monkeypatch):
    from tests.conftest import postgres_demo_store

    with postgres_demo_store("imports", local_now().date()) as url:
        monkeypatch.setenv("PATROL_DB_URL", url)
        monkeypatch.setenv("PATROL_DATA_DIR", str(tmp_path))
        from patrol_app.services.roads import network

        with read_session(url) as s:
            codes = network(s).codes
            leader, admin = get_user(s, "leader"), get_user(s, "admin")
        path = big_ledger(tmp_path, codes, 12_000)
        jid = jobs.start_job(leader, path, url=url, dry_run=False, wait=True)
        with read_session(url) as s:
            v = jobs.job_view(s, get_user(s, "leader"), jid)
            row = s.get(ImportJob, jid)
        assert v.status == "done" and v.incidents == 12_000 and row.rows_written == 12_000 and row.batch_id
        with session_scope(url) as s:
            assert jobs.rollback_batch(s, get_user(s, "admin"), row.batch_id) == {
                "patrols": 0,
                "incidents": 12_000,
            }
        with read_session(url) as s:
            assert (
                s.scalar(
                    select(func.count()).select_from(Incident).where(Incident.import_batch_id == row.batch_id)
                )
                == 0
            )
        assert admin.role == "admin"
