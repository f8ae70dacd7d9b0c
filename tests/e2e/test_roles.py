"""Roles in Chromium at tablet viewports: each role signs in and sees only its pages; the manager follows cases
but cannot open one; an officer opens a case and cannot decide it; a reviewer who investigated is told why not."""

import pytest

from patrol_app.domain.rules import allowed
from patrol_app.i18n import t
from patrol_app.ui.nav import PAGES
from tests.e2e.helpers import open_page, pick, wait_idle

pytestmark = pytest.mark.e2e

ROLE_OF = {
    "officer": "officer",
    "leader": "squad_leader",
    "reviewer": "reviewer",
    "manager": "manager",
    "admin": "admin",
}


def nav_labels(pg) -> list[str]:  # type: ignore[no-untyped-def]
    links = pg.locator("[data-testid='stTopNavLink']")
    links.first.wait_for(timeout=30_000)
    # each link is "<material icon name>\n\n<title>": keep the title
    return [links.nth(i).inner_text().split("\n")[-1].strip() for i in range(links.count())]


def expected_labels(username: str) -> list[str]:
    return [t(p.title_key, "zh") for p in PAGES if allowed(ROLE_OF[username], p.perm)]


@pytest.mark.parametrize("username", list(ROLE_OF))
def test_each_role_sees_only_its_pages(page, username):
    open_page(page, "", username)
    labels = nav_labels(page)
    assert labels == expected_labels(username)
    assert ("管理" in labels) == (username == "admin")
    assert "案件" in labels
    # every link the role sees is visible on the tablet, none hidden in an overflow menu
    links = page.locator("[data-testid='stTopNavLink']")
    assert all(links.nth(i).is_visible() for i in range(links.count()))


def test_officer_typing_the_admin_address_gets_the_overview(page):
    open_page(page, "admin", "officer")
    assert page.locator("h1").first.inner_text() != "系统管理"
    assert "管理" not in nav_labels(page)


def test_manager_follows_cases_but_cannot_open_one(page):
    open_page(page, "cases", "manager")
    page.get_by_role("heading", name="案件办理").wait_for(timeout=30_000)
    assert page.get_by_text("立案", exact=True).count() == 0  # no 立案 section, no 立案 button
    assert page.get_by_role("button", name="立案").count() == 0


def test_officer_opens_a_case_but_cannot_decide_it(page):
    incident = "2"  # each test has a store of its own
    open_page(page, f"cases?incident={incident}", "officer2")
    page.get_by_role("spinbutton", name="问题编号").wait_for(timeout=30_000)
    assert page.get_by_role("spinbutton", name="问题编号").input_value() == incident
    # 王芳 (officer2) is preselected; a 协勤 alone beside her is refused, citing article 42
    pick(page, "吴刚")
    page.get_by_role("button", name="立案").click()
    error = page.locator("[data-testid='stAlertContentError']")
    error.wait_for(timeout=30_000)
    assert "第四十二条" in error.inner_text()
    widget = page.locator("[data-testid='stMultiSelect']").first
    widget.locator("input").click()
    page.keyboard.press("Backspace")  # take 吴刚, the last one chosen, off again
    page.keyboard.press("Escape")
    wait_idle(page)
    assert widget.locator("[data-baseweb='tag']").filter(has_text="吴刚").count() == 0
    pick(page, "赵磊")
    page.get_by_role("button", name="立案").click()
    ok = page.locator("[data-testid='stAlertContentSuccess']").filter(has_text="已立案")
    ok.wait_for(timeout=30_000)
    # the officer sees the case, with the certificate numbers, and no review or decision form
    assert page.get_by_text("53030201003").count() >= 1
    assert page.get_by_role("button", name="作出决定").count() == 0
    assert page.get_by_role("button", name="审核通过").count() == 0
