"""Counties, cities and provinces by their 6-digit administrative division code (区划代码, GB/T 2260).

Every record belongs to a county (``530302`` 麒麟区). An account's ``adcode`` is its scope: a county, a city
(``530300`` 曲靖市: every county whose code starts ``5303``) or a province (``530000`` 云南省: starting ``53``).
City and province accounts read roll-ups of their counties and write no records. Plain functions, no database.
"""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path

NAMES_FILE = Path(__file__).resolve().parent.parent / "data" / "adcodes.csv"

_ADCODE = re.compile(r"^\d{6}$")


def valid(adcode: str | None) -> bool:
    return bool(adcode) and bool(_ADCODE.match(str(adcode)))


def normalise(adcode: object) -> str:
    """A 6-digit code from what a person typed; ValueError otherwise."""
    s = str(adcode or "").strip()
    if not valid(s):
        raise ValueError(f"not a 6-digit administrative division code: {s!r}")
    return s


def level(adcode: str) -> str:
    """``province`` (530000), ``city`` (530300) or ``county`` (530302)."""
    if adcode.endswith("0000"):
        return "province"
    if adcode.endswith("00"):
        return "city"
    return "county"


def prefix(adcode: str) -> str:
    """The part of a code the counties of this scope share: all six digits of a county, four of a city, two
    of a province."""
    return {"province": adcode[:2], "city": adcode[:4]}.get(level(adcode), adcode)


def is_rollup(adcode: str) -> bool:
    """A city's or province's scope: reads its counties' records, writes none."""
    return level(adcode) != "county"


def covers(scope: str, adcode: str) -> bool:
    """The county (or narrower scope) ``adcode`` lies within ``scope``."""
    return adcode.startswith(prefix(scope))


@functools.cache
def _names() -> dict[str, tuple[str, str]]:
    with NAMES_FILE.open(encoding="utf-8") as f:
        return {r["adcode"]: (r["name_zh"], r["name_en"]) for r in csv.DictReader(f)}


def name(adcode: str | None, lang: str = "zh") -> str:
    """The division's name (麒麟区 / Qilin District); the code itself for one not in the table."""
    if not adcode:
        return ""
    names = _names().get(adcode)
    if names is None:
        return adcode
    return names[1] if lang == "en" else names[0]


def known_scopes(scope: str) -> list[str]:
    """``scope`` and every division of the table within it (its cities, its counties), in code order."""
    return sorted({scope} | {c for c in _names() if covers(scope, c)})


def known_counties(scope: str) -> list[str]:
    """The counties of the table within ``scope``, in code order."""
    return sorted(c for c in _names() if level(c) == "county" and covers(scope, c))
