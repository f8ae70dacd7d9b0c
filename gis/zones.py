"""Road land (公路用地) and building control zone (建筑控制区) verdicts.

Three verdicts, not two (FACTS.md §2):

- ``road_land`` — inside the road-land edge: a matter of 《公路法》第四十四条 (occupying or digging a road) and
  第四十六条 (stalls, materials, rubbish … on the road and road land), never "in the control zone";
- ``control_zone`` — between the road-land edge and the control line: 条例 第十一条 (《公路安全保护条例》) measures
  the zone **from the outer edge of road land** outward, **not less than** 国道 20 m, 省道 15 m, 县道 10 m,
  乡道 5 m, 高速公路 30 m;
- ``outside`` — beyond the control line;
- ``none`` — no statutory control zone: village roads (村道; 条例 第十一条 sets no distance for them, 第七十五条 leaves
  their management to the township government), and special-purpose roads (专用公路) beyond their road land.

With only a centreline the control line lies at half the road-land width + the zone width from the centreline.
The widths are legal minimums: a control line published by the county-level government (条例 第十一条、第十二条)
prevails, and at the inner side of curves, at interchanges and at level crossings the zone may be wider
(条例 第十一条第三款). That is why the half road-land width is set per road and the assumption used is always
reported.

Distances are to the centreline as a polyline, so a point beyond a route's end is measured to its end point: the
zone around a route's end is round (:func:`zone_buffers` draws the map band with the same rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ROAD_CLASSES = ("expressway", "national", "provincial", "county", "township", "village", "special")

#: Minimum control-zone width beyond road land, metres (条例 第十一条: "不少于"). Village and special-purpose roads
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

#: Seniority of road classes, most senior first: breaks ties between roads in reach.
CLASS_RANK = {
    c: i
    for i, c in enumerate(
        ("expressway", "national", "provincial", "county", "township", "special", "village")
    )
}

LEGAL_BASIS_ZONE = "《公路安全保护条例》第十一条"
LEGAL_BASIS_ROAD_LAND = "《中华人民共和国公路法》第三十四条、第四十四条、第四十六条"
LEGAL_BASIS_VILLAGE = "《公路安全保护条例》第十一条、第七十五条"
#: A control line published by the county-level government (条例 第十二条) prevails over the statutory minimum.
LEGAL_BASIS_PUBLISHED = "《公路安全保护条例》第十一条、第十二条"

ZONE_ROAD_LAND = "road_land"
ZONE_CONTROL = "control_zone"
ZONE_OUTSIDE = "outside"
ZONE_NONE = "none"
ZONES = (ZONE_ROAD_LAND, ZONE_CONTROL, ZONE_OUTSIDE, ZONE_NONE)

#: How strict a verdict is: near a junction the strictest over all roads in reach decides.
_SEVERITY = {ZONE_ROAD_LAND: 2, ZONE_CONTROL: 1, ZONE_OUTSIDE: 0, ZONE_NONE: 0}

# GB/T 917 [secondary]: G/S + 1–2 or 4 digits = expressway (G60, G5611, S12); 3 digits = ordinary road (G320)
_EXPRESSWAY_CODE = re.compile(r"^[GS](\d{1,2}|\d{4})[A-Z]?$")


def is_expressway_code(code: str) -> bool:
    """``G60``, ``G5611``, ``S12`` → True; ``G320``, ``S203``, ``X012`` → False."""
    return bool(_EXPRESSWAY_CODE.match(str(code or "").strip().upper()))


@dataclass(frozen=True)
class ZoneVerdict:
    """Where a point lies across a road, seen from its centreline."""

    zone: str  # road_land | control_zone | outside | none
    in_control_zone: bool  # True only for control_zone
    control_zone_m: float | None  # statutory minimum width beyond road land; None: no statutory zone
    half_road_land_m: float  # the half road-land width used
    half_road_land_assumed: bool  # True when the class default was used
    control_line_m: float | None  # distance of the control line from the centreline
    legal_basis: str
    road_class: str = ""
    offset_m: float = 0.0
    published_doc: str = ""  # the government notice whose control line was used ("" : the statutory minimum)
    published_date: str = ""

    @property
    def severity(self) -> int:
        return _SEVERITY[self.zone]


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


def half_road_land(road_class: str, half_road_land_m: float | None) -> tuple[float, bool]:
    """The half road-land width to use and whether it is the class default (an assumption)."""
    if half_road_land_m is None:
        return DEFAULT_HALF_ROAD_LAND_M.get(road_class, 6.0), True
    return float(half_road_land_m), False


def has_statutory_zone(road_class: str) -> bool:
    """Whether 条例 第十一条 gives the class a building control zone (not village or special-purpose roads)."""
    return CONTROL_ZONE_MIN_M.get(road_class) is not None


def zone_verdict(
    road_class: str,
    offset_m: float,
    half_road_land_m: float | None = None,
    published: ControlLine | None = None,
) -> ZoneVerdict:
    """Verdict for a point ``offset_m`` metres from the centreline of one road of ``road_class``.

    A control line published by the county government (``published``, 条例 第十二条) replaces the statutory
    minimum as the control line's distance; road land stays road land. It applies only to classes with a
    statutory control zone (a village road has none, whatever is published)."""
    half, assumed = half_road_land(road_class, half_road_land_m)
    width = CONTROL_ZONE_MIN_M.get(road_class)
    if width is None:
        published = None
    if published is not None:
        line: float | None = float(published.distance_m)
    else:
        line = None if width is None else half + width
    zone_basis = LEGAL_BASIS_ZONE if published is None else LEGAL_BASIS_PUBLISHED
    if road_class == "village":
        zone, basis = ZONE_NONE, LEGAL_BASIS_VILLAGE
    elif offset_m <= half:
        zone, basis = ZONE_ROAD_LAND, LEGAL_BASIS_ROAD_LAND
    elif line is None:
        zone, basis = ZONE_NONE, LEGAL_BASIS_ZONE
    elif offset_m <= line:
        zone, basis = ZONE_CONTROL, zone_basis
    else:
        zone, basis = ZONE_OUTSIDE, zone_basis
    doc, date = (
        (published.doc_no, published.doc_date)
        if published is not None and zone != ZONE_ROAD_LAND
        else ("", "")
    )
    return ZoneVerdict(
        zone, zone == ZONE_CONTROL, width, half, assumed, line, basis, road_class, float(offset_m), doc, date
    )


def verdict_key(v: ZoneVerdict) -> tuple[Any, ...]:
    """Sort key, strictest first: road land before control zone before the rest; among equals the more senior
    road (wider zone), then the nearer one. Where no road restricts the point, the nearest road speaks."""
    if v.severity == 0:
        return (0, 0, v.offset_m)
    return (-v.severity, CLASS_RANK.get(v.road_class, 99), v.offset_m)


def strictest(verdicts: list[tuple[Any, ZoneVerdict]]) -> tuple[Any, ZoneVerdict]:
    """The (road, verdict) pair that decides among all roads in reach."""
    return min(verdicts, key=lambda rv: verdict_key(rv[1]))


def zone_buffers(lines: Any, road_class: str, half_road_land_m: float | None) -> tuple[Any, Any | None]:
    """Road land and control-zone strip around metric centreline(s), drawn by the same rule as
    :func:`zone_verdict` (distance to the polyline, round at the ends): ``(road_land, control_zone | None)``."""
    v = zone_verdict(road_class, 0.0, half_road_land_m)
    land = lines.buffer(v.half_road_land_m, cap_style="round", join_style="round")
    if v.control_line_m is None:
        return land, None
    return land, lines.buffer(v.control_line_m, cap_style="round", join_style="round").difference(land)
