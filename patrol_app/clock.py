"""The one clock: what time it is, in UTC (stored) and in the bureau's time zone (shown).

Stored times come in two kinds, each unambiguous by its column (see ``patrol_app.storage.models``): *moments*
the system records (created_at, audit and history times, sign-ins) are naive **UTC**; the *local wall-clock*
times an officer gives (a patrol's date and times, when an incident was found) are naive local times in
``PATROL_TZ``. Every time a user sees is local: moments pass through :func:`local_text` before display.

The one date parser (:func:`parse_date`, :func:`parse_datetime`) is here too: the ledger import, the registers and
every command-line date (``--from``, ``--to``, ``--deadline``) read dates the same way.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from typing import Any
from zoneinfo import ZoneInfo

from patrol_app.config import get_settings


def tz() -> ZoneInfo:
    return ZoneInfo(get_settings().tz)


def utc_now() -> dt.datetime:
    """Now as a naive UTC datetime (how moments are stored)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def local_now() -> dt.datetime:
    """Now as a naive wall-clock datetime in ``PATROL_TZ``."""
    return dt.datetime.now(tz()).replace(tzinfo=None)


def to_local(moment: dt.datetime) -> dt.datetime:
    """A stored moment (naive UTC, or aware) as naive local wall-clock time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(tz()).replace(tzinfo=None)


def local_text(moment: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored moment as the user reads it (local time); '' for none."""
    return "" if moment is None else to_local(moment).strftime(fmt)


def local_today() -> dt.date:
    """Today's date in ``PATROL_TZ``."""
    return local_now().date()


def utc_stamp() -> str:
    """Now as an aware ISO 8601 UTC text (``2025-05-06T01:30:00.123456+00:00``), for manifests and sources."""
    return dt.datetime.now(dt.UTC).isoformat()


# --- the one date parser -----------------------------------------------------------------------------------------

#: ``2021-03-05``, ``2021/3/5``, ``2021.3.5``, ``2021年3月5日``, optionally followed by a time ``09:30[:15]``,
#: ``9时30分``, or ISO ``T09:30``. Full-width digits and punctuation are read as their ASCII forms.
_DATE_RE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]*(\d{1,2})\s*[:：时]\s*(\d{1,2})(?:\s*[:：分]\s*(\d{1,2}))?\s*秒?)?\s*$"
)
#: Excel's day zero (serial 1 is 1900-01-01, counting Excel's phantom 1900-02-29).
EXCEL_EPOCH = dt.datetime(1899, 12, 30)


class BadDate(ValueError):
    """Not a date this app reads; ``value`` is the text as given (normalised)."""

    def __init__(self, value: str) -> None:
        super().__init__(f"not a date: {value!r} (YYYY-MM-DD)")
        self.value = value


def parse_datetime(v: Any) -> dt.datetime:
    """A local wall-clock datetime from what a person or a spreadsheet gives: a ``datetime`` (an aware one is
    converted to ``PATROL_TZ``), a ``date``, an Excel serial number, or text in any form of ``_DATE_RE``.
    Raises :class:`BadDate`."""
    if isinstance(v, dt.datetime):
        return v if v.tzinfo is None else v.astimezone(tz()).replace(tzinfo=None)
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    if isinstance(v, (int, float)) and not isinstance(v, bool) and 20000 < v < 80000:
        return EXCEL_EPOCH + dt.timedelta(days=float(v))
    return _parse_text(str(v))


@functools.lru_cache(maxsize=4096)  # a ledger repeats its dates: 100,000 rows hold a few hundred of them
def _parse_text(text: str) -> dt.datetime:
    s = unicodedata.normalize("NFKC", text).strip()
    m = _DATE_RE.match(s)
    if not m:
        raise BadDate(s)
    y, mo, d, hh, mm, ss = (int(g) if g else 0 for g in m.groups())
    try:
        return dt.datetime(y, mo, d, hh, mm, ss)
    except ValueError:
        raise BadDate(s) from None


def parse_date(v: Any) -> dt.date:
    """A date (see :func:`parse_datetime`; a time given with it is ignored). Raises :class:`BadDate`."""
    return parse_datetime(v).date()
