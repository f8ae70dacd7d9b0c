"""The incident map page through Streamlit's AppTest (no browser): filters, switches, charts,
coverage, hotspots."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import streamlit as st
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from patrol_app.storage.db import read_session
from patrol_app.storage.models import Incident
from tests.apptest_helpers import run_page

PAGE = "patrol_app/ui/pages/incident_map.py"
SHOWN = {"zh": re.compile(r"地图上共 ([\d,]+) 起问题"), "en": re.compile(r"([\d,]+) incidents on the map")}


def open_map(lang: str = "zh", username: str = "manager", **state) -> AppTest:
    st.cache_data.clear()
    return run_page(PAGE, username, lang=lang, **state)


def shown(at: AppTest, lang: str = "zh") -> int:
    for c in at.caption:
        m = SHOWN[lang].search(c.value)
        if m:
            return int(m.group(1).replace(",", ""))
    raise AssertionError([c.value for c in at.caption])


def whole_range() -> tuple[dt.date, dt.date]:
    with read_session() as s:
        first = min(s.execute(select(Incident.found_at)).scalars())
    return first.date(), dt.date.today() + dt.timedelta(days=2)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_map_page_renders_with_figures(store, lang):
    at = open_map(lang, map_period=whole_range())
    assert at.title[0].value == ("问题地图" if lang == "zh" else "Incident map")
    with read_session() as s:
        total = len(list(s.execute(select(Incident.id)).scalars()))
    assert shown(at, lang) == total
    assert len(at.tabs) == 5
    coverage = at.dataframe[0].value
    assert len(coverage) == 30 and coverage.iloc[:, 4].min() == 0  # every road listed, the neglected first
    assert "Y019" in at.warning[0].value  # the demo's never-patrolled roads are named
    hotspots = at.dataframe[1].value
    assert len(hotspots) > 0 and (hotspots.iloc[:, 3] >= 3).all()


def test_filters_change_what_is_shown(store):
    at = open_map(map_period=whole_range())
    total = shown(at)
    at.multiselect(key="map_roads").set_value(["X001"]).run()
    on_road = shown(at)
    assert 0 < on_road < total
    assert "X001" in "".join(c.value for c in at.caption)
    at.multiselect(key="map_statuses").set_value(["open"]).run()
    open_on_road = shown(at)
    assert open_on_road < on_road
    at.multiselect(key="map_types").set_value(["materials"])
    at.multiselect(key="map_towns").set_value([])
    at.run()
    assert shown(at) <= open_on_road
    with read_session() as s:
        expected = len(
            list(
                s.execute(
                    select(Incident.id).where(
                        Incident.road_code == "X001",
                        Incident.status == "open",
                        Incident.type_code == "materials",
                    )
                ).scalars()
            )
        )
    assert shown(at) == expected
    quiet = dt.date.today().year - 5  # the demo holds two years
    at.date_input(key="map_period").set_value((dt.date(quiet, 1, 1), dt.date(quiet, 1, 31))).run()
    assert shown(at) == 0 and at.info  # says plainly that nothing matches
    assert not at.exception


def test_map_switches_rerun_without_errors(store):
    at = open_map(map_period=whole_range())
    n = shown(at)
    at.segmented_control(key="map_mode").set_value("heat").run()
    at.segmented_control(key="map_color_by").set_value("status").run()
    at.selectbox(key="map_zone_road").set_value("X001").run()
    at.pills(key="map_overlays").set_value(["hotspots", "coverage"]).run()
    at.segmented_control(key="map_segment").set_value(1000).run()
    assert not at.exception, at.exception
    assert shown(at) == n  # display switches do not filter
    assert "1000" in "".join(c.value for c in at.caption)


def test_bad_basemap_setting_falls_back_to_no_tiles(store, monkeypatch):
    monkeypatch.setenv("PATROL_BASEMAP", "tianditu")  # no key
    at = open_map()
    assert "PATROL_TIANDITU_KEY" in at.warning[0].value.replace("\\", "")  # Markdown-escaped on the page
    assert shown(at) >= 0
