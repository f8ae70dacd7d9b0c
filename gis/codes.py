"""Road classes by the first letter of a road code (G national, S provincial, X county, Y township,
C village, Z special). Apart from ``gis.roads`` so that code needing only this table loads no geometry library."""

from __future__ import annotations

CLASS_BY_LETTER = {
    "G": "national",
    "S": "provincial",
    "X": "county",
    "Y": "township",
    "C": "village",
    "Z": "special",
}
