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

from patrol_app.domain.adcodes import is_rollup
from patrol_app.domain.adcodes import name as county_name
from patrol_app.domain.catalog import CATALOG
from patrol_app.domain.rules import MEASURES, Status
from patrol_app.services.record_filter import RecordFilter, adcode_condition
from patrol_app.storage.coverage import patrol_road_pairs
from patrol_app.storage.models import Incident, Patrol, RoadPieceRow

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
    def year(cls, year: int) -> Period:
        return cls(dt.date(year, 1, 1), dt.date(year, 12, 31))

    @classmethod
    def year_to_date(cls, year: int, today: dt.date | None = None) -> Period:
        """A calendar year, up to ``today`` when it is the current one: compared with the same dates a year
        earlier (1 January–today against 1 January–the same day last year), never a part-year against a whole."""
        today = today or _local_today()
        if year == today.year:
            return cls(dt.date(year, 1, 1), today)
        return cls.year(year)

    @property
    def is_calendar_year(self) -> bool:
        return (self.start.month, self.start.day, self.end.month, self.end.day) == (
            1,
            1,
            12,
            31,
        ) and self.start.year == self.end.year

    @property
    def single_year(self) -> bool:
        return self.start.year == self.end.year

    @property
    def end_exclusive(self) -> dt.date:
        return self.end + dt.timedelta(days=1)

    def datetime_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """``[start 00:00, day after end 00:00)`` as naive local datetimes (how ``found_at`` is stored)."""
        return dt.datetime.combine(self.start, dt.time()), dt.datetime.combine(self.end_exclusive, dt.time())

    def previous(self) -> Period:
        """The same dates one year earlier (同比); 29 February becomes 28 February."""
        return Period(_year_earlier(self.start), _year_earlier(self.end))

    def months(self) -> list[tuple[int, int]]:
        out, y, m = [], self.start.year, self.start.month
        while (y, m) <= (self.end.year, self.end.month):
            out.append((y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    def filter(self, **kwargs: Any) -> RecordFilter:
        """The one record filter over this period (``batch=``, … as :class:`RecordFilter` takes them)."""
        return RecordFilter(self.start, self.end, **kwargs)

    def month_key(self, year: int, month: int) -> str:
        """``"01"``…``"12"`` within one calendar year (the JSON contract); ``"2021-12"`` across years."""
        return f"{month:02d}" if self.single_year else f"{year:04d}-{month:02d}"


def _local_today() -> dt.date:
    from patrol_app.clock import local_now

    return local_now().date()


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
    road_classes: dict[str, str] = field(
        default_factory=dict
    )  # road code -> class, every code seen or in the network
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
    incidents_on_road_land: int = 0
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
    """A road's class from its code's letter (G/S/X/Y/C/Z), for codes the network does not hold."""
    from gis.codes import CLASS_BY_LETTER

    return CLASS_BY_LETTER.get(code[:1].upper(), "village") if code else "village"


def _count_desc(d: dict[str, int]) -> dict[str, int]:
    return dict(sorted(d.items(), key=lambda kv: (-kv[1], kv[0])))


def rollup(session: Session, period: Period, batch: int | None = None, county: str | None = None) -> Rollup:
    """All figures of ``period`` from aggregate queries (no permission check: see ``build_report``); with
    ``batch``, only the records of that imported ledger batch; with ``county``, of that county (or city or
    province: the roll-up of its counties)."""
    r = Rollup(period=period)
    flt = period.filter(batch=batch, county=county)
    _patrol_figures(session, period, r, flt)
    _incident_figures(session, period, r, flt)
    _road_facts(session, r, county)
    return r


def _patrol_figures(session: Session, period: Period, r: Rollup, flt: RecordFilter) -> None:
    in_period = flt.patrol_conditions()
    joint = case((func.coalesce(Patrol.joint, "") != "", 1), else_=0)
    r.months = {period.month_key(y, m): MonthFigures() for y, m in period.months()}
    month = _month_key(session, Patrol.date)
    km_total = 0.0
    for ym, n, v, p, km, j in session.execute(  # the totals are the months' sums: one pass, not two
        select(
            month,
            func.count(),
            func.coalesce(func.sum(Patrol.vehicles), 0),
            func.coalesce(func.sum(Patrol.personnel), 0),
            func.coalesce(func.sum(Patrol.km), 0.0),
            func.coalesce(func.sum(joint), 0),
        )
        .where(*in_period)
        .group_by(month)
    ):
        mf = r.months.setdefault(period.month_key(*_year_month(ym)), MonthFigures())
        mf.patrols, mf.vehicle_trips, mf.person_trips, mf.km = int(n), int(v), int(p), round(float(km), 1)
        r.patrols += int(n)
        r.vehicle_trips += int(v)
        r.person_trips += int(p)
        r.joint_operations += int(j)
        km_total += float(km)
    r.km_patrolled = round(km_total, 1)

    units = session.execute(
        select(Patrol.joint, func.count())
        .where(*in_period, func.coalesce(Patrol.joint, "") != "")
        .group_by(Patrol.joint)
    ).all()
    r.joint_by_unit = _count_desc({str(u): int(n) for u, n in units})

    pairs = patrol_road_pairs()  # the roads a patrol's track covered, else those it declared
    # the county as an expression, not the bare column: grouping by ``patrols.adcode`` itself makes SQLite drive
    # the join from patrols and scan the (unindexed) pairs once per patrol — 24 s instead of 0.05 s at 100,000
    county = func.coalesce(Patrol.adcode, "")
    roads = session.execute(
        select(county, pairs.c.road_code, func.count(distinct(pairs.c.patrol_id)))
        .select_from(pairs)
        .join(Patrol, Patrol.id == pairs.c.patrol_id)
        .where(*in_period)
        .group_by(pairs.c.road_code, county)
    ).all()
    by_road: dict[str, int] = {}
    for a, c, n in roads:
        _add(by_road, _road_key(flt.county, a, c), int(n))
    r.patrols_by_road = _count_desc(by_road)


def _incident_figures(session: Session, period: Period, r: Rollup, flt: RecordFilter) -> None:
    """Two scans of the period's incidents, each grouped by a few low-cardinality columns (types × roads ×
    status; towns × measures × months × status): the database returns at most a few thousand groups whatever
    the number of incidents, and every figure is summed from those."""
    # both scans read the covering index ``ix_incidents_report`` (county, date, the grouped columns) alone
    inc, source = Incident, Incident.__table__
    in_period = flt.incident_conditions()
    is_closed = case((inc.status == Status.CLOSED.value, 1), else_=0)
    # counted from the verdict itself: road land is not the control zone (three verdicts, not two)
    in_zone = func.coalesce(func.sum(case((inc.zone == "control_zone", 1), else_=0)), 0)
    on_land = func.coalesce(func.sum(case((inc.zone == "road_land", 1), else_=0)), 0)

    by_type: dict[str, int] = {}
    closed_type: dict[str, int] = {}
    by_road: dict[str, int] = {}
    closed_road: dict[str, int] = {}
    for adcode, code, road, closed, n, zone, land in session.execute(
        select(inc.adcode, inc.type_code, inc.road_code, is_closed, func.count(), in_zone, on_land)
        .select_from(source)
        .where(*in_period)
        .group_by(inc.adcode, inc.type_code, inc.road_code, is_closed)
    ):
        code, road, n, closed_n = (
            _s(code),
            _road_key(flt.county, adcode, _s(road)),
            int(n),
            int(n) if closed else 0,
        )
        r.incidents_total += n
        r.incidents_closed += closed_n
        r.incidents_in_control_zone += int(zone)
        r.incidents_on_road_land += int(land)
        _add(by_type, code, n)
        _add(closed_type, code, closed_n)
        _add(by_road, road, n)
        _add(closed_road, road, closed_n)
    order = [v.code for v in CATALOG] + sorted(set(by_type) - {v.code for v in CATALOG})
    r.incidents_by_type = {c: by_type.get(c, 0) for c in order}
    r.closed_by_type = {c: closed_type.get(c, 0) for c in order}
    r.incidents_by_road = _count_desc(by_road)
    r.closed_by_road = {c: closed_road.get(c, 0) for c in r.incidents_by_road}

    by_town: dict[str, int] = {}
    closed_town: dict[str, int] = {}
    by_measure: dict[str, int] = {}
    month = _month_key(session, inc.found_at)
    for town, measure, ym, closed, n in session.execute(
        select(inc.town, inc.measure, month, is_closed, func.count())
        .select_from(source)
        .where(*in_period)
        .group_by(inc.town, inc.measure, month, is_closed)
    ):
        town, n, closed_n = _s(town), int(n), int(n) if closed else 0
        _add(by_town, town, n)
        _add(closed_town, town, closed_n)
        _add(by_measure, _s(measure), n)
        y, m = _year_month(ym)
        mf = r.months.setdefault(period.month_key(y, m), MonthFigures())
        mf.incidents += n
        mf.closed += closed_n
    r.incidents_by_town = _count_desc(by_town)
    r.closed_by_town = {c: closed_town.get(c, 0) for c in r.incidents_by_town}
    order = list(MEASURES) + sorted(set(by_measure) - set(MEASURES))
    r.incidents_by_measure = {m: by_measure.get(m, 0) for m in order}


def _s(v: Any) -> str:
    return "" if v is None else str(v)


def _add(d: dict[str, int], key: str, n: int) -> None:
    d[key] = d.get(key, 0) + n


def _month_key(session: Session, col: Any) -> Any:
    """``"YYYY-MM"`` of a date or datetime column, computed in the database. SQLite stores them as ISO text, so
    a prefix is enough (and much cheaper than ``strftime``); PostgreSQL formats with ``to_char``."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        return func.substr(col, 1, 7)
    if dialect == "postgresql":
        return func.to_char(col, "YYYY-MM")
    return func.concat(extract("year", col), "-", extract("month", col))


def _year_month(key: Any) -> tuple[int, int]:
    y, m = str(key).split("-")[:2]
    return int(y), int(m)


def _road_key(county: str | None, adcode: str | None, code: str) -> str:
    """A road in the figures: its code within one county; in a city's or province's roll-up, where every county
    has its own X001, the code and the county (``X001（沾益区）``)."""
    if not county or not is_rollup(county) or not code:
        return code
    return f"{code}（{county_name(adcode or '', 'zh')}）"


def _road_facts(session: Session, r: Rollup, county: str | None = None) -> None:
    """Class and name of every road in the network (the network's own classes beat the code letter)."""
    in_county = adcode_condition(RoadPieceRow.adcode, county)
    for adcode, code, cls, name in session.execute(
        select(
            RoadPieceRow.adcode,
            RoadPieceRow.code,
            func.min(RoadPieceRow.road_class),
            func.min(RoadPieceRow.name),
        )
        .where(*([] if in_county is None else [in_county]))
        .group_by(RoadPieceRow.adcode, RoadPieceRow.code)
        .order_by(RoadPieceRow.code, RoadPieceRow.adcode)
    ):
        code = _road_key(county, adcode, code)
        r.road_classes[code] = cls or class_of_code(code)
        r.road_names[code] = name or ""
        r.network_roads.append(code)
    for code in list(r.patrols_by_road) + list(r.incidents_by_road):
        r.road_classes.setdefault(code, class_of_code(code))


#: The scalar figures compared with the previous period.
COMPARED = (
    "patrols",
    "vehicle_trips",
    "person_trips",
    "km_patrolled",
    "roads_covered",
    "joint_operations",
    "incidents_total",
    "incidents_closed",
    "incidents_open",
    "closure_rate",
)


def scalar(r: Rollup, key: str) -> float | int | None:
    if key == "roads_covered":
        return len(r.roads_covered)
    return getattr(r, key)


def change(current: Rollup, previous: Rollup) -> dict[str, dict[str, Any]]:
    """``{figure: {current, previous, change, change_pct}}``; ``change_pct`` is None when the previous is 0."""
    out: dict[str, dict[str, Any]] = {}
    for key in COMPARED:
        cur, prev = scalar(current, key), scalar(previous, key)
        if key == "closure_rate":
            cur = None if cur is None else round(cur, 4)
            prev = None if prev is None else round(prev, 4)
        if cur is None or prev is None:
            diff = pct = None
        else:
            diff = cur - prev
            if isinstance(diff, float):
                diff = round(diff, 4 if key == "closure_rate" else 1)
            pct = round(diff / prev, 4) if prev and key != "closure_rate" else None
        out[key] = {"current": cur, "previous": prev, "change": diff, "change_pct": pct}
    return out
