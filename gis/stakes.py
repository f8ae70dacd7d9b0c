"""Stake numbers (桩号): ``K12+350`` is 12 km + 350 m of chainage from the route origin."""

from __future__ import annotations

import math
import re
import unicodedata

from gis.errors import StakeFormatError

_STAKE_RE = re.compile(r"^\s*K?\s*(\d+)\s*\+\s*(\d{1,3}(?:\.\d+)?)\s*M?\s*$", re.IGNORECASE)


def parse_stake(text: str | float | int) -> float:
    """Parse a stake number into chainage in metres.

    Accepts ``K3+250``, ``k3+250.5``, ``3+250``, ``K3+250m`` (full-width characters too);
    a bare number is taken as metres. Anything else raises :class:`StakeFormatError`.

    >>> parse_stake("K12+350")
    12350.0
    """
    if isinstance(text, bool):
        raise StakeFormatError(text=str(text))
    if isinstance(text, (int, float)):
        if not math.isfinite(text) or text < 0:
            raise StakeFormatError(text=str(text))
        return float(text)
    s = unicodedata.normalize("NFKC", str(text)).strip()
    m = _STAKE_RE.match(s)
    if not m:
        raise StakeFormatError(text=str(text))
    km, metres = int(m.group(1)), float(m.group(2))
    if metres >= 1000:
        raise StakeFormatError(text=str(text))
    return km * 1000.0 + metres


def format_stake(chainage_m: float, decimals: int = 0) -> str:
    """Format chainage in metres as a stake number: ``format_stake(3250.4) == "K3+250"``."""
    if chainage_m is None or not math.isfinite(chainage_m):
        raise ValueError("chainage must be a finite number")
    sign = "-" if chainage_m < 0 else ""
    value = round(abs(chainage_m), decimals)
    km = int(value // 1000)
    metres = value - km * 1000
    if decimals:
        width = 4 + decimals
        return f"{sign}K{km}+{metres:0{width}.{decimals}f}"
    return f"{sign}K{km}+{int(round(metres)):03d}"
