"""Linear referencing on small networks built in code (geodesic distances as the reference)."""

import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import LineString

from gis.errors import NoRoadInReachError, StakeOutOfRangeError, UnknownRoadError
from gis.linref import locate, locate_arrays, locate_columns, offset_point, stake_to_point
from gis.roads import RoadNetwork, RoadPiece, normalise_class, normalise_code, pieces_from_features

GEOD = Geod(ellps="GRS80")
O = (103.80, 25.45)  # origin near Qilin


def east(lon, lat, metres, az=90.0):
    x, y, _ = GEOD.fwd(lon, lat, az, metres)
    return (x, y)


def line(start, az, length, step=500.0):
    pts = [start]
    while length > 0:
        d = min(step, length)
        pts.append(east(*pts[-1], d, az))
        length -= d
    return LineString(pts)


@pytest.fixture
def straight():
    """X001 due north from O (a meridian: straight in any projection), 10 km, digitised south → north."""
    return RoadNetwork([RoadPiece("X001", line(O, 0, 10_000), "南北路", "county", half_road_land_m=8.0)])


@pytest.mark.parametrize("side, az", [("left", 270.0), ("right", 90.0)])  # facing north: west is left
def test_side_and_offset(straight, side, az):
    on_road = east(*O, 3250, 0)
    p = east(*on_road, 12.0, az)
    pos = locate(straight, *p)
    assert pos.road_code == "X001"
    assert pos.side == side
    assert pos.offset_m == pytest.approx(12.0, abs=0.2)
    assert pos.chainage_m == pytest.approx(3250, abs=1.0)
    assert pos.stake == "K3+250"
    # 8 m road land + 10 m county zone: 12 m is inside the control zone, beyond road land
    assert pos.zone == "control_zone" and pos.in_control_zone is True and pos.control_zone_m == 10.0
    assert pos.label() == f"X001 K3+250 {'左侧' if side == 'left' else '右侧'}"


def test_outside_zone_and_max_distance(straight):
    p = east(*east(*O, 5000, 0), 40.0)
    assert locate(straight, *p).in_control_zone is False
    with pytest.raises(NoRoadInReachError):
        locate(straight, *east(*east(*O, 5000, 0), 150.0))
    assert locate(straight, *east(*east(*O, 5000, 0), 150.0), max_distance=200).offset_m == pytest.approx(
        150, abs=0.2
    )


def test_multi_part_route_with_reversed_piece_has_one_continuous_chainage():
    a = line(O, 90, 4000)  # 0 → 4 km, eastward
    mid = a.coords[-1]
    b_fwd = line(mid, 90, 6000)  # 4 → 10 km
    b = LineString(list(b_fwd.coords)[::-1])  # digitised backwards
    net = RoadNetwork([RoadPiece("X002", a, "", "county"), RoadPiece("X002", b, "", "county")])
    r = net.route("X002")
    assert r.start_m == 0 and r.end_m == pytest.approx(10_000, abs=2)
    assert len(r.parts) == 2
    pos = locate(net, *east(*east(*O, 7000), 5.0, 0.0))  # north of the second piece
    assert pos.chainage_m == pytest.approx(7000, abs=2)
    assert pos.side == "left"  # facing east, as the first piece runs


def test_pieces_listed_out_of_order_still_chain():
    a = line(O, 90, 3000)
    b = line(a.coords[-1], 90, 3000)
    c = line(b.coords[-1], 90, 3000)
    net = RoadNetwork([RoadPiece("X003", g, "", "county") for g in (a, c, b)])
    assert locate(net, *east(*O, 7500)).chainage_m == pytest.approx(7500, abs=2)


def test_route_direction_follows_first_piece_when_it_is_reversed():
    a = line(O, 90, 4000)
    b = line(a.coords[-1], 90, 4000)
    net = RoadNetwork(
        [
            RoadPiece("X004", LineString(list(a.coords)[::-1]), "", "county"),
            RoadPiece("X004", LineString(list(b.coords)[::-1]), "", "county"),
        ]
    )
    # both digitised west-ward: chainage grows westward from the east end
    pos = locate(net, *east(*O, 1000))
    assert pos.chainage_m == pytest.approx(7000, abs=2)


