"""The one record filter: which incidents and patrols a map, an export, a report or a list reads.

:class:`RecordFilter` holds what a user chose (a local date range, types, roads, statuses, towns, an imported
batch, a county) and builds the SQLAlchemy WHERE terms for incidents and for patrols from it, once for every
read path. Dates are local dates (``PATROL_TZ``), both ends included; text dates are read only by
:func:`patrol_app.clock.parse_date`.

The county scoping of every read path is here too: :meth:`RecordFilter.for_actor` narrows a filter to what the
acting user may read (its county; a city or province account: all its counties, or the one it chose) and
refuses a county outside it; each service applies it before any query runs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists
from sqlalchemy.sql.elements import ColumnElement

from patrol_app.clock import parse_date
from patrol_app.domain import adcodes
from patrol_app.services.errors import PermissionDenied
from patrol_app.storage.models import Incident, Patrol, PatrolRoad, User
from patrol_app.storage.spatial import check_bbox, in_box, parse_bbox

__all__ = ["RecordFilter", "adcode_condition"]


def _as_date(v: Any) -> dt.date | None:
    if v is None or v == "":
        return None
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return v
    return parse_date(v)  # raises clock.BadDate


def adcode_condition(column: Any, county: str | None) -> ColumnElement[bool] | None:
    """``column`` within ``county``: equal to a county's adcode, else starting with a city's four digits or a
    province's two — written as a range (``'5303' <= adcode < '5304'``), which an index answers on every database,
    where ``LIKE '5303%'`` is not on SQLite. None for no restriction."""
    if not county:
        return None
    p = adcodes.prefix(county)
    if len(p) == 6:
        return column == p
    upper = p[:-1] + chr(ord(p[-1]) + 1)  # the codes are digits: '5303' → '5304', '59' → '5:'
    return and_(column >= p, column < upper)


@dataclass(frozen=True)
class RecordFilter:
    """What to read. Empty tuples (and None) mean "all"; dates are local dates, both ends included."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    types: tuple[str, ...] = ()
    roads: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    towns: tuple[str, ...] = ()
    batch: int | None = None  # only the records of this imported ledger batch
    #: a county (530302), or every county of a city (530300) or province (530000); None: the reader's scope
    county: str | None = None
    #: only incidents within this box: (west, south, east, north), WGS-84 degrees, edges included; text
    #: ``"W,S,E,N"`` is read by :func:`patrol_app.storage.spatial.parse_bbox` (BadBox, a ValueError)
    bbox: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        # text dates (a command line, a query string) are read by the one date parser
        object.__setattr__(self, "date_from", _as_date(self.date_from))
        object.__setattr__(self, "date_to", _as_date(self.date_to))
        for name in ("types", "roads", "statuses", "towns"):
            v = getattr(self, name)
            if isinstance(v, str):
                v = (v,) if v else ()
            object.__setattr__(self, name, tuple(v or ()))
        if self.bbox is not None:
            box = parse_bbox(self.bbox) if isinstance(self.bbox, str) else check_bbox(self.bbox)
            object.__setattr__(self, "bbox", box)
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError(f"period ends before it starts: {self.date_from} – {self.date_to}")

    @classmethod
    def for_year(cls, year: int, **kwargs: Any) -> RecordFilter:
        return cls(dt.date(year, 1, 1), dt.date(year, 12, 31), **kwargs)

    @classmethod
    def year(cls, year: int, **kwargs: Any) -> RecordFilter:
        return cls.for_year(year, **kwargs)

    def replace(self, **changes: Any) -> RecordFilter:
        return dataclasses.replace(self, **changes)

    def dates_only(self) -> RecordFilter:
        """The same period (and county), nothing else."""
        return RecordFilter(self.date_from, self.date_to, county=self.county)

    def for_actor(self, actor: User) -> RecordFilter:
        """This filter within what ``actor`` may read: without a county, the actor's scope; a county (or city)
        outside it is refused (PermissionDenied). The command line's own account reads any county it names."""
        from patrol_app.services.users import actor_scope, is_operator

        scope = actor_scope(actor)
        if self.county is None:
            return self.replace(county=scope)
        county = adcodes.normalise(self.county)
        if not is_operator(actor) and not adcodes.covers(scope, county):
            raise PermissionDenied(actor.username, f"county {county}")
        return self if county == self.county else self.replace(county=county)

    # --- WHERE terms ------------------------------------------------------------------------------------------

    def incident_conditions(
        self, found_at: ColumnElement[dt.datetime] | None = None, adcode: Any = None
    ) -> list[ColumnElement[bool]]:
        """WHERE terms on incidents (``found_at``, ``adcode``: the expressions to compare dates and the county
        with, default the columns)."""
        found = Incident.found_at if found_at is None else found_at
        cond: list[ColumnElement[bool]] = []
        county = adcode_condition(Incident.adcode if adcode is None else adcode, self.county)
        if county is not None:
            cond.append(county)
        if self.date_from:
            cond.append(found >= dt.datetime.combine(self.date_from, dt.time()))
        if self.date_to:
            cond.append(found < dt.datetime.combine(self.date_to + dt.timedelta(days=1), dt.time()))
        for column, values in (
            (Incident.type_code, self.types),
            (Incident.road_code, self.roads),
            (Incident.status, self.statuses),
            (Incident.town, self.towns),
        ):
            if values:
                cond.append(column.in_(values))
        if self.batch is not None:
            cond.append(Incident.import_batch_id == self.batch)
        if self.bbox is not None:
            # PostGIS: geom && envelope (GiST index); elsewhere lon/lat BETWEEN
            cond.append(in_box(Incident.lon, Incident.lat, self.bbox))
        return cond

    def patrol_conditions(self, roads: bool = True) -> list[ColumnElement[bool]]:
        """Patrols in the period (and, unless ``roads`` is False, on the chosen roads); type, status, town and
        box do not apply to patrols."""
        cond: list[ColumnElement[bool]] = []
        county = adcode_condition(Patrol.adcode, self.county)
        if county is not None:
            cond.append(county)
        if self.date_from:
            cond.append(Patrol.date >= self.date_from)
        if self.date_to:
            cond.append(Patrol.date <= self.date_to)
        if roads and self.roads:
            cond.append(
                exists().where(PatrolRoad.patrol_id == Patrol.id, PatrolRoad.road_code.in_(self.roads))
            )
        if self.batch is not None:
            cond.append(Patrol.import_batch_id == self.batch)
        return cond

    def audit_dict(self) -> dict[str, Any]:
        """The chosen filters as JSON values for the audit trail (only those set)."""
        return {
            k: (v.isoformat() if isinstance(v, dt.date) else list(v) if isinstance(v, tuple) else v)
            for k, v in vars(self).items()
            if v
        }
