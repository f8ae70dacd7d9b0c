"""Road land (公路用地) and building control zone (建筑控制区) verdicts.

条例 第十一条 (《公路安全保护条例》): the building control zone extends outward **from the outer edge of road
land**, at least 国道 20 m, 省道 15 m, 县道 10 m, 乡道 5 m (高速公路 30 m). With only a centreline, the zone's outer
line lies at: half the road-land width + the zone width from the centreline. These are legal minimums; a line
published by the county government wins (条例 第十一条、第十二条), which is why the half road-land width is set per
road and the assumption used is always reported.
"""

from __future__ import annotations

from dataclasses import dataclass

ROAD_CLASSES = ("national", "provincial", "county", "township", "village", "special")

#: Minimum control-zone width beyond road land, metres (条例 第十一条). Village and special-purpose roads
#: have no statutory minimum there.
CONTROL_ZONE_MIN_M: dict[str, float | None] = {
    "expressway": 30.0,
    "national": 20.0,
    "provincial": 15.0,
    "county": 10.0,
    "township": 5.0,
    "village": None,
    "special": None,
}

#: Assumed half road-land width from the centreline when a road has none set: half a typical roadbed of the
#: class + side ditch + the 1 m beyond the ditch (公路法 第三十四条). An assumption, always shown as such.
DEFAULT_HALF_ROAD_LAND_M: dict[str, float] = {
    "expressway": 20.0,
    "national": 10.0,
    "provincial": 9.0,
    "county": 7.5,
    "township": 6.0,
    "village": 5.0,
    "special": 6.0,
}

LEGAL_BASIS_ZONE = "《公路安全保护条例》第十一条"
#: A control line published by the county-level government prevails over the statutory minimum.
LEGAL_BASIS_PUBLISHED = "《公路安全保护条例》第十一条、第十二条"
LEGAL_BASIS_ROAD_LAND = "《中华人民共和国公路法》第三十四条"

ZONE_ROAD_LAND = "road_land"
ZONE_CONTROL = "control_zone"
ZONE_OUTSIDE = "outside"


@dataclass(frozen=True)
class ZoneVerdict:
    """Where a point lies across a road, seen from its centreline."""

    zone: str  # road_land | control_zone | outside
    in_control_zone: bool | None  # inside the building control line (road land included); None: no statutory zone
    control_zone_m: float | None  # statutory minimum width beyond road land
    half_road_land_m: float  # the half road-land width used
    half_road_land_assumed: bool  # True when the class default was used
    control_line_m: float | None  # distance of the control line from the centreline
    legal_basis: str
    published_doc: str = ""  # the government notice whose control line was used ("" : the statutory minimum)
    published_date: str = ""


@dataclass(frozen=True)
class ControlLine:
    """A building control line published by the county government (条例 第十一条、第十二条) for a stake range of a
    road: ``distance_m`` from the centreline, on both sides, from chainage ``from_m`` to ``to_m``."""

    from_m: float
    to_m: float
    distance_m: float
    doc_no: str
    doc_date: str  # ISO date of the notice

    def covers(self, chainage_m: float) -> bool:
        return self.from_m <= chainage_m <= self.to_m


def zone_verdict(
    road_class: str, offset_m: float, half_road_land_m: float | None = None, published: ControlLine | None = None
) -> ZoneVerdict:
    """Verdict for a point ``offset_m`` metres from the centreline of a road of ``road_class``; a published
    control line (``published``) replaces the statutory minimum."""
    assumed = half_road_land_m is None
    half = DEFAULT_HALF_ROAD_LAND_M.get(road_class, 6.0) if assumed else float(half_road_land_m)
    width = CONTROL_ZONE_MIN_M.get(road_class)
    if published is not None:
        line = float(published.distance_m)
        if offset_m <= half:
            zone = ZONE_ROAD_LAND
        elif offset_m <= line:
            zone = ZONE_CONTROL
        else:
            zone = ZONE_OUTSIDE
        return ZoneVerdict(zone, zone != ZONE_OUTSIDE, width, half, assumed, line, LEGAL_BASIS_PUBLISHED,
                           published.doc_no, published.doc_date)
    if offset_m <= half:
        zone = ZONE_ROAD_LAND
    elif width is not None and offset_m <= half + width:
        zone = ZONE_CONTROL
    else:
        zone = ZONE_OUTSIDE
    if width is None:
        in_zone: bool | None = None if zone != ZONE_ROAD_LAND else True
        basis = LEGAL_BASIS_ROAD_LAND
        line = None
    else:
        in_zone = zone in (ZONE_ROAD_LAND, ZONE_CONTROL)
        basis = LEGAL_BASIS_ZONE
        line = half + width
    return ZoneVerdict(zone, in_zone, width, half, assumed, line, basis)
