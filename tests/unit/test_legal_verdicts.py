"""Unit tables for the legal verdicts (issue 12): road land, control zone, outside, village roads, expressways,
the strictest road near a junction, and the same end geometry in the verdict and the map band."""

import pytest
from shapely.geometry import Point

from gis.linref import locate, locate_columns, offset_point
from gis.maps import control_zone_band
from gis.roads import RoadNetwork, RoadPiece, normalise_class, normalise_code
from gis.zones import is_expressway_code, zone_verdict
from patrol_app.i18n import position_text, zone_text
from tests.unit.test_linref import O, east, line


@pytest.mark.parametrize(
    "road_class, half, offset, zone, in_zone",
    [
        ("county", 8.0, 0.0, "road_land", False),  # on the road itself
        ("county", 8.0, 8.0, "road_land", False),  # the road-land edge belongs to road land
        ("county", 8.0, 8.1, "control_zone", True),
        ("county", 8.0, 18.0, "control_zone", True),
        ("county", 8.0, 18.1, "outside", False),
        ("township", 6.0, 5.0, "road_land", False),
        ("township", 6.0, 11.0, "control_zone", True),
        ("township", 6.0, 11.5, "outside", False),
        ("expressway", 20.0, 49.0, "control_zone", True),  # ≥ 30 m beyond road land
        ("expressway", 20.0, 51.0, "outside", False),
        ("national", 10.0, 29.9, "control_zone", True),
        ("village", 5.0, 1.0, "none", False),  # no statutory zone, on or off the road
        ("village", 5.0, 40.0, "none", False),
        ("special", 6.0, 3.0, "road_land", False),
        ("special", 6.0, 9.0, "none", False),
    ],
)
def test_verdict_table(road_class, half, offset, zone, in_zone):
    v = zone_verdict(road_class, offset, half)
    assert (v.zone, v.in_control_zone) == (zone, in_zone)


@pytest.mark.parametrize(
    "code, expressway",
    [
        ("G60", True),
        ("G5611", True),
        ("S12", True),
        ("G4", True),
        ("G320", False),
        ("S203", False),
        ("X012", False),
        ("Y003", False),
    ],
)
def test_expressway_by_code(code, expressway):
    assert is_expressway_code(code) is expressway
    assert normalise_code(code) == code  # G60 is never padded into the ordinary-road form G060
    assert (normalise_class(None, code) == "expressway") is expressway


@pytest.mark.parametrize(
    "raw, code, cls",
    [
        ("高速公路", "X001", "expressway"),
        ("国道", "G60", "expressway"),
        ("国道", "G320", "national"),
        ("expressway", "S203", "expressway"),
    ],
)
def test_expressway_by_class_field(raw, code, cls):
    assert normalise_class(raw, code) == cls


def test_expressway_zone_is_30_m():
    net = RoadNetwork([RoadPiece("G60", line(O, 0, 5000), "沪昆高速", "expressway", half_road_land_m=20.0)])
    on = east(*O, 2000, 0)
    pos = locate(net, *east(*on, 45.0, 90.0))
    assert (pos.zone, pos.control_zone_m, pos.control_line_m) == ("control_zone", 30.0, 50.0)
    assert "不少于 30 米" in position_text(pos)


@pytest.fixture
def junction():
    """County road X001 north from O; township road Y001 east from a point 1 km up X001 (a T junction)."""
    j = east(*O, 1000, 0)
    return RoadNetwork(
        [
            RoadPiece("X001", line(O, 0, 3000), "县道", "county", half_road_land_m=8.0),
            RoadPiece("Y001", line(j, 90, 2000), "乡道", "township", half_road_land_m=6.0),
        ]
    ), j


