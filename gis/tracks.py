"""Patrol tracks: from recorded positions to the line driven, its length and the stretches of road it covered.

Pure: numpy, shapely, pyproj and the road network; no database.

- Positions worse than ``max_accuracy_m`` are left out, and so are steps under ``MIN_STEP_M`` (GPS jitter while
  standing still would otherwise add kilometres).
- A track breaks into pieces where the time between two positions exceeds ``MAX_GAP`` (the page was closed) or
  where the speed between them is impossible (``MAX_SPEED_KMH``: a wild fix); a gap is not driven distance.
- Coverage: each step whose two ends lie on the same road within ``COVER_DISTANCE_M`` of its centreline, and
  whose chainage advances about as far as the step is long, covers that road between the two chainages.
  Stretches on one road closer than ``MERGE_GAP_M`` are merged; those shorter than ``MIN_COVER_M`` (crossing a
  road at a junction) are dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Geod

from gis.linref import locate_arrays
from gis.roads import RoadNetwork
from gis.stakes import format_stake

_GEOD = Geod(ellps="WGS84")

MIN_STEP_M = 5.0
MAX_GAP = dt.timedelta(minutes=10)
MAX_SPEED_KMH = 200.0
COVER_DISTANCE_M = 30.0
MERGE_GAP_M = 200.0
MIN_COVER_M = 100.0
LINE_TOLERANCE_DEG = 0.00001  # ~1 m: the stored line is for drawing


@dataclass(frozen=True)
class Fix:
    lon: float
    lat: float
    t: dt.datetime | None = None
    accuracy_m: float | None = None
    seg: int = 0


@dataclass(frozen=True)
class Stretch:
    """A covered stretch of one road, chainage in metres."""

    road_code: str
    from_m: float
    to_m: float

    @property
    def km(self) -> float:
        return (self.to_m - self.from_m) / 1000.0

    def as_dict(self) -> dict[str, object]:
        return {
            "road_code": self.road_code,
            "from_m": round(self.from_m, 1),
            "to_m": round(self.to_m, 1),
            "from_stake": format_stake(self.from_m),
            "to_stake": format_stake(self.to_m),
            "km": round(self.km, 2),
        }


def _step_m(a: Fix, b: Fix) -> float:
    return float(_GEOD.inv(a.lon, a.lat, b.lon, b.lat)[2])


def pieces(fixes: Sequence[Fix], max_accuracy_m: float) -> list[np.ndarray]:
    """The track as pieces of (lon, lat) arrays, in recorded order (see the module docstring)."""
    out: list[np.ndarray] = []
    cur: list[Fix] = []

    def flush() -> None:
        if len(cur) >= 2:
            out.append(np.array([(f.lon, f.lat) for f in cur]))
        cur.clear()

    for f in fixes:
        if f.accuracy_m is not None and f.accuracy_m > max_accuracy_m:
            continue
        if not (np.isfinite(f.lon) and np.isfinite(f.lat)):
            continue
        if cur:
            last = cur[-1]
            if f.seg != last.seg:
                flush()
            else:
                d = _step_m(last, f)
                if last.t is not None and f.t is not None:
                    secs = (f.t - last.t).total_seconds()
                    if f.t - last.t > MAX_GAP:
                        flush()
                    elif secs > 0 and d / secs * 3.6 > MAX_SPEED_KMH:
                        continue  # a wild fix: skip it, keep the piece
                if cur and d < MIN_STEP_M:
                    continue
        cur.append(f)
    flush()
    return out


def length_km(track: Sequence[np.ndarray]) -> float:
    """Geodesic length of the pieces (gaps between them not counted)."""
    return sum(float(_GEOD.line_length(xy[:, 0], xy[:, 1])) for xy in track) / 1000.0


def simplified_line(track: Sequence[np.ndarray]) -> list[list[list[float]]]:
    """The pieces for drawing: simplified to ~1 m, coordinates rounded to 6 decimals."""
    out = []
    for xy in track:
        line = shapely.simplify(shapely.linestrings(xy), LINE_TOLERANCE_DEG)
        out.append([[round(x, 6), round(y, 6)] for x, y in shapely.get_coordinates(line)])
    return out


def coverage(
    net: RoadNetwork,
    track: Sequence[np.ndarray],
    max_distance_m: float = COVER_DISTANCE_M,
    merge_gap_m: float = MERGE_GAP_M,
    min_len_m: float = MIN_COVER_M,
) -> list[Stretch]:
    """Stretches of road covered by the track, by road code then chainage."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for xy in track:
        b = locate_arrays(net, xy[:, 0], xy[:, 1], max_distance_m)
        mx, my = net.to_metric(xy[:, 0], xy[:, 1])
        step = np.hypot(np.diff(mx), np.diff(my))
        same = b.found[:-1] & b.found[1:] & (b.route_index[:-1] == b.route_index[1:])
        c0, c1 = b.chainage_m[:-1], b.chainage_m[1:]
        along = np.abs(c1 - c0)
        ok = same & (along <= step * 1.5 + 2 * max_distance_m)
        for i in np.flatnonzero(ok):
            code = net.codes[int(b.route_index[i])]
            lo, hi = sorted((float(c0[i]), float(c1[i])))
            spans.setdefault(code, []).append((lo, hi))
    out: list[Stretch] = []
    for code in sorted(spans):
        merged: list[list[float]] = []
        for lo, hi in sorted(spans[code]):
            if merged and lo - merged[-1][1] <= merge_gap_m:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        out.extend(Stretch(code, lo, hi) for lo, hi in merged if hi - lo >= min_len_m)
    return out
