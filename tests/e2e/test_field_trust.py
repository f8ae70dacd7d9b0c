"""What broke an officer's trust on the field pages, each seen in Chromium at tablet size: a stale position saved
after the stake changed, a follow-up form that kept 已办结 for the next incident, a photo lost by a reload, UTC
times, rewritten Chinese punctuation, a confirmation off-screen, final acts done on one tap."""

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import db, jpeg_file, open_page, pick, upload_photo, wait_idle
from tests.e2e.test_field_logging import save_incident

pytestmark = pytest.mark.e2e

PREVIEW = "[data-testid='stAlertContentSuccess']"


def preview_text(pg, expect_text: str | None = None) -> str:  # type: ignore[no-untyped-def]
    """The 保存前核对 box's text — once it shows ``expect_text`` (the page reruns after each change)."""
    box = pg.locator(PREVIEW).filter(has_text="保存前核对")
    if expect_text:
        expect(box).to_contain_text(expect_text, timeout=30_000)
    box.wait_for(timeout=30_000)
    return box.inner_text()


def by_stake(pg) -> None:  # type: ignore[no-untyped-def]
    pg.get_by_role("radio", name="路线+桩号").click()
    wait_idle(pg)


def type_stake(pg, text: str) -> None:  # type: ignore[no-untyped-def]
    box = pg.get_by_role("textbox", name="桩号")
    box.fill(text)
    box.press("Enter")
    wait_idle(pg)


def test_changing_the_stake_moves_the_position_that_is_saved(page, server):
    open_page(page, "incident", "officer")
    by_stake(page)
    type_stake(page, "K1+000")
    page.get_by_role("button", name="定位桩号").click()
    wait_idle(page)
    assert "K1+000" in preview_text(page, "K1+000")
    type_stake(page, "K2+300")  # changed after locating: no second tap on 定位桩号
    wait_idle(page)
    text = preview_text(page, "K2+300")
    assert "K2+300" in text and "K1+000" not in text
    page.get_by_text("左侧", exact=True).first.click()  # side and offset change the point too
    wait_idle(page)
    offset = page.get_by_role("spinbutton", name=re.compile("距中线"))
    offset.fill("12")
    offset.press("Enter")
    wait_idle(page)
    text = preview_text(page, "距中线 12")
    assert "K2+300 左侧" in text and "距中线 12" in text
    type_stake(page, "K99+999")  # beyond the road's end: no position at all, nothing stale
    page.locator("[data-testid='stAlertContentError']").filter(has_text="K99+999").wait_for(timeout=30_000)
    wait_idle(page)
    assert page.locator(PREVIEW).filter(has_text="保存前核对").count() == 0
    type_stake(page, "K2+350")
    assert "K2+350" in preview_text(page, "K2+350")
    iid = save_incident(page)
    with db(server) as con:
        stake, side = con.execute("SELECT stake, side FROM incidents WHERE id = ?", (iid,)).fetchone()
    assert (stake, side) == ("K2+350", "left")


def test_the_next_incident_does_not_inherit_closed(page, server):
    open_page(page, "followup", "leader")  # a squad leader may close any crew's incident
    wait_idle(page)
    page.get_by_role("radiogroup", name="新状态").get_by_role("radio", name="已办结").click()
    page.get_by_label("复查情况 / 处理结果").fill("已清除，复查无遗留")
    page.get_by_role("button", name="保存").click()
    done = page.locator(PREVIEW).filter(has_text="已保存")
    done.wait_for(timeout=30_000)
    closed_id = int(re.search(r"#(\d+)", done.inner_text()).group(1))
    wait_idle(page)
    # the next incident's form shows its own status (open): one more tap on 保存 closes nothing
    group = page.get_by_role("radiogroup", name="新状态")
    assert group.get_by_role("radio", name="已办结").get_attribute("aria-checked") == "false"
    assert group.get_by_role("radio", checked=True).count() == 1
    page.get_by_role("button", name="保存").click()
    wait_idle(page)
    with db(server) as con:
        closed = {
            r[0]
            for r in con.execute(
                "SELECT id FROM incidents WHERE status = 'closed' AND id IN "
                "(SELECT incident_id FROM incident_events WHERE action = 'closed')"
            )
        }
    assert closed == {closed_id}


def test_a_photo_uploaded_last_comes_back_after_a_reload(page, tmp_path):
    open_page(page, "incident", "officer")
    page.get_by_label("问题描述").fill("路肩堆放砂石，约5立方米")
    page.get_by_label("问题描述").press("Tab")
    wait_idle(page)
    upload_photo(page, jpeg_file(tmp_path))
    wait_idle(page)
    page.reload()
    wait_idle(page)
    page.get_by_text("已恢复").first.wait_for(timeout=30_000)
    expect(page.get_by_label("问题描述")).to_have_value("路肩堆放砂石，约5立方米", timeout=30_000)
    page.locator("[data-testid='stImage'] img").first.wait_for(timeout=30_000)
    assert page.locator("[data-testid='stImage'] img").count() == 1


