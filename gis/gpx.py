"""GPX tracks: length of a recorded patrol (for the mileage of a patrol)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _parse
from pyproj import Geod

_GEOD = Geod(ellps="WGS84")
#: A day's track logged every second is ~10 MB of GPX.
MAX_GPX_MB = 20


class GpxError(ValueError):
    key = "error.gpx"

    def __init__(self, detail: str) -> None:
        self.params = {"detail": detail}
        super().__init__(detail)


def track_points(data: bytes) -> list[np.ndarray]:
    """(lon, lat) arrays, one per track segment (or route), from GPX 1.0/1.1 bytes. Parsed with defusedxml (no
    entities, no external references: an XML bomb is refused, not expanded); at most ``MAX_GPX_MB``."""
    if len(data) > MAX_GPX_MB * 1024 * 1024:
        raise GpxError(f"the GPX file is larger than {MAX_GPX_MB} MB")
    try:
        root = _parse(data, forbid_dtd=True)
    except ET.ParseError as exc:
        raise GpxError(f"not a GPX file: {exc}") from None
    except DefusedXmlException:
        raise GpxError("the GPX file declares a DTD or entities, which are not allowed") from None
    segs: list[np.ndarray] = []
    for seg in [e for e in root.iter() if e.tag.endswith("trkseg") or e.tag.endswith("rte")]:
        pts = [
            (float(lon), float(lat))
            for p in seg
            if (p.tag.endswith("trkpt") or p.tag.endswith("rtept"))
            and (lon := p.get("lon"))
            and (lat := p.get("lat"))
        ]
        if len(pts) >= 2:
            segs.append(np.asarray(pts))
    if not segs:
        raise GpxError("the GPX file holds no track with two or more points")
    return segs


def track_length_km(data: bytes) -> float:
    """Geodesic length of all track segments, km (gaps between segments are not counted)."""
    total = 0.0
    for xy in track_points(data):
        total += float(_GEOD.line_length(xy[:, 0], xy[:, 1]))
    return total / 1000.0
