"""Yearly and date-range rollups of patrols and incidents, computed by GROUP BY in the database.

Every figure is one aggregate query over an indexed date range; no query loads records into Python. Dates are
local wall-clock dates in the bureau's time zone (``PATROL_TZ``), as the records store them: a patrol on
31 December and an incident found at 23:59 that day belong to that year; one found at 00:00 on 1 January to the
next. Closure figures are the incidents' status as it is now (办结情况截至统计之时).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, distinct, extract, func, select
from sqlalchemy.orm import Session

from gis.roads import CLASS_BY_LETTER
from patrol_app.domain.catalog import CATALOG
from patrol_app.domain.rules import MEASURES, Status
from patrol_app.storage.models import Incident, Patrol, PatrolRoad, RoadPieceRow

#: Road classes in the order the bureau names them (国道、省道、县道、乡道、村道、专用公路).
CLASS_ORDER = ("national", "provincial", "county", "township", "village", "special")


@dataclass(frozen=True)
class Period:
    """A closed range of local dates, ``start`` to ``end`` inclusive."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends before it starts: {self.start} – {self.end}")

    @classmethod
    def year(cls, year: int) -> "Period":
        return cls(dt.date(year, 1, 1), dt.date(year, 12, 31))

    @property
    def is_calendar_year(self) -> bool:
        return (self.start.month, self.start.day, self.end.month, self.end.day) == (1, 1, 12, 31) and \
            self.start.year == self.end.year

    @property
    def single_year(self) -> bool:
        return self.start.year == self.end.year

    @property
    def end_exclusive(self) -> dt.date:
        return self.end + dt.timedelta(days=1)

    def datetime_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """``[start 00:00, day after end 00:00)`` as naive local datetimes (how ``found_at`` is stored)."""
        return dt.datetime.combine(self.start, dt.time()), dt.datetime.combine(self.end_exclusive, dt.time())

    def previous(self) -> "Period":
        """The same dates one year earlier (同比); 29 February becomes 28 February."""
        return Period(_year_earlier(self.start), _year_earlier(self.end))

    def months(self) -> list[tuple[int, int]]:
        out, y, m = [], self.start.year, self.start.month
        while (y, m) <= (self.end.year, self.end.month):
            out.append((y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    def month_key(self, year: int, month: int) -> str:
        """``"01"``…``"12"`` within one calendar year (the JSON contract); ``"2021-12"`` across years."""
        return f"{month:02d}" if self.single_year else f"{year:04d}-{month:02d}"


def _year_earlier(d: dt.date) -> dt.date:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28)


@dataclass
class MonthFigures:
    patrols: int = 0
    vehicle_trips: int = 0
    person_trips: int = 0
    km: float = 0.0
    incidents: int = 0
    closed: int = 0


@dataclass
class Rollup:
    """The figures of one period. Dicts keep a stable order: catalog order for types, ``MEASURES`` order for
    measures, chronological for months, count (then name) for roads and towns."""

    period: Period
    patrols: int = 0
    vehicle_trips: int = 0
    person_trips: int = 0
    km_patrolled: float = 0.0
    joint_operations: int = 0
    joint_by_unit: dict[str, int] = field(default_factory=dict)
    patrols_by_road: dict[str, int] = field(default_factory=dict)
    road_classes: dict[str, str] = field(default_factory=dict)  # road code -> class, every code seen or in the network
    road_names: dict[str, str] = field(default_factory=dict)
    network_roads: list[str] = field(default_factory=list)
    incidents_total: int = 0
    incidents_closed: int = 0
    incidents_by_type: dict[str, int] = field(default_factory=dict)
    closed_by_type: dict[str, int] = field(default_factory=dict)
    incidents_by_road: dict[str, int] = field(default_factory=dict)
    closed_by_road: dict[str, int] = field(default_factory=dict)
    incidents_by_town: dict[str, int] = field(default_factory=dict)
    closed_by_town: dict[str, int] = field(default_factory=dict)
    incidents_by_measure: dict[str, int] = field(default_factory=dict)
    incidents_in_control_zone: int = 0
    months: dict[str, MonthFigures] = field(default_factory=dict)

    @property
    def incidents_open(self) -> int:
        return self.incidents_total - self.incidents_closed

    @property
    def closure_rate(self) -> float | None:
        """Closed / found, 0–1; None when nothing was found."""
        return self.incidents_closed / self.incidents_total if self.incidents_total else None

    @property
    def roads_covered(self) -> list[str]:
        return sorted(c for c, n in self.patrols_by_road.items() if n)

    @property
    def classes_patrolled(self) -> list[str]:
        """Road classes of the roads patrolled, in the bureau's order."""
        seen = {self.road_classes.get(c) or class_of_code(c) for c in self.roads_covered}
        return [c for c in CLASS_ORDER if c in seen]

    @property
    def incidents_by_month(self) -> dict[str, int]:
        return {k: m.incidents for k, m in self.months.items()}

    @property
    def has_data(self) -> bool:
        return bool(self.patrols or self.incidents_total)


def class_of_code(code: str) -> str:
    return CLASS_BY_LETTER.get(code[:1].upper(), "village") if code else "village"


def _count_desc(d: dict[str, int]) -> dict[str, int]:
    return dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))