def test_free_text_is_kept_as_typed_and_times_are_local(page, server):
    text = "堆放砂石，占用路肩（约3米）：当事人称“明天清走”；已告知。"
    open_page(page, "incident", "officer")
    by_stake(page)
    type_stake(page, "K3+100")
    preview_text(page, "K3+100")
    page.get_by_label("问题描述").fill(text)
    page.get_by_label("当事人", exact=True).fill("张三（砂场）")
    page.get_by_label("当事人", exact=True).press("Tab")
    wait_idle(page)
    before = dt.datetime.now(ZoneInfo("Asia/Shanghai"))
    iid = save_incident(page)
    with db(server) as con:
        desc, party = con.execute("SELECT description, party FROM incidents WHERE id = ?", (iid,)).fetchone()
    assert (desc, party) == (text, "张三（砂场）")
    # what was saved is in view at the top of the page, with a link to it
    banner = page.locator(PREVIEW).filter(has_text=f"问题编号 {iid}")
    assert banner.is_visible() and banner.bounding_box()["y"] < page.viewport_size["height"]
    assert "K3+100" in banner.inner_text()
    page.get_by_role("link", name=f"查看问题编号 {iid}").click()
    wait_idle(page)
    page.get_by_role("heading", name="我的记录").wait_for(timeout=30_000)
    history = page.get_by_text(re.compile(r"• \d{4}-\d\d-\d\d \d\d:\d\d · ")).first
    history.wait_for(timeout=30_000)
    shown = dt.datetime.strptime(history.inner_text()[2:18], "%Y-%m-%d %H:%M").replace(
        tzinfo=ZoneInfo("Asia/Shanghai")
    )
    assert abs((shown - before).total_seconds()) < 180, (shown, before)  # local time, not UTC (8 h off)
    assert page.get_by_text(text).count() >= 1  # exactly as typed, shown as text


def test_discarding_a_draft_asks_first(page, server):
    open_page(page, "incident", "officer")
    page.get_by_label("问题描述").fill("待放弃的草稿")
    page.get_by_label("问题描述").press("Tab")
    wait_idle(page)
    page.get_by_role("button", name="放弃草稿").click()
    wait_idle(page)
    assert page.get_by_label("问题描述").input_value() == "待放弃的草稿"  # one tap did nothing yet
    page.get_by_role("button", name="取消").click()
    wait_idle(page)
    assert page.get_by_label("问题描述").input_value() == "待放弃的草稿"
    page.get_by_role("button", name="放弃草稿").click()
    page.get_by_role("button", name="确认放弃").click()
    wait_idle(page)
    expect(page.get_by_label("问题描述").last).to_have_value("", timeout=30_000)
    with db(server) as con:
        assert con.execute("SELECT count(*) FROM drafts").fetchone()[0] == 0


def test_ending_a_patrol_asks_first_and_logging_is_the_big_button(page, server):
    open_page(page, "patrol", "officer2")
    for label, text in (("巡查路线", "X001"), ("巡查人员", "李明"), ("出动车辆", "L0301")):
        pick(page, text, label)
    page.get_by_role("button", name="开始巡查").click()
    page.get_by_text("巡查进行中").wait_for(timeout=30_000)
    log = page.get_by_role("button", name="登记问题")
    end = page.get_by_role("button", name="结束巡查")
    assert log.get_attribute("kind") == "primary" and end.get_attribute("kind") != "primary"
    end.click()
    wait_idle(page)
    with db(server) as con:
        assert con.execute("SELECT count(*) FROM patrols WHERE status = 'open'").fetchone()[0] == 1
    page.get_by_role("button", name="确认结束巡查").click()
    page.get_by_text("巡查已结束").first.wait_for(timeout=30_000)
    with db(server) as con:
        assert con.execute("SELECT count(*) FROM patrols WHERE status = 'open'").fetchone()[0] == 0


def test_disabling_an_account_asks_first(page, server):
    open_page(page, "admin", "admin")
    page.get_by_text("停用、启用、重置密码").wait_for(timeout=30_000)
    page.get_by_role("combobox", name="账号").click()
    page.get_by_role("option", name="officer2").click()
    wait_idle(page)
    expect(page.get_by_role("combobox", name="账号")).to_have_value("officer2", timeout=30_000)
    wait_idle(page)
    page.get_by_role("button", name="停用账号").click()
    page.get_by_text("停用后，「officer2」").wait_for(timeout=30_000)
    with db(server) as con:
        assert con.execute("SELECT active FROM users WHERE username = 'officer2'").fetchone()[0] == 1
    page.get_by_role("button", name="确认停用").click()
    page.locator(PREVIEW).filter(has_text="officer2").wait_for(timeout=30_000)
    with db(server) as con:
        assert con.execute("SELECT active FROM users WHERE username = 'officer2'").fetchone()[0] == 0
