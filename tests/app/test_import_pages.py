"""The 路网 and 导入台账 pages through AppTest: who sees what, per-road settings, the ledger check and import
results (jobs run in-process), "an import is running" in another session, batch links, no shell hints."""

from __future__ import annotations

import datetime as dt

import pytest

from gis.linref import locate, offset_point
from patrol_app.io.ledger_workbooks import template_xlsx
from patrol_app.services import ledger_jobs as jobs
from patrol_app.services.records import local_now
from patrol_app.services.users import get_user
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import ImportJob
from tests.apptest_helpers import button, run_page

ROADS = "patrol_app/ui/pages/roads.py"
IMPORTS = "patrol_app/ui/pages/imports.py"
REPORT = "patrol_app/ui/pages/report.py"
MAP = "patrol_app/ui/pages/incident_map.py"


def frame(at, column: str):  # type: ignore[no-untyped-def]
    """The first table on the page with this column."""
    return next(d.value for d in at.dataframe if column in list(d.value.columns))


def texts(at) -> str:  # type: ignore[no-untyped-def]
    parts = []
    for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader"):
        parts += [str(e.value) for e in getattr(at, kind)]
    return "\n".join(parts)


def ledger(tmp_path, rows):  # type: ignore[no-untyped-def]
    import openpyxl

    src = tmp_path / "t.xlsx"
    with read_session() as s:
        from patrol_app.services.roads import network

        codes = network(s).codes
    src.write_bytes(template_xlsx(codes))
    wb = openpyxl.load_workbook(src)
    ws = wb["问题台账"]
    for i, r in enumerate(rows, start=3):
        for j, v in enumerate(r, start=1):
            ws.cell(i, j, v)
    out = tmp_path / "台账.xlsx"
    wb.save(out)
    return out


