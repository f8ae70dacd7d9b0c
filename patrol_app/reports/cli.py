"""``patrol report`` and ``patrol export``: registered into the main parser by :func:`register`.

Parsing stays cheap (no database or GIS imports until a verb runs). Both verbs act as ``--user`` (default the
command line's administrator) and the services check ``Perm.EXPORT`` themselves.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path
from typing import Any

from patrol_app.i18n import t

REPORT_FORMATS = ("json", "md", "xlsx", "docx")
EXPORT_KINDS = ("incidents", "patrols")
EXPORT_FORMATS = ("csv", "xlsx", "geojson", "gpkg", "kml", "kmz", "shp")
_REPORT_SUFFIX = {".json": "json", ".md": "md", ".markdown": "md", ".xlsx": "xlsx", ".docx": "docx"}
_EXPORT_SUFFIX = {".csv": "csv", ".xlsx": "xlsx", ".geojson": "geojson", ".json": "geojson", ".gpkg": "gpkg",
                  ".kml": "kml", ".kmz": "kmz", ".zip": "shp", ".shp": "shp"}
_DATE_RE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")


def _date(text: str) -> dt.date:
    """``2021-03-05``, ``2021/3/5`` or ``2021年3月5日``."""
    m = _DATE_RE.match(text)
    try:
        if not m:
            raise ValueError
        return dt.date(*(int(g) for g in m.groups()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (YYYY-MM-DD)") from None


def _period_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--year", type=int, help="calendar year (local dates, PATROL_TZ)")
    p.add_argument("--from", dest="date_from", type=_date, metavar="DATE", help="first day, YYYY-MM-DD")
    p.add_argument("--to", dest="date_to", type=_date, metavar="DATE", help="last day (inclusive), YYYY-MM-DD")


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    rp = sub.add_parser("report", parents=[common],
                        help="the year's (or a date range's) patrol report: json, md, xlsx or docx")
    _period_args(rp)
    rp.add_argument("--format", choices=REPORT_FORMATS, help="default: from --out's suffix, else json")
    rp.add_argument("--out", default="-", metavar="PATH", help="file to write, or - for standard output (json, md)")
    rp.set_defaults(fn=cmd_report)

    ex = sub.add_parser("export", parents=[common],
                        help="incidents or patrols as csv, xlsx, geojson, gpkg, kml, kmz or shp (zipped)")
    ex.add_argument("kind", choices=EXPORT_KINDS)
    _period_args(ex)
    ex.add_argument("--format", choices=EXPORT_FORMATS, help="default: from --out's suffix")
    ex.add_argument("--out", required=True, metavar="PATH")
    ex.add_argument("--road", action="append", metavar="CODE", help="only these roads (repeat, or X001,Y002)")
    ex.add_argument("--type", action="append", metavar="TYPE", help="incidents: only these types (code or name)")
    ex.add_argument("--status", choices=["open", "closed"], help="incidents: only open or only closed")
    ex.add_argument("--town", action="append", metavar="TOWN", help="incidents: only these towns")
    ex.set_defaults(fn=cmd_export)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for item in values or [] for v in re.split(r"[,，、;；]", item) if v.strip()]


def _check_dates(cli: Any) -> bool:
    a = cli.args
    if a.date_from and a.date_to and a.date_from > a.date_to:
        cli.err(t("report.cli.bad_range", cli.lang, start=a.date_from, end=a.date_to))
        return False
    return True


def cmd_report(cli: Any) -> int:
    a = cli.args
    fmt = a.format or (_REPORT_SUFFIX.get(Path(a.out).suffix.lower(), "json") if a.out != "-" else "json")
    if a.out == "-" and fmt not in ("json", "md"):
        cli.err(t("report.cli.binary_stdout", cli.lang, format=fmt))
        return 2
    if not _check_dates(cli):
        return 2
    from patrol_app.reports.report import build_report, local_now, resolve_period
    from patrol_app.reports.writers import render
    from patrol_app.cli import os_user
    from patrol_app.services.users import cli_actor
    from patrol_app.storage.db import session_scope
    from patrol_app.storage.migrate import upgrade

    upgrade()
    period = resolve_period(a.year, a.date_from, a.date_to, today=local_now().date())
    with session_scope() as s:
        actor = cli_actor(s, getattr(a, "user", None), os_user())
        report = build_report(s, actor, period)
        data = render(report, fmt, cli.lang, session=s)
        from patrol_app.services import audit

        audit.record(s, actor, "download.report", "report", "", after={
            "period": f"{period.start.isoformat()}–{period.end.isoformat()}", "format": fmt,
            "file": "-" if a.out == "-" else Path(a.out).name})
    if a.out == "-":
        sys.stdout.write(data.decode("utf-8"))
        if not data.endswith(b"\n"):
            sys.stdout.write("\n")
        return 0
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    tmp.write_bytes(data)
    tmp.replace(out)
    cli.out(t("report.cli.written", cli.lang, path=out, format=fmt))
    return 0


def cmd_export(cli: Any) -> int:
    a = cli.args
    fmt = a.format or _EXPORT_SUFFIX.get(Path(a.out).suffix.lower())
    if fmt is None:
        cli.err(t("export.cli.no_format", cli.lang, formats=", ".join(EXPORT_FORMATS)))
        return 2
    if a.kind == "patrols" and (a.type or a.status or a.town):
        cli.err(t("export.cli.incident_only_filter", cli.lang))
        return 2
    if not _check_dates(cli):
        return 2
    from gis.roads import normalise_code
    from patrol_app.domain.catalog import resolve_type
    from patrol_app.io.exports import ExportFilter, export
    from patrol_app.cli import os_user
    from patrol_app.services.users import cli_actor
    from patrol_app.storage.db import session_scope
    from patrol_app.storage.migrate import upgrade

    try:
        roads = tuple(normalise_code(r) for r in _split(a.road))
    except ValueError as exc:
        cli.err(t("export.cli.bad_road", cli.lang, detail=str(exc)))
        return 2
    types = []
    for name in _split(a.type):
        try:
            types.append(resolve_type(name).code)
        except KeyError:
            cli.err(t("error.unknown_type", cli.lang, value=name))
            return 2
    date_from, date_to = a.date_from, a.date_to
    if a.year is not None:
        date_from = date_from or dt.date(a.year, 1, 1)
        date_to = date_to or dt.date(a.year, 12, 31)
    flt = ExportFilter(date_from, date_to, roads, tuple(types), a.status, tuple(_split(a.town)))
    upgrade()
    with session_scope() as s:
        res = export(s, cli_actor(s, getattr(a, "user", None), os_user()), a.kind, fmt, a.out, flt, cli.lang)
    cli.out(t("export.cli.written", cli.lang, rows=res.rows, kind=t("export.sheet." + a.kind, cli.lang),
              path=res.path, format=fmt))
    if res.masked:
        cli.out(t("export.cli.masked", cli.lang))
    return 0
