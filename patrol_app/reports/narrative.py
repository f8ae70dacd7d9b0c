"""The report's running text, written the way the bureau writes it (its 2021 report, section (九)):

    2021年共出动车辆260多台次，出动人员730多人次，在全区县道、乡道等公路上巡查……

Counts in running text are rounded down to two significant figures with 多 ("more than") — 263 → 260多,
734 → 730多, 7012 → 7000多 — and written exactly when they are round or small (< 100). The closure rate is a
whole percent, never 100% unless every incident is closed. Exact figures belong in the tables.
All wording comes from the catalogs (``report.narrative.*``), so the text exists in Chinese and English.
"""

from __future__ import annotations

import datetime as dt
import math

from patrol_app.domain.catalog import BY_CODE
from patrol_app.domain.numbers import percent
from patrol_app.i18n import t
from patrol_app.reports.rollup import Period, Rollup

#: Below this a count is written exactly ("联合开展交通宣传活动4次").
SMALL = 100
#: A catalog name this long or shorter is used as it is in running text.
SHORT_NAME = 6
#: Significant figures kept when rounding (263 → 260, 7012 → 7000).
SIGNIFICANT = 2


def approx(value: float) -> tuple[float | int, bool]:
    """``(shown, more)``: the figure as running text shows it and whether 多 follows.

    >>> approx(263), approx(734), approx(7012), approx(260), approx(45)
    ((260, True), (730, True), (7000, True), (260, False), (45, False))
    """
    if value < 0:
        shown, more = approx(-value)
        return -shown, more
    if value < SMALL:
        if float(value).is_integer():
            return int(value), False
        return round(float(value), 1), False
    n = math.floor(value)
    unit = 10 ** (len(str(n)) - SIGNIFICANT)
    base = n // unit * unit
    return base, base != value


def approx_text(value: float, lang: str = "zh") -> str:
    """263 → "260多" (en: "over 260"); 260 → "260"; 45 → "45"."""
    shown, more = approx(value)
    text = f"{shown:g}" if isinstance(shown, float) else str(shown)
    return t("report.approx", lang, n=text) if more else text


def percent_text(rate: float) -> str:
    """A closure rate as a whole percent, rounded half up (0.965 → "97"); never "100" unless all are closed,
    never "0" unless none."""
    pct = int(percent(rate))
    if rate < 1 and pct >= 100:
        pct = 99
    if rate > 0 and pct <= 0:
        pct = 1
    return str(pct)


def date_text(d: dt.date, lang: str = "zh", with_year: bool = True) -> str:
    key = "report.date" if with_year else "report.date_no_year"
    return t(key, lang, year=d.year, month=d.month, day=d.day)


def period_text(period: Period, lang: str = "zh") -> str:
    """ "2021年", or "2021年3月1日至6月30日"."""
    if period.is_calendar_year:
        return t("report.period_year", lang, year=period.start.year)
    return t(
        "report.period_range",
        lang,
        start=date_text(period.start, lang),
        end=date_text(period.end, lang, with_year=not period.single_year),
    )


def previous_text(period: Period, lang: str = "zh") -> str:
    if period.is_calendar_year:
        return t("report.period_year", lang, year=period.start.year - 1)
    return t("report.previous_same_period", lang)


def _list(items: list[str], lang: str) -> str:
    return t("report.list_sep", lang).join(items)


def type_label(code: str, lang: str = "zh") -> str:
    """A type's name for running text: the catalog's name, the one used everywhere."""
    v = BY_CODE.get(code)
    if v is None:
        return code
    if lang == "en":
        return v.name_en
    return v.name_zh  # one name per type, the catalog's, in the report as everywhere


def classes_text(classes: list[str], lang: str = "zh") -> str:
    names = [t("report.classes." + c, lang) for c in classes]
    if not names:
        return t("report.classes.none", lang)
    if len(names) == 1:
        return names[0]
    return t("report.narrative.classes_many", lang, classes=_list(names, lang))


def measure_label(measure: str, lang: str = "zh") -> str:
    """A measure's name (现场劝导 …); "" is 未填写; a value the catalog does not know is shown as stored."""
    key = "report.measure." + (measure or "none")
    try:
        return t(key, lang)
    except KeyError:
        return measure


def _changed(diff: float, figure: str, lang: str) -> str:
    if diff == 0:
        return t(f"report.narrative.{figure}_same", lang)
    key = f"report.narrative.{figure}_up" if diff > 0 else f"report.narrative.{figure}_down"
    return t(key, lang, n=approx_text(abs(diff), lang))


def narrative_paragraphs(current: Rollup, previous: Rollup | None = None, lang: str = "zh") -> list[str]:
    """The running text, one string per paragraph."""
    period = period_text(current.period, lang)
    if not current.has_data:
        return [t("report.narrative.empty", lang, period=period)]
    a = lambda v: approx_text(v, lang)
    paras: list[str] = []

    if current.patrols:
        text = t(
            "report.narrative.patrols",
            lang,
            period=period,
            vehicles=a(current.vehicle_trips),
            persons=a(current.person_trips),
            classes=classes_text(current.classes_patrolled, lang),
            patrols=a(current.patrols),
            km=a(current.km_patrolled),
            roads=a(len(current.roads_covered)),
        )
        if current.joint_operations:
            units = [u for u in current.joint_by_unit][:3]
            text += t("report.narrative.joint", lang, units=_list(units, lang), n=a(current.joint_operations))
    else:
        text = t("report.narrative.no_patrols", lang, period=period)
    paras.append(text)

    if current.incidents_total:
        types = [
            t("report.narrative.count_item", lang, name=type_label(c, lang), n=a(n))
            for c, n in sorted(current.incidents_by_type.items(), key=lambda kv: -kv[1])
            if n
        ]
        text = t(
            "report.narrative.incidents", lang, total=a(current.incidents_total), types=_list(types, lang)
        )
        measures = [
            t("report.narrative.count_item", lang, name=measure_label(m, lang), n=a(n))
            for m, n in current.incidents_by_measure.items()
            if n and m
        ]
        if measures:
            text += t(
                "report.narrative.measures",
                lang,
                measures=t("report.narrative.clause_sep", lang).join(measures),
            )
        rate = current.closure_rate or 0.0
        if current.incidents_open:
            text += t(
                "report.narrative.closed",
                lang,
                closed=a(current.incidents_closed),
                rate=percent_text(rate),
                open=a(current.incidents_open),
            )
        else:
            text += t("report.narrative.all_closed", lang)
        paras.append(text)

    if previous is not None and previous.has_data:
        parts = [
            _changed(current.person_trips - previous.person_trips, "persons", lang),
            _changed(current.incidents_total - previous.incidents_total, "incidents", lang),
        ]
        paras.append(
            t(
                "report.narrative.compare",
                lang,
                previous=previous_text(current.period, lang),
                persons=parts[0],
                incidents=parts[1],
            )
        )
    return paras


def narrative(current: Rollup, previous: Rollup | None = None, lang: str = "zh") -> str:
    return "\n".join(narrative_paragraphs(current, previous, lang))
