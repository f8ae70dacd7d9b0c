"""The one clock: what time it is, in UTC (stored) and in the bureau's time zone (shown).

Stored times come in two kinds, each unambiguous by its column (see ``patrol_app.storage.models``): *moments*
the system records (created_at, audit and history times, sign-ins) are naive **UTC**; the *local wall-clock*
times an officer gives (a patrol's date and times, when an incident was found) are naive local times in
``PATROL_TZ``. Every time a user sees is local: moments pass through :func:`local_text` before display.
"""

from __future__ import annotations

import datetime as dt
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


def local_to_utc(wall: dt.datetime) -> dt.datetime:
    """A local wall-clock time (naive, ``PATROL_TZ``) as a naive UTC moment."""
    return wall.replace(tzinfo=tz()).astimezone(dt.UTC).replace(tzinfo=None)
