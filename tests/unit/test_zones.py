import pytest

from gis.zones import CONTROL_ZONE_MIN_M, zone_verdict


@pytest.mark.parametrize(
    "road_class, width",
    [("national", 20.0), ("provincial", 15.0), ("county", 10.0), ("township", 5.0), ("expressway", 30.0)],
)
def test_statutory_widths(road_class, width):
    # 条例 第十一条: measured from the outer edge of road land
    assert CONTROL_ZONE_MIN_M[road_class] == width


@pytest.mark.parametrize(
    "road_class, half, offset, zone, inside",
    [
        ("county", 8.0, 7.9, "road_land", False),
        ("county", 8.0, 8.1, "control_zone", True),
        ("county", 8.0, 18.0, "control_zone", True),
        ("county", 8.0, 18.1, "outside", False),
        ("township", 6.0, 10.9, "control_zone", True),
        ("township", 6.0, 11.1, "outside", False),
        ("national", 10.0, 29.0, "control_zone", True),
        ("national", 10.0, 31.0, "outside", False),
        ("provincial", 9.0, 23.5, "control_zone", True),
        ("provincial", 9.0, 24.5, "outside", False),
    ],
)
def test_verdicts(road_class, half, offset, zone, inside):
    v = zone_verdict(road_class, offset, half)
    assert v.zone == zone
    assert v.in_control_zone is inside
    assert v.control_line_m == half + CONTROL_ZONE_MIN_M[road_class]
    assert v.half_road_land_assumed is False
    assert ("第十一条" if zone != "road_land" else "第四十六条") in v.legal_basis


def test_default_half_width_is_reported_as_assumption():
    v = zone_verdict("county", 12.0)
    assert v.half_road_land_assumed is True
    assert v.half_road_land_m > 0


def test_village_roads_have_no_statutory_zone():
    for offset in (1.0, 30.0):
        v = zone_verdict("village", offset)
        assert v.control_zone_m is None and v.in_control_zone is False and v.zone == "none"