def test_non_zero_start_stake():
    net = RoadNetwork([RoadPiece("Y001", line(O, 180, 5000), "", "township", start_m=12_000)])
    pos = locate(net, *east(*O, 2350, 180))
    assert pos.stake == "K14+350"
    lon, lat = stake_to_point(net, "Y001", "K14+350")
    assert GEOD.inv(lon, lat, *east(*O, 2350, 180))[2] < 1.0
    with pytest.raises(StakeOutOfRangeError):
        stake_to_point(net, "Y1", "K11+999")
    with pytest.raises(StakeOutOfRangeError):
        stake_to_point(net, "Y001", "K17+100")


def test_pieces_with_their_own_start_stakes_keep_them():
    a = line(O, 90, 3000)
    b = line(east(*O, 5000), 90, 3000)  # a gap: the road continues later at K5+000
    net = RoadNetwork(
        [RoadPiece("X005", b, "", "county", start_m=5000), RoadPiece("X005", a, "", "county", start_m=0)]
    )
    assert locate(net, *east(*O, 6000)).chainage_m == pytest.approx(6000, abs=2)
    assert locate(net, *east(*O, 1000)).chainage_m == pytest.approx(1000, abs=2)
    with pytest.raises(StakeOutOfRangeError):
        stake_to_point(net, "X005", "K4+000")  # in the gap


def test_nearest_of_two_roads_and_restricting_to_a_road():
    x = RoadPiece("X001", line(O, 90, 5000), "", "county")
    y = RoadPiece("Y001", line(east(*O, 60, 0), 90, 5000), "", "township")  # parallel, 60 m north
    net = RoadNetwork([x, y])
    p = east(*east(*O, 2000), 20, 0)
    assert locate(net, *p).road_code == "X001"
    assert locate(net, *p, road_code="Y001").road_code == "Y001"
    with pytest.raises(UnknownRoadError):
        locate(net, *p, road_code="X999")


def test_offset_point_round_trip(straight):
    for side in ("left", "right"):
        pos = locate(straight, *offset_point(straight, "X001", 4321.0, 9.5, side))
        assert (pos.side, pos.chainage_m, pos.offset_m) == (
            side,
            pytest.approx(4321, abs=0.2),
            pytest.approx(9.5, abs=0.1),
        )


def test_vectorised_batch_matches_single(straight):
    rng = np.random.default_rng(1)
    ch = rng.uniform(0, 10_000, 200)
    pts = [offset_point(straight, "X001", c, rng.uniform(1, 80), rng.choice(["left", "right"])) for c in ch]
    lon = np.array([p[0] for p in pts] + [104.5])
    lat = np.array([p[1] for p in pts] + [25.0])
    cols = locate_columns(straight, lon, lat)
    assert cols["road_code"][-1] is None
    for i in range(0, 200, 17):
        one = locate(straight, lon[i], lat[i])
        assert (cols["stake"][i], cols["side"][i], cols["offset_m"][i]) == (one.stake, one.side, one.offset_m)
    b = locate_arrays(straight, lon, lat)
    assert b.found.sum() == 200


@pytest.mark.parametrize(
    "raw, code",
    [
        ("X012", "X012"),
        ("x12", "X012"),
        (" Y 3 ", "Y003"),
        ("G320", "G320"),
        ("Ｓ101", "S101"),
        ("C1234", "C1234"),
    ],
)
def test_normalise_code(raw, code):
    assert normalise_code(raw) == code


@pytest.mark.parametrize("raw", ["", "K12", "X", "12", "XX12", None])
def test_normalise_code_rejects(raw):
    with pytest.raises(ValueError):
        normalise_code(raw)


@pytest.mark.parametrize(
    "raw, code, cls",
    [
        (None, "X001", "county"),
        ("", "Y002", "township"),
        ("县道", "Y002", "county"),
        ("乡道", "X001", "township"),
        ("national", "X001", "national"),
        (None, "C003", "village"),
        (None, "Z001", "special"),
        ("省道", "S101", "provincial"),
    ],
)
def test_class_from_field_or_letter(raw, code, cls):
    assert normalise_class(raw, code) == cls


def test_field_names_recognised_in_chinese():
    feats = [
        (
            line(O, 90, 1000),
            {"路线编号": "x7", "路线名称": "测试路", "行政等级": "县道", "起点桩号": "K2+000"},
        )
    ]
    (p,) = pieces_from_features(feats)
    assert (p.code, p.name, p.road_class, p.start_m) == ("X007", "测试路", "county", 2000.0)


def test_unknown_road_code_named():
    net = RoadNetwork([RoadPiece("X001", line(O, 90, 1000), "", "county")])
    with pytest.raises(UnknownRoadError, match="X404"):
        net.route("X404")
