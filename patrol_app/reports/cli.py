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
_EXPORT_SUFFIX = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".kml": "kml",
    ".kmz": "kmz",
    ".zip": "shp",
    ".shp": "shp",
}


def _date_type(h: Any) -> Any:
    """argparse ``type=`` for a date (:func:`patrol_app.clock.parse_date`), its error in the user's language."""

    def date(text: str) -> dt.date:
        from patrol_app.clock import BadDate, parse_date

        try:
            return parse_date(text)
        except BadDate:
            raise argparse.ArgumentTypeError(h("not_a_date", value=text)) from None

    return date


def _period_args(p: argparse.ArgumentParser, h: Any) -> None:
    p.add_argument("--year", type=int, help=h("year"))
    p.add_argument("--from", dest="date_from", type=_date_type(h), metavar="DATE", help=h("date_from"))
    p.add_argument("--to", dest="date_to", type=_date_type(h), metavar="DATE", help=h("date_to"))


def register(sub: Any, common: argparse.ArgumentParser, h: Any) -> None:
    """Add ``report`` and ``export`` (``h``: help text in the user's language)."""
    rp = sub.add_parser("report", parents=[common], help=h("report"))
    _period_args(rp, h)
    rp.add_argument("--format", choices=REPORT_FORMATS, help=h("report.format"))
    rp.add_argument("--out", default="-", metavar="PATH", help=h("report.out"))
    rp.set_defaults(fn=cmd_report)

    ex = sub.add_parser("export", parents=[common], help=h("export"))
    ex.add_argument("kind", choices=EXPORT_KINDS, help=h("export.kind"))
    _period_args(ex, h)
    ex.add_argument("--format", choices=EXPORT_FORMATS, help=h("export.format"))
    ex.add_argument("--out", required=True, metavar="PATH", help=h("export.out"))
    ex.add_argument("--road", action="append", metavar="CODE", help=h("road"))
    ex.add_argument("--type", action="append", metavar="TYPE", help=h("export.type"))
    ex.add_argument("--status", choices=["open", "closed"], help=h("export.status"))
    ex.add_argument("--town", action="append", metavar="TOWN", help=h("export.town"))
    ex.add_argument("--bbox", metavar="W,S,E,N", help=h("bbox"))
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
    from patrol_app.cli import os_user
    from patrol_app.clock import local_today
    from patrol_app.reports.report import build_report, resolve_period
    from patrol_app.reports.writers import render
    from patrol_app.services.users import cli_actor
    from patrol_app.storage.db import session_scope
    from patrol_app.storage.migrate import upgrade

    upgrade()
    period = resolve_period(a.year, a.date_from, a.date_to, today=local_today())
    with session_scope() as s:
        actor = cli_actor(s, getattr(a, "user", None), os_user())
        report = build_report(s, actor, period)
        data = render(report, fmt, cli.lang, session=s)
        from patrol_app.services import audit

        audit.record(
            s,
            actor,
            "download.report",
            "report",
            "",
            after={
                "period": f"{period.start.isoformat()}–{period.end.isoformat()}",
                "format": fmt,
                "file": "-" if a.out == "-" else Path(a.out).name,
            },
        )
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
    if a.kind == "patrols" and (a.type or a.status or a.town or a.bbox):
        cli.err(t("export.cli.incident_only_filter", cli.lang))
        return 2
    if not _check_dates(cli):
        return 2
    from gis.roads import normalise_code
    from patrol_app.cli import os_user
    from patrol_app.domain.catalog import resolve_type
    from patrol_app.io.exports import ExportFilter, export
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
    bbox = None
    if a.bbox is not None:
        from patrol_app.storage.spatial import BadBox, parse_bbox

        try:
            bbox = parse_bbox(a.bbox)
        except BadBox as exc:
            cli.err(t(exc.key, cli.lang, value=exc.value))
            return 2
    date_from, date_to = a.date_from, a.date_to
    if a.year is not None:
        date_from = date_from or dt.date(a.year, 1, 1)
        date_to = date_to or dt.date(a.year, 12, 31)
    flt = ExportFilter(
        date_from,
        date_to,
        roads=roads,
        types=tuple(types),
        status=a.status,
        towns=tuple(_split(a.town)),
        bbox=bbox,
    )
    upgrade()
    with session_scope() as s:
        res = export(s, cli_actor(s, getattr(a, "user", None), os_user()), a.kind, fmt, a.out, flt, cli.lang)
    cli.out(
        t(
            "export.cli.written",
            cli.lang,
            rows=res.rows,
            kind=t("export.sheet." + a.kind, cli.lang),
            path=res.path,
            format=fmt,
        )
    )
    if res.masked:
        cli.out(t("export.cli.masked", cli.lang))
    return 0
