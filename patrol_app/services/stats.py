"""Small read-only figures for the overview (the full yearly rollup is the report's job)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from patrol_app.domain import adcodes
from patrol_app.domain.rules import Perm
from patrol_app.services.record_filter import RecordFilter
from patrol_app.services.users import actor_scope, require
from patrol_app.storage.models import Incident, Patrol, RoadPieceRow, User


@dataclass
class YearTotals:
    year: int
    patrols: int
    vehicle_trips: int
    person_trips: int
    km: float
    incidents: int
    open_incidents: int


def default_year(years: list[int], today: dt.date | None = None) -> int:
    """The year the overview and the report open on: this year (to date) when it has records, else the latest
    year that has."""
    from patrol_app.clock import local_now

    today = today or local_now().date()
    return today.year if today.year in years else years[0]


def year_totals(
    session: Session,
    actor: User,
    year: int,
    start: dt.date | None = None,
    end: dt.date | None = None,
    county: str | None = None,
) -> YearTotals:
    """Totals of a year, or of the dates ``start``..``end`` (inclusive) within it; of the actor's county (a city
    or province account: all its counties, or ``county``)."""
    require(actor, Perm.VIEW)
    start = start or dt.date(year, 1, 1)
    end = end or dt.date(year, 12, 31)
    f = RecordFilter(start, end, county=county).for_actor(actor)
    p = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(Patrol.vehicles), 0),
            func.coalesce(func.sum(Patrol.personnel), 0),
            func.coalesce(func.sum(Patrol.km), 0.0),
        ).where(*f.patrol_conditions())
    ).one()
    i = session.execute(
        select(func.count(), func.coalesce(func.sum(case((Incident.status == "open", 1), else_=0)), 0)).where(
            *f.incident_conditions()
        )
    ).one()
    return YearTotals(year, int(p[0]), int(p[1]), int(p[2]), float(p[3] or 0.0), int(i[0]), int(i[1]))


def years_with_data(session: Session, actor: User, county: str | None = None) -> list[int]:
    require(actor, Perm.VIEW)
    f = RecordFilter(county=county).for_actor(actor)
    years = {
        d.year
        for d in session.execute(
            select(func.min(Patrol.date), func.max(Patrol.date)).where(*f.patrol_conditions())
        ).one()
        if d
    }
    if not years:
        from patrol_app.clock import local_now

        return [local_now().year]
    return list(range(max(years), min(years) - 1, -1))


def county_choices(session: Session, actor: User) -> list[str]:
    """The counties a city or province account may choose between (those of its scope in the division table
    or holding records), in code order; empty for a county account."""
    require(actor, Perm.VIEW)
    scope = actor_scope(actor)
    if not adcodes.is_rollup(scope):
        return []
    p = adcodes.prefix(scope)
    found: set[str] = set(adcodes.known_counties(scope))
    for model in (RoadPieceRow, Patrol, Incident):
        found |= set(
            session.execute(select(model.adcode).where(model.adcode.startswith(p)).distinct()).scalars()
        )
    return sorted(c for c in found if adcodes.level(c) == "county")
