"""The report page through Streamlit's AppTest: year picker, narrative, tables, download buttons, masking note."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.apptest_helpers import APP, run_page

PAGE = "patrol_app/ui/pages/report.py"
DEMO_YEAR = dt.date.today().year - 1


def report_page(username: str = "manager", **state) -> AppTest:  # type: ignore[no-untyped-def]
    return run_page(PAGE, username, **state)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_page_shows_narrative_tables_and_downloads(store, lang):
    at = report_page(lang=lang)
    assert at.title[0].value == ("年度报告与数据导出" if lang == "zh" else "Annual report and data exports")
    at.selectbox(key="report_year").set_value(DEMO_YEAR)  # a whole year of the demo
    at.run()
    text = " ".join(m.value for m in at.markdown)
    if lang == "zh":
        assert f"{DEMO_YEAR}年共出动车辆260多台次，出动人员730多人次" in text
    else:
        assert "over 260 vehicle trips" in text
    assert len(at.dataframe) == 7
    summary = at.dataframe[0].value
    assert summary.iloc[0, 1] == "130"  # exact figures in the tables
    labels = [b.label for b in at.get("download_button")]
    assert len(labels) == 4 + 7  # docx, xlsx, json, md; and the seven data formats
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["出动车辆（台次）" if lang == "zh" else "Vehicle trips"] == "263"


def test_report_and_overview_open_on_the_same_year_compared_over_the_same_dates(store):
    from patrol_app.clock import local_now

    today = local_now().date()
    report = report_page()
    at = run_page(None, "manager")
    assert report.selectbox(key="report_year").value == at.selectbox(key="overview_year").value == today.year
    # this year runs to today, and is compared with 1 January – the same day a year earlier, not a whole year
    text = " ".join(c.value for c in at.caption)
    assert f"{today:%Y}-01-01 至 {today:%Y-%m-%d}" in text
    assert f"{today.year - 1}-01-01 至 {today.year - 1}-{today:%m-%d}" in text


def test_manager_is_told_parties_are_masked_reviewer_is_not(store):
    masked = "当事人姓名和电话已脱敏（当前角色无权查看）。"
    assert masked in [c.value for c in report_page("manager").caption]
    assert masked not in [c.value for c in report_page("reviewer").caption]


def test_changing_the_year_and_showing_the_map(store):
    at = report_page()
    at.selectbox(key="report_year").set_value(DEMO_YEAR).run()
    assert not at.exception
    assert any(m.value.startswith(f"{DEMO_YEAR}年共出动车辆") for m in at.markdown)
    at.selectbox(key="report_year").set_value(DEMO_YEAR + 1).run()  # this year: up to today, not a whole year
    assert any(m.value.startswith(f"{DEMO_YEAR + 1}年1月1日至") for m in at.markdown)
    at.toggle(key="report_show_map").set_value(True).run()
    assert not at.exception and len(at.get("image")) == 1


def test_an_officer_does_not_get_the_page(store):
    at = run_page(None, "officer")
    with pytest.raises(
        ValueError, match="Could not find a navigation page"
    ):  # not in an officer's navigation
        at.switch_page(PAGE)


def test_a_custom_date_range(store):
    at = report_page()
    at.toggle(key="report_custom").set_value(True).run()
    at.date_input(key="report_range").set_value((dt.date(DEMO_YEAR, 3, 1), dt.date(DEMO_YEAR, 6, 30))).run()
    assert not at.exception
    assert any(m.value.startswith(f"{DEMO_YEAR}年3月1日至6月30日共出动车辆") for m in at.markdown)
    assert at.dataframe[0].value.columns[2] == "上年同期"


def test_reports_and_exports_never_import_streamlit():
    import subprocess
    import sys

    code = (
        "import sys, patrol_app.reports.report, patrol_app.reports.writers, patrol_app.reports.figure, "
        "patrol_app.reports.cli, patrol_app.io.exports; print('streamlit' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(APP).parent
    )
    assert out.stdout.strip() == "False"
