"""Fixtures of the incident-map tests: the demo network, map labels and hand-made incidents at
known places."""

from __future__ import annotations

import numpy as np
import pytest

from gis.linref import offset_point
from gis.maps import IncidentPoints
from gis.roads import RoadNetwork, read_road_file
from patrol_app.district import DEMO_ROADS_FILE


@pytest.fixture(scope="session")
def demo_net() -> RoadNetwork:
    return RoadNetwork(read_road_file(DEMO_ROADS_FILE))


@pytest.fixture(scope="session")
def zh_labels() -> dict[str, str]:
    from patrol_app.services.mapdata import map_labels

    return map_labels("zh")


def make_points(net: RoadNetwork, n: int = 40, description: str = "路肩堆放砂石") -> IncidentPoints:
    """``n`` incidents 8 m beside X001 and Y002, alternating types, statuses and sides, ids 10, 13, 16 …"""
    rows = []
    for i in range(n):
        code = "X001" if i % 2 == 0 else "Y002"
        r = net.routes[code]
        ch = r.start_m + (i + 1) * (r.length_m / (n + 2))
        side = "left" if i % 3 else "right"
        lon, lat = offset_point(net, code, ch, 8.0, side)
        rows.append(
            (
                10 + 3 * i,
                lon,
                lat,
                ["materials", "stall", "building", "trees"][i % 4],
                "open" if i % 5 == 0 else "closed",
                code,
                ch,
                side,
                f"2025-0{1 + i % 9}-1{i % 10}",
                "越州镇" if i % 2 else "珠街街道",
            )
        )
    c = list(zip(*rows))
    return IncidentPoints(
        ids=np.array(c[0], dtype=np.int64),
        lon=np.array(c[1]),
        lat=np.array(c[2]),
        type_code=list(c[3]),
        status=list(c[4]),
        road_code=list(c[5]),
        chainage_m=np.array(c[6]),
        side=list(c[7]),
        day=np.array(c[8], dtype="datetime64[D]"),
        town=list(c[9]),
        description=[description] * n,
    )


@pytest.fixture
def points(demo_net) -> IncidentPoints:
    return make_points(demo_net)