def rollup(session: Session, period: Period) -> Rollup:
    """All figures of ``period`` from aggregate queries (no permission check: see ``build_report``)."""
    r = Rollup(period=period)
    _patrol_figures(session, period, r)
    _incident_figures(session, period, r)
    _road_facts(session, r)
    return r


def _month_expr(col: Any, period: Period) -> list[Any]:
    return [extract("year", col), extract("month", col)]


def _patrol_figures(session: Session, period: Period, r: Rollup) -> None:
    in_period = (Patrol.date >= period.start, Patrol.date <= period.end)
    joint = case((func.coalesce(Patrol.joint, "") != "", 1), else_=0)
    row = session.execute(
        select(func.count(), func.coalesce(func.sum(Patrol.vehicles), 0), func.coalesce(func.sum(Patrol.personnel), 0),
               func.coalesce(func.sum(Patrol.km), 0.0), func.coalesce(func.sum(joint), 0))
        .where(*in_period)
    ).one()
    r.patrols, r.vehicle_trips, r.person_trips = int(row[0]), int(row[1]), int(row[2])
    r.km_patrolled, r.joint_operations = round(float(row[3]), 1), int(row[4])

    r.months = {period.month_key(y, m): MonthFigures() for y, m in period.months()}
    y_col, m_col = _month_expr(Patrol.date, period)
    for y, m, n, v, p, km in session.execute(
        select(y_col, m_col, func.count(), func.coalesce(func.sum(Patrol.vehicles), 0),
               func.coalesce(func.sum(Patrol.personnel), 0), func.coalesce(func.sum(Patrol.km), 0.0))
        .where(*in_period).group_by(y_col, m_col)
    ):
        mf = r.months.setdefault(period.month_key(int(y), int(m)), MonthFigures())
        mf.patrols, mf.vehicle_trips, mf.person_trips, mf.km = int(n), int(v), int(p), round(float(km), 1)

    units = session.execute(
        select(Patrol.joint, func.count()).where(*in_period, func.coalesce(Patrol.joint, "") != "")
        .group_by(Patrol.joint)
    ).all()
    r.joint_by_unit = _count_desc({str(u): int(n) for u, n in units})

    roads = session.execute(
        select(PatrolRoad.road_code, func.count(distinct(PatrolRoad.patrol_id)))
        .join(Patrol, Patrol.id == PatrolRoad.patrol_id)
        .where(*in_period)
        .group_by(PatrolRoad.road_code)
    ).all()
    r.patrols_by_road = _count_desc({str(c): int(n) for c, n in roads})


