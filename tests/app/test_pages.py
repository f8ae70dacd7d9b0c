"""Every page through Streamlit's AppTest (no browser): renders without exceptions, in both languages,
map taps injected through session state."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gis.linref import offset_point

APP = str(Path(__file__).resolve().parents[2] / "streamlit_app.py")


def run_page(page: str | None = None, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, at.exception
    return at


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
    at = run_page("patrol_app/ui/pages/locate.py", locate_point=(lon, lat))
    text = at.success[0].value
    assert text.startswith("X002 ") and "K3+250 右侧" in text and "距中线 15.0 米" in text
    assert "在建筑控制区内" in text and "第十一条" in text


def test_tap_far_from_roads_explains_and_suggests_zooming(store):
    at = run_page("patrol_app/ui/pages/locate.py", locate_point=(104.15, 25.20))
    assert "米" in at.warning[0].value and "放大地图" in at.warning[0].value


def test_stake_form(store):
    at = run_page("patrol_app/ui/pages/locate.py")
    at.text_input[0].input("K3+250")
    at.button[0].click()
    at.run()
    assert "X001" in at.success[0].value and "K3+250" in at.success[0].value
    at.text_input[0].input("K3+2500")
    at.button[0].click()
    at.run()
    assert "K3+250" in at.error[0].value  # the message shows what a stake looks like
