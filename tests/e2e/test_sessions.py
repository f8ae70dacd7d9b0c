"""Signed in across reloads, new tabs and server restarts; signed out for good by sign-out, a password reset or
the idle timeout (Chromium at tablet viewports, each test on its own server and store)."""

import re
import sqlite3
import subprocess
import sys

import pytest

from tests.e2e.helpers import DEMO_PASSWORD, ROOT, open_page, wait_idle

pytestmark = pytest.mark.e2e

SIGN_OUT = re.compile("退出登录")


def signed_in(pg) -> bool:  # type: ignore[no-untyped-def]
    either = pg.get_by_role("button", name=SIGN_OUT).or_(pg.get_by_role("button", name="登录"))
    either.first.wait_for(timeout=30_000)
    wait_idle(pg)
    return pg.get_by_role("button", name=SIGN_OUT).count() == 1


def session_cookie(pg) -> dict:  # type: ignore[no-untyped-def]
    return next(c for c in pg.context.cookies() if c["name"] == "patrol_session")


def test_reload_new_tab_and_restart_keep_me_signed_in_on_the_same_page(page, server):
    open_page(page, "incident", "officer")
    assert page.url.endswith("/incident")
    cookie = session_cookie(page)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert page.evaluate("() => document.cookie").find("patrol_session") == -1  # scripts cannot read it
    page.reload()
    assert signed_in(page)
    assert page.url.endswith("/incident")
    assert page.locator("h1").first.inner_text() == "登记问题"
    tab = page.context.new_page()  # a new tab of the same browser
    tab.goto(server.url + "/followup")
    assert signed_in(tab)
    tab.close()
    server.restart()
    page.goto(server.url + "/incident")
    assert signed_in(page)
    assert page.locator("h1").first.inner_text() == "登记问题"


def test_sign_out_then_reload_shows_the_sign_in_form(page):
    open_page(page, "incident", "officer")
    cookie = session_cookie(page)["value"]
    page.get_by_role("button", name=SIGN_OUT).click()
    page.get_by_role("button", name="登录").wait_for(timeout=30_000)
    for _ in range(60):  # the browser drops the HttpOnly cookie on its way through /auth/sign-out
        if all(c["name"] != "patrol_session" for c in page.context.cookies()):
            break
        page.wait_for_timeout(250)
    page.wait_for_load_state("load")
    wait_idle(page)
    assert all(c["name"] != "patrol_session" for c in page.context.cookies())
    page.reload()
    wait_idle(page)
    page.get_by_role("button", name="登录").wait_for(timeout=30_000)
    assert page.get_by_role("button", name=SIGN_OUT).count() == 0
    # the old cookie, replayed, is worthless: the session ended on the server
    page.context.add_cookies([{"name": "patrol_session", "value": cookie, "url": page.base_url}])
    page.reload()
    wait_idle(page)
    page.get_by_role("button", name="登录").wait_for(timeout=30_000)


def test_password_reset_elsewhere_ends_the_old_session(page, server):
    open_page(page, "incident", "officer")
    env = {"PATROL_DATA_DIR": str(server.data), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", "users", "reset-password", "officer", "--password-stdin"],
        input="brand-new-password\n",
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    page.reload()
    wait_idle(page)
    page.get_by_role("button", name="登录").wait_for(timeout=30_000)
    assert "请重新登录" in page.locator("[data-testid='stAlert']").first.inner_text()
    # the old password no longer works, the new one does
    page.get_by_role("textbox", name="用户名").last.fill("officer")
    page.get_by_role("textbox", name="密码").last.fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").last.click()
    page.locator("[data-testid='stAlertContentError']").first.wait_for(timeout=30_000)
    wait_idle(page)
    page.get_by_role("textbox", name="密码").last.fill("brand-new-password")
    page.get_by_role("button", name="登录").last.click()
    page.get_by_role("button", name=SIGN_OUT).wait_for(timeout=30_000)


def test_idle_timeout_signs_out_with_a_reason(page, server):
    open_page(page, "incident", "officer")
    con = sqlite3.connect(server.data / "patrol.db")
    con.execute("UPDATE web_sessions SET last_seen_at = datetime('now', '-31 minutes')")
    con.commit()
    con.close()
    page.reload()
    wait_idle(page)
    page.get_by_role("button", name="登录").wait_for(timeout=30_000)
    assert "长时间未操作" in page.locator("[data-testid='stAlert']").first.inner_text()
    # the dead cookie signs nobody in: a reload still shows the sign-in form
    page.reload()
    wait_idle(page)
    page.get_by_role("button", name="登录").last.wait_for(timeout=30_000)
    assert page.get_by_role("button", name=SIGN_OUT).count() == 0
