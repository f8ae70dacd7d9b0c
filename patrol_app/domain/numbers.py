"""How numbers are written for people: percentages round half up everywhere text shows them (96.5% → 97%).

Python's ``round`` and ``format`` round half to even and work on binary floats (``round(96.5) == 96``,
``0.965 * 100 == 96.49999999999999``): the one helper here works in decimal on the number as written.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction


def _decimal(value: float | int | Fraction | Decimal) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, Fraction):
        return Decimal(value.numerator) / Decimal(value.denominator)
    return Decimal(repr(float(value))) if isinstance(value, float) else Decimal(value)


def round_half_up(value: float | int | Fraction | Decimal, digits: int = 0) -> Decimal:
    """``round_half_up(96.5) == 97``; ``round_half_up(0.125, 2) == Decimal("0.13")``."""
    return _decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


def percent(rate: float | int | Fraction | Decimal, digits: int = 0, signed: bool = False) -> str:
    """A share 0–1 as a percentage number without the sign: ``percent(0.965) == "97"``,
    ``percent(0.9655, 1) == "96.6"``, ``percent(Fraction(193, 200)) == "97"``; ``signed`` adds "+" when > 0."""
    d = round_half_up(_decimal(rate) * 100, digits)
    if d == 0:
        d = abs(d)  # never "-0"
    text = f"{d:.{digits}f}"
    return ("+" + text) if signed and d > 0 else text
