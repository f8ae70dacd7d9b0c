"""Published control lines (条例 第十一条、第十二条) in the three-verdict model: the published line replaces the
statutory minimum as the control line, road land stays road land, village roads keep no zone, the strictest road in
reach still decides near a junction (each road with its own line at its own chainage), and the text keeps the
statutory explanation and names the notice."""

import pytest

from gis.linref import locate, locate_columns
from gis.roads import RoadNetwork, RoadPiece
from gis.zones import (
    LEGAL_BASIS_PUBLISHED,
    LEGAL_BASIS_ROAD_LAND,
    LEGAL_BASIS_VILLAGE,
    ControlLine,
    zone_verdict,
)
from patrol_app.i18n import position_text, zone_text
from tests.unit.test_linref import O, east, line

NOTICE = ControlLine(0.0, 5000.0, 30.0, "麒政发〔2024〕12号", "2024-05-06")


@pytest.mark.parametrize(
    "road_class, offset, zone, basis, doc",
    [
        ("county", 7.0, "road_land", LEGAL_BASIS_ROAD_LAND, ""),  # road land stays road land
        ("county", 25.0, "control_zone", LEGAL_BASIS_PUBLISHED, NOTICE.doc_no),  # statutory line: 18 m
        ("county", 30.0, "control_zone", LEGAL_BASIS_PUBLISHED, NOTICE.doc_no),
        ("county", 31.0, "outside", LEGAL_BASIS_PUBLISHED, NOTICE.doc_no),
        ("village", 20.0, "none", LEGAL_BASIS_VILLAGE, ""),  # no statutory zone, whatever is published
    ],
)
def test_published_line_replaces_the_minimum(road_class, offset, zone, basis, doc):
    v = zone_verdict(road_class, offset, 8.0, NOTICE)
    assert (v.zone, v.legal_basis, v.published_doc) == (zone, basis, doc)
    assert v.in_control_zone is (zone == "control_zone")
    if road_class == "county":
        assert v.control_line_m == 30.0 and v.control_zone_m == 10.0  # the statutory minimum is still known


def test_a_narrower_published_line_is_used_as_published():
    v = zone_verdict("county", 15.0, 8.0, ControlLine(0.0, 100.0, 12.0, "A号", "2024-01-01"))
    assert v.zone == "outside" and v.control_line_m == 12.0


@pytest.fixture
def junction():
    """County road X001 north from O; township road Y001 east from 1 km up X001; X001 has a published line of
    40 m from K0+500 to K1+500."""
    j = east(*O, 1000, 0)
    net = RoadNetwork(
        [
            RoadPiece("X001", line(O, 0, 3000), "县道", "county", half_road_land_m=8.0),
            RoadPiece("Y001", line(j, 90, 2000), "乡道", "township", half_road_land_m=6.0),
        ]
    )
    net.routes["X001"].control_lines.append(
        ControlLine(500.0, 1500.0, 40.0, "麒政发〔2024〕12号", "2024-05-06")
    )
    return net, j


def test_strictest_road_decides_with_the_published_line_of_the_other_road(junction):
    net, j = junction
    # 30 m east of X001 and 15 m north of Y001: nearest is Y001 (outside its 11 m line); X001's statutory line
    # (18 m) would leave it outside too, but its published line (40 m) puts it in X001's control zone
    p = east(*east(*j, 30.0, 90.0), 15.0, 0.0)
    pos = locate(net, *p)
    assert pos.road_code == "Y001" and pos.zone_road_code == "X001"
    assert (
        pos.zone == "control_zone"
        and pos.control_line_m == 40.0
        and pos.published_doc == "麒政发〔2024〕12号"
    )
    cols = locate_columns(net, [p[0]], [p[1]])
    assert cols["zone"] == ["control_zone"] and cols["zone_road_code"] == ["X001"]
    # the same place along a stretch of X001 without a published line: outside
    k = east(*O, 2500, 0)
    far = east(*k, 30.0, 90.0)
    assert locate(net, *far).zone == "outside" and not locate(net, *far).published_doc


def test_text_keeps_the_statutory_explanation_and_names_the_notice(junction):
    net, _ = junction
    pos = locate(net, *east(*east(*O, 1000 - 200, 0), 25.0, 90.0))  # on X001, 200 m before the junction
    assert pos.zone == "control_zone" and pos.published_doc
    text = zone_text(pos)
    for words in (
        "不少于 10 米",
        "控制线距中线约 18 米",
        "县级人民政府划定并公告",
        "弯道",  # as without a notice
        "麒政发〔2024〕12号",
        "2024-05-06",
        "距中线 40 米",
        "第十一条、第十二条",
    ):
        assert words in text, words
    assert "麒政发〔2024〕12号" in position_text(
        pos, "en"
    ) and "published by the county government" in zone_text(pos, "en")
    on_land = locate(net, *east(*east(*O, 800, 0), 3.0, 90.0))
    assert on_land.zone == "road_land" and not on_land.published_doc