def test_junction_strictest_road_decides(junction):
    net, j = junction
    # 9 m north of Y001 (its zone ends at 11 m), 30 m from X001 (its zone ends at 18 m): Y001 decides
    p = east(*east(*j, 30.0, 90.0), 9.0, 0.0)
    pos = locate(net, *p)
    assert pos.road_code == "Y001" and pos.zone == "control_zone" and pos.zone_road_code == "Y001"
    # 16 m east of X001 and 12 m north of Y001: nearest is Y001, outside its 11 m line, but inside the county
    # road's 18 m line: X001 decides, and the text names it
    q = east(*east(*j, 16.0, 90.0), 12.0, 0.0)
    pos = locate(net, *q)
    assert pos.road_code == "Y001" and pos.stake == "K0+016"
    assert pos.zone == "control_zone" and pos.zone_road_code == "X001" and pos.control_zone_m == 10.0
    assert "按 X001" in position_text(pos)
    # on the township road's land, 12 m from X001 (in the county zone): road land is stricter
    r = east(*east(*j, 12.5, 90.0), 3.0, 0.0)
    pos = locate(net, *r)
    assert pos.zone == "road_land" and pos.zone_road_code == "Y001"
    # the batch gives the same verdicts
    cols = locate_columns(net, [p[0], q[0], r[0]], [p[1], q[1], r[1]])
    assert cols["zone"] == ["control_zone", "control_zone", "road_land"]
    assert cols["zone_road_code"] == ["Y001", "X001", "Y001"]


def test_village_text_never_says_outside():
    net = RoadNetwork([RoadPiece("C001", line(O, 0, 2000), "村道", "village")])
    pos = locate(net, *east(*east(*O, 500, 0), 20.0, 90.0))
    text = position_text(pos)
    assert pos.zone == "none" and "村道无法定建筑控制区" in text and "控制区外" not in text


def test_texts_say_minimum_and_published_line_and_assumption():
    net = RoadNetwork([RoadPiece("X001", line(O, 0, 2000), "县道", "county")])  # no half-width set
    pos = locate(net, *east(*east(*O, 500, 0), 12.0, 90.0))
    text = zone_text(pos)
    for words in (
        "不少于 10 米",
        "县级人民政府划定并公告",
        "弯道",
        "互通立交",
        "平面交叉道口",
        "按等级默认值估计",
        "公路用地半宽按 7.5 米计",
    ):
        assert words in text
    on_land = locate(net, *east(*east(*O, 500, 0), 2.0, 90.0))
    assert "在公路用地内" in zone_text(on_land) and "第四十四条、第四十六条" in zone_text(on_land)
    assert "建筑控制区内" not in zone_text(on_land).split(" · ")[0]


@pytest.mark.parametrize("beyond, sideways", [(5.0, 0.0), (15.0, 3.0), (8.0, 8.0), (25.0, 0.0)])
def test_route_end_same_geometry_in_verdict_and_band(beyond, sideways):
    net = RoadNetwork([RoadPiece("X001", line(O, 0, 2000), "县道", "county", half_road_land_m=8.0)])
    band = control_zone_band(net, "X001")
    end = east(*O, 2000, 0)
    p = east(*east(*end, beyond, 0.0), sideways, 90.0)
    pos = locate(net, *p)
    pt = Point(p)
    in_land = band.road_land.buffer(1e-9).contains(pt)
    in_zone = band.control_zone.buffer(1e-9).contains(pt)
    assert in_land == (pos.zone == "road_land")
    assert in_zone == (pos.zone == "control_zone")


def test_offset_point_helper_still_places_points(junction):
    net, _ = junction
    lon, lat = offset_point(net, "X001", 500.0, 12.0, "right")
    assert locate(net, lon, lat).offset_m == pytest.approx(12.0, abs=0.2)


@pytest.mark.parametrize(
    "rate, digits, text",
    [
        (0.965, 0, "97"),
        (0.955, 0, "96"),
        (0.9655, 1, "96.6"),
        (0.125, 1, "12.5"),
        (0.125, 0, "13"),
        (0.005, 0, "1"),
        (0.0, 0, "0"),
    ],
)
def test_percentages_round_half_up(rate, digits, text):
    from patrol_app.domain.numbers import percent

    assert percent(rate, digits) == text


def test_percentages_round_half_up_in_the_report_text_and_tables():
    from fractions import Fraction

    from patrol_app.domain.numbers import percent
    from patrol_app.reports.narrative import percent_text
    from patrol_app.reports.report import cell_text

    assert percent_text(193 / 200) == "97"  # 96.5% → 97%, not Python's 96
    assert cell_text(193 / 200, "pct") == "96.5%" and cell_text(0.12345, "pct") == "12.3%"
    assert cell_text(0.00125, "pct") == "0.1%" and cell_text(0.00135, "pct") == "0.1%"
    assert percent(Fraction(193, 200)) == "97"
