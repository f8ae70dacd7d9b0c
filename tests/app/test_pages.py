"""Every page through Streamlit's AppTest (no browser): renders without exceptions, in both languages,
map taps injected through session state."""

import pytest

from gis.linref import offset_point
from tests.apptest_helpers import button, run_page, user_id


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("page", [None, "patrol_app/ui/pages/locate.py", "patrol_app/ui/pages/roads.py"])
def test_every_page_renders(store, page, lang):
    at = run_page(page, lang=lang)
    assert at.title  # every page has a title from the catalog


def test_overview_figures_come_from_the_store(store):
    at = run_page()
    labels = {m.label: m.value for m in at.metric}
    assert int(labels["巡查次数"]) > 0
    assert int(labels["出动人员（人次）"]) >= 2 * int(labels["巡查次数"])


def test_roads_page_lists_the_network(store):
    at = run_page("patrol_app/ui/pages/roads.py")
    df = at.dataframe[0].value
    assert len(df) == len(store.network().codes)
    assert "X001" in set(df.iloc[:, 0])


def test_map_tap_injected_shows_stake_side_and_zone(store):
    lon, lat = offset_point(store.network(), "X002", 3250.0, 15.0, "right")
    at = run_page("patrol_app/ui/pages/locate.py", locate_point=(lon, lat, "map", None))
    text = at.success[0].value
    assert text.startswith("X002 ") and "K3+250 右侧" in text and "距中线 15.0 米" in text
    assert "在建筑控制区内" in text and "第十一条" in text


def test_tap_far_from_roads_explains_and_suggests_zooming(store):
    at = run_page("patrol_app/ui/pages/locate.py", locate_point=(104.15, 25.20, "map", None))
    assert "米" in at.warning[0].value and "放大地图" in at.warning[0].value


def test_stake_form(store):
    at = run_page("patrol_app/ui/pages/locate.py")
    at.segmented_control(key="locate_point_method").set_value("stake")
    at.run()
    find = next(b for b in at.button if b.label == "定位桩号")
    at.text_input[0].input("K3+250")
    find.click()
    at.run()
    assert (
        "X001" in at.success[0].value and "K3+250" in at.success[0].value and "未判定" in at.success[0].value
    )
    at.text_input[0].input("K3+2500")
    next(b for b in at.button if b.label == "定位桩号").click()
    at.run()
    assert "K3+250" in at.error[0].value  # the message shows what a stake looks like


def test_signed_out_sees_only_the_sign_in_page(store):
    at = run_page(as_user=None)
    assert at.title[0].value == "路政巡查日志 · 登录"
    assert [b.label for b in at.button if b.label == "登录"]


def test_sign_in_with_wrong_then_right_password(store):
    at = run_page(as_user=None)
    at.text_input[0].input("officer")
    at.text_input[1].input("wrong-password")
    next(b for b in at.button if b.label == "登录").click()
    at.run()
    assert at.error[0].value == "用户名或密码错误"
    at.text_input[1].input("patrol-demo")
    next(b for b in at.button if b.label == "登录").click()
    at.run()
    assert not at.exception
    assert at.session_state["user_id"] == user_id("officer")


def test_first_run_asks_for_the_first_administrator(tmp_path, monkeypatch):
    monkeypatch.setenv("PATROL_DATA_DIR", str(tmp_path))
    at = run_page(None, as_user=None)
    assert at.title[0].value == "首次使用：创建管理员账号"
    for i, v in enumerate(["chief", "局长", "long-enough-pw", "long-enough-pw"]):
        at.text_input[i].input(v)
    button(at, "创建管理员").click()
    at.run()
    assert not at.exception
    assert at.session_state["user_id"]
