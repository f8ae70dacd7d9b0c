"""The annual (or any date-range) report: rollup of the period and of the year before, the narrative, the
tables and the stable JSON. Writers (docx, xlsx, md) and the app page all render what is built here."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from patrol_app.clock import local_now, local_today
from patrol_app.config import get_settings
from patrol_app.domain.catalog import BY_CODE
from patrol_app.domain.numbers import percent
from patrol_app.domain.rules import Perm
from patrol_app.i18n import t
from patrol_app.reports.narrative import (
    date_text,
    measure_label,
    narrative_paragraphs,
    period_text,
    previous_text,
)
from patrol_app.reports.rollup import Period, Rollup, change, rollup
from patrol_app.services.users import require
from patrol_app.storage.models import User

#: The JSON keys upper-level reporting systems rely on, in this order (more keys follow them).
STABLE_KEYS = (
    "year",
    "patrols",
    "vehicle_trips",
    "person_trips",
    "km_patrolled",
    "incidents_total",
    "incidents_by_type",
    "incidents_by_road",
    "incidents_by_month",
    "incidents_closed",
    "incidents_open",
    "closure_rate",
    "narrative_zh",
)


@dataclass
class Report:
    period: Period
    current: Rollup
    previous: Rollup
    generated_at: dt.datetime  # local time
    tz: str
    #: the audit trail's checkpoint (last entry's number and MAC) when the report was made: printed in the
    #: appendix, it later proves that nothing up to it was removed or rewritten (``patrol audit verify``)
    audit_checkpoint: tuple[int, str] | None = None
    _narratives: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def paragraphs(self, lang: str = "zh") -> list[str]:
        if lang not in self._narratives:
            self._narratives[lang] = narrative_paragraphs(self.current, self.previous, lang)
        return self._narratives[lang]

    def narrative(self, lang: str = "zh") -> str:
        return "\n".join(self.paragraphs(lang))

    @property
    def year(self) -> int | None:
        return self.period.start.year if self.period.single_year else None


def resolve_period(
    year: int | None = None,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    today: dt.date | None = None,
) -> Period:
    """``--year`` or ``--from``/``--to`` (either end may be left out: the start or end of its year).
    Nothing given: the last calendar year (the annual report is written after the year ends)."""
    if date_from is None and date_to is None:
        if year is None:
            return Period.year((today or local_today()).year - 1)
        return Period.year_to_date(year, today)
    if year is not None:
        date_from = date_from or dt.date(year, 1, 1)
        date_to = date_to or dt.date(year, 12, 31)
    start = date_from or dt.date((date_to or local_today()).year, 1, 1)
    end = date_to or dt.date(start.year, 12, 31)
    return Period(start, end)


def build_report(
    session: Session, actor: User, period: Period, batch: int | None = None, county: str | None = None
) -> Report:
    """Everything a report shows, for ``period`` and the same dates a year earlier (with ``batch``: only the
    records of that imported ledger batch), of the actor's county — a city or province account's: the roll-up
    of its counties, or the one ``county``. Needs ``Perm.EXPORT``."""
    require(actor, Perm.EXPORT)
    county = period.filter(county=county).for_actor(actor).county
    tz = get_settings().tz
    from patrol_app.services.audit import checkpoint

    cp = checkpoint(session)
    return Report(
        period=period,
        current=rollup(session, period, batch, county),
        previous=rollup(session, period.previous(), batch, county),
        generated_at=local_now().replace(microsecond=0),
        tz=tz,
        audit_checkpoint=(cp.id, cp.mac),
    )


def _rate(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def report_json(report: Report) -> dict[str, Any]:
    """The stable contract first (``STABLE_KEYS``), then the rest (period, previous year, change, more tables).
    ``closure_rate`` is 0–1, or null when no incident was found in the period."""
    c, p = report.current, report.previous

    def figures(r: Rollup) -> dict[str, Any]:
        return {
            "patrols": r.patrols,
            "vehicle_trips": r.vehicle_trips,
            "person_trips": r.person_trips,
            "km_patrolled": r.km_patrolled,
            "roads_covered": len(r.roads_covered),
            "joint_operations": r.joint_operations,
            "incidents_total": r.incidents_total,
            "incidents_closed": r.incidents_closed,
            "incidents_open": r.incidents_open,
            "closure_rate": _rate(r.closure_rate),
        }

    out: dict[str, Any] = {
        "year": report.year,
        "patrols": c.patrols,
        "vehicle_trips": c.vehicle_trips,
        "person_trips": c.person_trips,
        "km_patrolled": c.km_patrolled,
        "incidents_total": c.incidents_total,
        "incidents_by_type": dict(c.incidents_by_type),
        "incidents_by_road": dict(sorted(c.incidents_by_road.items())),
        "incidents_by_month": c.incidents_by_month,
        "incidents_closed": c.incidents_closed,
        "incidents_open": c.incidents_open,
        "closure_rate": _rate(c.closure_rate),
        "narrative_zh": report.narrative("zh"),
        # --- beyond the stable keys ---
        "period": {
            "from": report.period.start.isoformat(),
            "to": report.period.end.isoformat(),
            "tz": report.tz,
        },
        "roads_covered": len(c.roads_covered),
        "roads_patrolled": c.roads_covered,
        "road_classes_patrolled": c.classes_patrolled,
        "joint_operations": c.joint_operations,
        "joint_by_unit": c.joint_by_unit,
        "incidents_by_town": c.incidents_by_town,
        "incidents_by_measure": c.incidents_by_measure,
        "incidents_in_control_zone": c.incidents_in_control_zone,
        "incidents_on_road_land": c.incidents_on_road_land,
        "months": {k: vars(m).copy() for k, m in c.months.items()},
        "previous": {
            "period": {"from": p.period.start.isoformat(), "to": p.period.end.isoformat()},
            **figures(p),
        },
        "change": change(c, p),
        "generated_at": report.generated_at.isoformat(),
    }
    if report.audit_checkpoint is not None:
        out["audit_checkpoint"] = {"id": report.audit_checkpoint[0], "mac": report.audit_checkpoint[1]}
    return out


def checkpoint_text(report: Report, lang: str = "zh") -> str | None:
    """The appendix line with the audit checkpoint, or None."""
    if report.audit_checkpoint is None:
        return None
    id_, mac = report.audit_checkpoint
    return t("report.appendix.checkpoint", lang, id=id_, mac=mac)


# --- tables: one definition for the page, xlsx, docx and md --------------------------------------------


@dataclass
class Table:
    key: str  # "summary", "by_type", …: the catalog key report.table.<key> is its title (and sheet name)
    columns: list[str]  # header texts
    rows: list[list[Any]]
    formats: list[str] = field(default_factory=list)  # per column: "text", "int", "km", "pct" (see cell_text)
    row_formats: list[list[str]] | None = None  # per row and column, overriding ``formats`` (the summary)

    def fmt(self, i: int, j: int) -> str:
        if self.row_formats is not None:
            return self.row_formats[i][j]
        return self.formats[j] if j < len(self.formats) else "text"

    def title(self, lang: str) -> str:
        return t("report.table." + self.key, lang)


def _pct(n: int, d: int) -> float | None:
    return n / d if d else None


def report_tables(report: Report, lang: str = "zh") -> list[Table]:
    c, p = report.current, report.previous
    h = lambda k: t("report.col." + k, lang)
    tables: list[Table] = []

    ch = change(c, p)
    rows, row_formats = [], []
    for key in (
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
    ):
        f = ch[key]
        rows.append(
            [t("report.figure." + key, lang), f["current"], f["previous"], f["change"], f["change_pct"]]
        )
        kind = {"km_patrolled": "km", "closure_rate": "pct"}.get(key, "int")
        row_formats.append(
            ["text", kind, kind, {"km": "signed_km", "pct": "pp"}.get(kind, "signed_int"), "signed_pct"]
        )
    tables.append(
        Table(
            "summary",
            [
                h("figure"),
                period_text(report.period, lang),
                previous_text(report.period, lang),
                h("change"),
                h("change_pct"),
            ],
            rows,
            row_formats=row_formats,
        )
    )

    rows = []
    for code, n in c.incidents_by_type.items():
        v = BY_CODE.get(code)
        closed = c.closed_by_type.get(code, 0)
        rows.append(
            [
                v.name(lang) if v else code,
                n,
                closed,
                _pct(closed, n),
                _pct(n, c.incidents_total),
                v.legal_basis if v else "",
            ]
        )
    rows.append(
        [
            h("total"),
            c.incidents_total,
            c.incidents_closed,
            c.closure_rate,
            1.0 if c.incidents_total else None,
            "",
        ]
    )
    tables.append(
        Table(
            "by_type",
            [h("type"), h("incidents"), h("closed"), h("closure_rate"), h("share"), h("legal_basis")],
            rows,
            ["text", "int", "int", "pct", "pct", "text"],
        )
    )

    codes = list(c.network_roads) + sorted(
        (set(c.patrols_by_road) | set(c.incidents_by_road)) - set(c.network_roads)
    )
    codes.sort(key=lambda k: (-c.incidents_by_road.get(k, 0), -c.patrols_by_road.get(k, 0), k))
    rows = [
        [
            k,
            c.road_names.get(k, ""),
            t("class." + c.road_classes.get(k, "village"), lang),
            c.patrols_by_road.get(k, 0),
            c.incidents_by_road.get(k, 0),
            c.closed_by_road.get(k, 0),
        ]
        for k in codes
    ]
    tables.append(
        Table(
            "by_road",
            [h("road_code"), h("road_name"), h("road_class"), h("patrols"), h("incidents"), h("closed")],
            rows,
            ["text", "text", "text", "int", "int", "int"],
        )
    )

    rows = []
    for key, m in c.months.items():
        label = (
            t("report.month", lang, month=int(key))
            if len(key) == 2
            else t("report.year_month", lang, year=int(key[:4]), month=int(key[5:]))
        )
        rows.append([label, m.patrols, m.vehicle_trips, m.person_trips, m.km, m.incidents, m.closed])
    rows.append(
        [
            h("total"),
            c.patrols,
            c.vehicle_trips,
            c.person_trips,
            c.km_patrolled,
            c.incidents_total,
            c.incidents_closed,
        ]
    )
    tables.append(
        Table(
            "by_month",
            [
                h("month"),
                h("patrols"),
                h("vehicle_trips"),
                h("person_trips"),
                h("km"),
                h("incidents"),
                h("closed"),
            ],
            rows,
            ["text", "int", "int", "int", "km", "int", "int"],
        )
    )

    rows = [
        [town or t("report.unknown", lang), n, c.closed_by_town.get(town, 0), _pct(n, c.incidents_total)]
        for town, n in c.incidents_by_town.items()
    ]
    tables.append(
        Table(
            "by_town",
            [h("town"), h("incidents"), h("closed"), h("share")],
            rows,
            ["text", "int", "int", "pct"],
        )
    )

    rows = [
        [measure_label(m, lang), n, _pct(n, c.incidents_total)]
        for m, n in c.incidents_by_measure.items()
        if n or m
    ]
    tables.append(
        Table("by_measure", [h("measure"), h("incidents"), h("share")], rows, ["text", "int", "pct"])
    )

    rows = [[u, n] for u, n in c.joint_by_unit.items()]
    rows.append([h("total"), c.joint_operations])
    tables.append(Table("joint", [h("joint_unit"), h("joint_operations")], rows, ["text", "int"]))
    return tables


def cell_text(value: Any, fmt: str, lang: str = "zh") -> str:
    """A table cell as text (docx, md, the page): "—" for no value."""
    if value is None:
        return "—"
    if fmt == "int":
        return str(int(value))
    if fmt == "signed_int":
        return f"{int(value):+d}"
    if fmt == "km":
        return f"{float(value):.1f}"
    if fmt == "signed_km":
        return f"{float(value):+.1f}"
    if fmt == "pct":
        return percent(value, 1) + "%"
    if fmt == "signed_pct":
        return _signed(percent(value, 1)) + "%"
    if fmt == "pp":
        return t("report.pp", lang, v=_signed(percent(value, 1)))
    return str(value)


def _signed(text: str) -> str:
    return text if text.startswith("-") else "+" + text


def report_title(report: Report, lang: str = "zh") -> str:
    return t("report.doc_title", lang, period=period_text(report.period, lang))


def notes_text(report: Report, lang: str = "zh") -> str:
    """The statistics' terms: period, time zone, what counts as closed."""
    return t(
        "report.notes",
        lang,
        start=date_text(report.period.start, lang),
        end=date_text(report.period.end, lang),
        tz=report.tz,
        generated=date_text(report.generated_at.date(), lang),
        time=report.generated_at.strftime("%H:%M"),
    )