def good_rows(n: int = 2) -> list[list]:
    found = (local_now() - dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    return [[found, "堆放物品", "X001", f"K1+{i}00", "右侧", None, None, f"行{i}"] for i in range(1, n + 1)]


def check_job(path, dry_run=True, username="leader") -> jobs.JobView:  # type: ignore[no-untyped-def]
    with read_session() as s:
        actor = get_user(s, username)
    jid = jobs.start_job(actor, path, path.name, dry_run=dry_run, wait=True)
    with read_session() as s:
        return jobs.job_view(s, get_user(s, username), jid)


# --- 路网 -----------------------------------------------------------------------------------------------------


def test_roads_page_for_officers_lists_routes_only(store):
    at = run_page(ROADS, as_user="officer")
    assert not at.tabs and len(at.dataframe) == 1
    assert "patrol roads" not in texts(at)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_roads_page_for_administrators_has_import_and_settings(store, lang):
    at = run_page(ROADS, as_user="admin", lang=lang)
    assert [t.label for t in at.tabs] == (
        ["路线", "导入路网", "用地宽度与控制线"]
        if lang == "zh"
        else ["Routes", "Import a network", "Road land and control lines"]
    )
    assert "patrol " not in texts(at)


def test_administrator_sets_half_width_and_a_published_control_line(store):
    at = run_page(ROADS, as_user="admin")
    at.selectbox(key="roads_settings_code").set_value("X002")
    at.run()
    at.number_input(key="roads_half_X002").set_value(16.0)
    button(at, "保存").click()
    at.run()
    assert not at.exception and "X002 的公路用地半宽已保存" in at.success[0].value
    lon, lat = offset_point(store.network(), "X002", 3000.0, 15.0, "left")
    assert locate(store.network(), lon, lat).zone == "road_land"

    at.text_input(key="roads_line_from").input("K2+000")
    at.text_input(key="roads_line_to").input("K4+000")
    at.number_input(key="roads_line_distance").set_value(40.0)
    at.text_input(key="roads_line_doc").input("麒政发〔2024〕12号")
    at.date_input(key="roads_line_date").set_value(dt.date(2024, 5, 6))
    button(at, "登记控制线").click()
    at.run()
    assert not at.exception and "控制线已登记" in at.success[0].value
    lines = frame(at, "公告文号")
    assert list(lines.iloc[0])[:4] == ["K2+000", "K4+000", 40.0, "麒政发〔2024〕12号"]
    lon, lat = offset_point(store.network(), "X002", 3000.0, 35.0, "left")
    p = locate(store.network(), lon, lat)
    assert p.zone == "control_zone" and p.published_doc == "麒政发〔2024〕12号"
    # a refusal is explained in place, nothing written
    at.text_input(key="roads_line_doc").input("")
    button(at, "登记控制线").click()
    at.run()
    assert "请填写公告文号" in at.error[0].value


# --- 导入台账 -----------------------------------------------------------------------------------------------------


def test_import_page_only_for_roles_that_import(store):
    from patrol_app.domain.rules import Perm, allowed
    from patrol_app.ui.nav import PAGES

    spec = next(p for p in PAGES if p.url_path == "imports")
    assert spec.perm == Perm.IMPORT_LEDGER
    assert [
        r for r in ("officer", "squad_leader", "reviewer", "manager", "admin") if allowed(r, spec.perm)
    ] == ["squad_leader", "manager", "admin"]
    at = run_page(IMPORTS, as_user="leader")
    assert at.title[0].value == "导入台账"
    assert [b.label for b in at.get("download_button")] == ["下载台账模板"]
    assert "patrol import" not in texts(at)


def test_check_with_bad_rows_lists_them_with_a_workbook_to_download(store, tmp_path):
    rows = good_rows(1) + [[r[0], "乱写", "X001", "K1+X00", "右侧", None, None, "坏"] for r in good_rows(1)]
    v = check_job(ledger(tmp_path, rows))
    at = run_page(IMPORTS, as_user="leader", imports_job=v.id)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["有问题的行"] == "1" and metrics["问题记录"] == "1"
    errors = frame(at, "问题")
    assert set(errors.iloc[:, 2]) == {"违法类型", "桩号"} and set(errors.iloc[:, 1]) == {4}
    labels = [b.label for b in at.get("download_button")]
    assert "下载问题行工作簿（问题单元格标红）" in labels
    assert not any(b.label.startswith("导入 ") for b in at.button)


def test_good_check_then_import_then_links_to_map_and_report(store, tmp_path):
    v = check_job(ledger(tmp_path, good_rows(2)))
    at = run_page(IMPORTS, as_user="leader", imports_job=v.id)
    assert "检查通过" in at.success[0].value
    first = frame(at, "区域判定")
    assert list(first.iloc[:, 2]) == ["X001", "X001"] and list(first.iloc[:, 3]) == ["K1+100", "K1+200"]
    button(at, "导入 2 条记录").click()
    at.run()
    job = at.session_state["imports_job"]
    with read_session() as s:
        jobs.wait_for(jobs.job_view(s, get_user(s, "leader"), job), 60)
    at.run()
    assert not at.exception
    assert any("已导入 台账.xlsx" in s.value for s in at.success)
    links = {e.proto.label: e.proto for e in at.get("page_link")}
    assert "在问题地图上查看本批次" in links and "本批次的统计与导出" in links
    with read_session() as s:
        batch = jobs.job_view(s, get_user(s, "leader"), job).batch_id
    assert links["在问题地图上查看本批次"].query_string == f"batch={batch}"
    assert links["本批次的统计与导出"].query_string == f"batch={batch}"


def test_another_session_sees_an_import_running_not_a_lock_error(store):
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with session_scope() as s:
        s.add(
            ImportJob(
                dry_run=False,
                filename="去年台账.xlsx",
                sha256="x" * 64,
                status="running",
                stage="validate",
                rows_total=100_000,
                rows_read=100_000,
                rows_validated=40_000,
                created_by=get_user(s, "manager").id,
                started_at=now,
                updated_at=now,
            )
        )
    at = run_page(IMPORTS, as_user="leader")
    assert any("正在导入：去年台账.xlsx" in i.value for i in at.info)
    assert at.get("progress") and "40,000 / 100,000" in at.get("progress")[0].proto.text


def test_administrator_rolls_back_a_batch_and_sees_refusals(store, tmp_path):
    v = check_job(ledger(tmp_path, good_rows(2)), dry_run=False)
    at = run_page(IMPORTS, as_user="admin")
    at.selectbox(key="imports_rollback_id").set_value(v.batch_id)
    at.checkbox(key="imports_rollback_sure").check()
    at.run()
    button(at, "撤销批次").click()
    at.run()
    assert not at.exception and f"批次 {v.batch_id} 已撤销" in at.success[0].value


def test_map_and_report_filter_to_the_batch_of_the_link(store, tmp_path):
    v = check_job(ledger(tmp_path, good_rows(2)), dry_run=False)
    for page in (MAP, REPORT):
        at = run_page(page, "manager", query={"batch": str(v.batch_id)}, timeout=90)
        assert any(f"导入批次 {v.batch_id}" in i.value for i in at.info), page
        assert "patrol report" not in texts(at) and "命令行" not in texts(at)
