"""Incidents for the maps: one compact columnar JavaScript object (:func:`incident_payload`), from which the
browser builds markers, clusters and heat (``templates/incident_data.js``). No folium here.

Incident maps (managers' view) stay fast at 100,000 incidents: the incidents travel as one compact columnar
JavaScript array and one popup is created on demand instead of one per marker.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gis.maps.base import NO_BASEMAP, OTHER_COLOR, STATUS_COLORS, Basemap, Labels, _esc, _label, type_colors

COORD_QUANTUM = 100_000  # 1e-5° ≈ 1.1 m: positions travel as integers
#: Descriptions ride along for popups while their distinct texts stay under this many characters.
DESCRIPTION_BUDGET_CHARS = 400_000


@dataclass
class IncidentPoints:
    """Incidents as columns (aligned arrays), WGS-84. What the map needs, nothing more."""

    ids: np.ndarray  # int64
    lon: np.ndarray
    lat: np.ndarray
    type_code: Sequence[str] | np.ndarray
    status: Sequence[str] | np.ndarray
    road_code: Sequence[str] | np.ndarray
    chainage_m: np.ndarray
    side: Sequence[str] | np.ndarray
    day: np.ndarray  # datetime64[D], local date found
    town: Sequence[str] | np.ndarray
    description: Sequence[str] | None = None
    thumbnails: Mapping[int, str] = field(default_factory=dict)  # incident id → thumbnail URL (photo hook)

    def __len__(self) -> int:
        return int(len(self.ids))

    @classmethod
    def empty(cls) -> IncidentPoints:
        e = np.zeros(0)
        return cls(
            np.zeros(0, dtype=np.int64), e, e, [], [], [], e, [], np.zeros(0, dtype="datetime64[D]"), []
        )


def _factorize(values: Sequence[str], order: Sequence[str] = ()) -> tuple[np.ndarray, list[str]]:
    """Codes and categories; categories listed in ``order`` come first, in that order, the rest sorted."""
    seen = set(values)
    cats = [c for c in order] + sorted(seen.difference(order))
    index = {v: i for i, v in enumerate(cats)}
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.int64, count=len(values))
    return codes, cats


#: The digits of the integer columns: base 64, URL-safe (nothing to escape in a script or a JSON string).
B64_DIGITS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64 = np.frombuffer(B64_DIGITS, dtype=np.uint8)


def pack_ints(a: np.ndarray) -> list[Any]:
    """An integer column as ``[lowest, width, digits]``: each value less the lowest in ``width`` base-64 digits,
    most significant first, one string for the whole column (3 characters carry what takes 6 in JSON)."""
    v = np.asarray(a, dtype=np.int64)
    if len(v) == 0:
        return [0, 1, ""]
    lo = int(v.min())
    v = v - lo
    top, width = int(v.max()), 1
    while top >= 64**width:
        width += 1
    digits = (v[:, None] >> (6 * np.arange(width - 1, -1, -1, dtype=np.int64))) & 63
    return [lo, width, _B64[digits].tobytes().decode("ascii")]


def _heat_max(x: np.ndarray, y: np.ndarray) -> float:
    """Heat intensity ceiling: the 90th percentile of incidents per ~3 km cell, so one busy cell does not
    wash out the rest and 100,000 incidents do not paint everything red."""
    if len(x) == 0:
        return 1.0
    cell = 3000  # in COORD_QUANTUM units (0.03°)
    cx = (x - x.min()) // cell
    cy = (y - y.min()) // cell
    counts = np.bincount(cx * (int(cy.max()) + 1) + cy)
    return float(max(1.0, np.percentile(counts[counts > 0], 90)))


def incident_payload(
    points: IncidentPoints,
    labels: Labels,
    bm: Basemap = NO_BASEMAP,
    color_by: str = "type",
    road_names: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The incidents as one JavaScript object literal, columnar and integer-coded (≈ 16 bytes an incident):
    positions as integers of 1e-5° from a corner, ids and days as differences, type/status/side/town packed in
    one mixed-radix integer, descriptions (while they fit a budget) as indexes into a table of distinct texts;
    every integer column written in base-64 digits (:func:`pack_ints`).

    Returns (payload, summary) where summary holds the legend rows (colour, label, count), the bounds and the
    heat layer's intensity ceiling.
    """
    n = len(points)
    ids = np.asarray(points.ids, dtype=np.int64)
    order: np.ndarray | None = None
    if n > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        order = np.argsort(ids, kind="stable")
        ids = ids[order]

    def take(seq: Any) -> Any:
        if order is None:
            return seq
        if isinstance(seq, np.ndarray):
            return seq[order]
        return [seq[i] for i in order.tolist()]

    lon, lat = bm.display_xy(
        take(np.asarray(points.lon, dtype=float)), take(np.asarray(points.lat, dtype=float))
    )
    x = np.rint(lon * COORD_QUANTUM).astype(np.int64)
    y = np.rint(lat * COORD_QUANTUM).astype(np.int64)
    x0 = int(x.min()) if n else 0
    y0 = int(y.min()) if n else 0

    tc = type_colors(labels)
    t_codes, t_cats = _factorize(take(points.type_code), list(tc))
    s_codes, s_cats = _factorize(take(points.status), list(STATUS_COLORS))
    r_codes, r_cats = _factorize(take(points.road_code))
    w_codes, w_cats = _factorize(take(points.town))
    sd_codes, sd_cats = _factorize(take(points.side), ["left", "right"])
    nt, ns, nsd = len(t_cats), len(s_cats), len(sd_cats)
    packed = t_codes + nt * (s_codes + ns * (sd_codes + nsd * w_codes))
    days = take(np.asarray(points.day, dtype="datetime64[D]")).astype(np.int64)
    d0 = int(days.min()) if n else 0
    chain = np.rint(take(np.asarray(points.chainage_m, dtype=float))).astype(np.int64)
    id_delta = np.diff(ids, prepend=ids[:1]) if n else ids

    road_names = road_names or {}
    obj: dict[str, Any] = {
        "n": n,
        "q": COORD_QUANTUM,
        "x0": x0,
        "y0": y0,
        "d0": d0,
        "i0": int(ids[0]) if n else 0,
        "radix": [nt, ns, nsd],
        "colorBy": "s" if color_by == "status" else "t",
        "types": [_esc(_label(labels, "type." + c)) for c in t_cats],
        "typeColors": [tc.get(c, OTHER_COLOR) for c in t_cats],
        "statuses": [_esc(_label(labels, "status." + c)) for c in s_cats],
        "statusColors": [STATUS_COLORS.get(c, OTHER_COLOR) for c in s_cats],
        "roads": [_esc(f"{c} {road_names.get(c, '')}".strip()) for c in r_cats],
        "towns": [_esc(c) for c in w_cats],
        "sides": [_esc(_label(labels, "side." + c)) for c in sd_cats],
        "labels": {
            k: _esc(_label(labels, "info." + k))
            for k in ("found", "road", "stake", "status", "town", "description", "photo")
        },
        "thumbs": {str(k): v for k, v in points.thumbnails.items()},
    }
    arrays = {"x": x - x0, "y": y - y0, "a": packed, "r": r_codes, "k": chain, "d": days - d0, "i": id_delta}
    if points.description is not None and n:
        e_codes, e_cats = _factorize(take(points.description))
        if sum(map(len, e_cats)) <= DESCRIPTION_BUDGET_CHARS:
            obj["descs"] = [_esc(d) for d in e_cats]
            arrays["e"] = e_codes
    head = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    body = ",".join(f'"{k}":{json.dumps(pack_ints(v), separators=(",", ":"))}' for k, v in arrays.items())
    payload = (head[:-1] + "," + body + "}").replace("</", "<\\/")

    if color_by == "status":
        codes, cats, colors, prefix = s_codes, s_cats, STATUS_COLORS, "status."
    else:
        codes, cats, colors, prefix = t_codes, t_cats, tc, "type."
    counts = np.bincount(codes, minlength=len(cats)) if n else np.zeros(len(cats), dtype=np.int64)
    legend = [
        (colors.get(c, OTHER_COLOR), _label(labels, prefix + c), int(k)) for c, k in zip(cats, counts) if k
    ]
    bounds = (
        [[float(lat.min()), float(lon.min())], [float(lat.max()), float(lon.max())]]
        if n
        else [[None, None], [None, None]]
    )
    return payload, {"legend": legend, "bounds": bounds, "heat_max": _heat_max(x, y), "n": n}


def legend_rows(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The incident legend's rows (a dot per type or status, with its count) from a payload's summary."""
    return [(c, f"{text} {k}", "dot") for c, text, k in summary["legend"]]


def legend_title(summary: dict[str, Any], labels: Labels, color_by: str) -> str:
    return _label(labels, "legend.status" if color_by == "status" else "legend.type", count=summary["n"])
