"""The narrative in the bureau's style: numbers as the 2021 report writes them, the closure rate as a whole
percent, the road classes actually patrolled."""

from __future__ import annotations

import datetime as dt

import pytest

from patrol_app.reports.narrative import approx_text, classes_text, narrative, percent_text, period_text
from patrol_app.reports.rollup import Period, Rollup
from patrol_app.storage.db import read_session
from tests.reports.conftest import Y, user


@pytest.mark.parametrize(
    "value, text",
    [
        (263, "260多"),  # the seed report: 2021年共出动车辆260多台次
        (734, "730多"),  # 出动人员730多人次
        (7012, "7000多"),  # 发放宣传资料7000多份
        (0, "0"),
        (4, "4"),  # small: exact (联合开展交通宣传活动4次)
        (45, "45"),
        (99, "99"),
        (100, "100"),
        (105, "100多"),
        (130, "130"),  # round: exact
        (260, "260"),
        (269, "260多"),
        (999, "990多"),
        (1000, "1000"),
        (1005, "1000多"),
        (7450, "7400多"),
        (12345, "12000多"),
        (100000, "100000"),
        (7098.7, "7000多"),  # km
        (70.7, "70.7"),
        (120.0, "120"),
        (120.4, "120多"),
    ],
)
def test_rounding_as_the_bureau_writes(value, text):
    assert approx_text(value) == text


def test_rounding_in_english():
    assert approx_text(263, "en") == "over 260"
    assert approx_text(130, "en") == "130"


@pytest.mark.parametrize(
    "rate, pct",
    [
        (0.97, "97"),
        (0.966, "97"),
        (0.9823, "98"),
        (0.996, "99"),
        (0.9999, "99"),
        (1.0, "100"),
        (0.0, "0"),
        (0.004, "1"),
        (0.5, "50"),
    ],
)
def test_closure_rate_is_a_whole_percent_never_rounded_to_all_or_nothing(rate, pct):
    assert percent_text(rate) == pct


def test_road_classes_named():
    assert classes_text(["county"]) == "县道"
    assert classes_text(["county", "township"]) == "县道、乡道等公路"
    assert classes_text(["national", "county", "township"]) == "国道、县道、乡道等公路"
    assert classes_text(["county", "township"], "en") == "county roads, township roads and other roads"


def test_period_text():
    assert period_text(Period.year(2021)) == "2021年"
    assert period_text(Period(dt.date(2021, 3, 1), dt.date(2021, 6, 30))) == "2021年3月1日至6月30日"
    assert period_text(Period(dt.date(2021, 12, 1), dt.date(2022, 1, 31))) == "2021年12月1日至2022年1月31日"
    assert period_text(Period(dt.date(2021, 3, 1), dt.date(2021, 6, 30)), "en") == "2021-03-01 to 06-30"


def test_hand_built_year_reads_like_the_bureau(hand_built):
    from patrol_app.reports.report import build_report

    with read_session() as s:
        rep = build_report(s, user(s, "manager"), Period.year(Y))
    text = rep.narrative("zh")
    paras = text.split("\n")
    assert paras[0] == (
        f"{Y}年共出动车辆8台次，出动人员17人次，在全区县道、乡道等公路上巡查4次，巡查里程70.7公里，"
        "覆盖路线3条。与交警大队、镇人民政府等单位联合开展巡查执法3次。"
    )
    # one name per type, the catalog's, as in the app, the map and the exports
    assert paras[1].startswith("共发现侵占公路路产路权等问题10起，其中堆放物品4起、摆摊设点或设置障碍2起、")
    assert "车辆超限行驶1起" in paras[1] and "建筑控制区内修建建筑物或地面构筑物1起" in paras[1]
    assert "现场劝导6起，责令限期改正1起，立案查处1起，移交其他部门1起" in paras[1]
    assert paras[1].endswith("已办结8起，办结率达80%，其余2起未办结。")
    assert paras[2] == f"与{Y - 1}年相比，出动人员增加6人次，发现问题增加6起。"
    assert "第" not in text  # no legal article is cited in the narrative
    en = rep.narrative("en")
    assert en.startswith(f"In {Y}, road administration made 8 vehicle trips and 17 person trips")


def test_demo_year_reads_like_the_2021_report(store):
    """The demo's last full year is sized like the bureau's 2021: 263 vehicle trips and 734 person trips."""
    from patrol_app.reports.report import build_report

    last = dt.date.today().year - 1
    with read_session() as s:
        rep = build_report(s, user(s, "manager"), Period.year(last))
    first = rep.paragraphs("zh")[0]
    assert first.startswith(
        f"{last}年共出动车辆260多台次，出动人员730多人次，在全区县道、乡道等公路上巡查130次"
    )
    assert "办结率达" in rep.paragraphs("zh")[1]


def test_only_county_roads_and_no_incidents():
    r = Rollup(
        period=Period.year(2020),
        patrols=3,
        vehicle_trips=3,
        person_trips=6,
        km_patrolled=42.0,
        patrols_by_road={"X001": 3},
        road_classes={"X001": "county"},
    )
    assert (
        narrative(r)
        == "2020年共出动车辆3台次，出动人员6人次，在全区县道上巡查3次，巡查里程42公里，覆盖路线1条。"
    )


def test_all_closed():
    r = Rollup(
        period=Period.year(2020),
        incidents_total=263,
        incidents_closed=263,
        incidents_by_type={"materials": 263},
        incidents_by_measure={"persuasion": 263},
    )
    text = narrative(r)
    assert text.startswith(
        "2020年未录入巡查记录。\n共发现侵占公路路产路权等问题260多起，其中堆放物品260多起。"
    )
    assert text.endswith("已全部办结，办结率达100%。")