def _incident_figures(session: Session, period: Period, r: Rollup) -> None:
    lo, hi = period.datetime_bounds()
    in_period = (Incident.found_at >= lo, Incident.found_at < hi)
    closed = func.coalesce(func.sum(case((Incident.status == Status.CLOSED.value, 1), else_=0)), 0)
    in_zone = func.coalesce(func.sum(case((Incident.in_control_zone.is_(True), 1), else_=0)), 0)
    total, n_closed, n_zone = session.execute(select(func.count(), closed, in_zone).where(*in_period)).one()
    r.incidents_total, r.incidents_closed = int(total), int(n_closed)
    r.incidents_in_control_zone = int(n_zone)

    def grouped(col: Any) -> tuple[dict[str, int], dict[str, int]]:
        rows = session.execute(select(col, func.count(), closed).where(*in_period).group_by(col)).all()
        counts = {("" if k is None else str(k)): int(n) for k, n, _ in rows}
        closes = {("" if k is None else str(k)): int(c) for k, _, c in rows}
        return counts, closes

    by_type, closed_type = grouped(Incident.type_code)
    order = [v.code for v in CATALOG] + sorted(set(by_type) - {v.code for v in CATALOG})
    r.incidents_by_type = {c: by_type.get(c, 0) for c in order}
    r.closed_by_type = {c: closed_type.get(c, 0) for c in order}

    by_road, closed_road = grouped(Incident.road_code)
    r.incidents_by_road = _count_desc(by_road)
    r.closed_by_road = {c: closed_road.get(c, 0) for c in r.incidents_by_road}

    by_town, closed_town = grouped(Incident.town)
    r.incidents_by_town = _count_desc(by_town)
    r.closed_by_town = {c: closed_town.get(c, 0) for c in r.incidents_by_town}

    by_measure, _ = grouped(Incident.measure)
    order = list(MEASURES) + sorted(set(by_measure) - set(MEASURES))
    r.incidents_by_measure = {m: by_measure.get(m, 0) for m in order}

    y_col, m_col = _month_expr(Incident.found_at, period)
    for y, m, n, c in session.execute(
        select(y_col, m_col, func.count(), closed).where(*in_period).group_by(y_col, m_col)
    ):
        mf = r.months.setdefault(period.month_key(int(y), int(m)), MonthFigures())
        mf.incidents, mf.closed = int(n), int(c)


def _road_facts(session: Session, r: Rollup) -> None:
    """Class and name of every road in the network (the network's own classes beat the code letter)."""
    for code, cls, name in session.execute(
        select(RoadPieceRow.code, func.min(RoadPieceRow.road_class), func.min(RoadPieceRow.name))
        .group_by(RoadPieceRow.code).order_by(RoadPieceRow.code)
    ):
        r.road_classes[code] = cls or class_of_code(code)
        r.road_names[code] = name or ""
        r.network_roads.append(code)
    for code in list(r.patrols_by_road) + list(r.incidents_by_road):
        r.road_classes.setdefault(code, class_of_code(code))


#: The scalar figures compared with the previous period.
COMPARED = ("patrols", "vehicle_trips", "person_trips", "km_patrolled", "roads_covered", "joint_operations",
            "incidents_total", "incidents_closed", "incidents_open", "closure_rate")


def scalar(r: Rollup, key: str) -> float | int | None:
    if key == "roads_covered":
        return len(r.roads_covered)
    return getattr(r, key)


def change(current: Rollup, previous: Rollup) -> dict[str, dict[str, Any]]:
    """``{figure: {current, previous, change, change_pct}}``; ``change_pct`` is None when the previous is 0."""
    out: dict[str, dict[str, Any]] = {}
    for key in COMPARED:
        cur, prev = scalar(current, key), scalar(previous, key)
        if cur is None or prev is None:
            diff = pct = None
        else:
            diff = cur - prev
            if isinstance(diff, float):
                diff = round(diff, 4 if key == "closure_rate" else 1)
            pct = round(diff / prev, 4) if prev and key != "closure_rate" else None
        out[key] = {"current": cur, "previous": prev, "change": diff, "change_pct": pct}
    return out
