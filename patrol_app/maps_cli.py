"""``patrol map``: the incident map as one standalone HTML file that opens offline, for sharing with leaders.

    patrol map [--year Y] [--from D --to D] [--type T] [--road R] [--status S] [--town T]
               [--bbox W,S,E,N] [--color-by type|status] [--basemap B] --out FILE.html

Filters may be repeated (``--type materials --type stall``) or comma-separated
(``--road X001,X002``). Types are catalog codes, Chinese names or ledger short forms (堆放物品);
statuses ``open``/``closed`` or 未办结/已办结; towns as stored (越州镇, 南宁街道), the suffix may be left
out (越州). Exit 2 on a bad filter value.
"""

from __future__ import annotations

import argparse
import datetime as dt
import unicodedata
from pathlib import Path
from typing import Any

from patrol_app.i18n import t


def register(sub: Any, common: argparse.ArgumentParser, h: Any) -> None:
    """Add ``map`` to the ``patrol`` command's verbs (``h``: help text in the user's language)."""
    p = sub.add_parser("map", help=h("map"), parents=[common])
    p.add_argument("--year", type=int, help=h("year"))
    p.add_argument("--from", dest="date_from", metavar="DATE", help=h("date_from"))
    p.add_argument("--to", dest="date_to", metavar="DATE", help=h("date_to"))
    p.add_argument("--type", dest="types", action="append", default=[], metavar="T", help=h("map.type"))
    p.add_argument("--road", dest="roads", action="append", default=[], metavar="R", help=h("road"))
    p.add_argument("--status", dest="statuses", action="append", default=[], metavar="S", help=h("status"))
    p.add_argument("--town", dest="towns", action="append", default=[], metavar="T", help=h("town"))
    p.add_argument("--bbox", metavar="W,S,E,N", help=h("bbox"))
    p.add_argument("--color-by", choices=["type", "status"], default="type", help=h("map.color_by"))
    p.add_argument("--basemap", help=h("map.basemap"))
    p.add_argument("--out", required=True, metavar="FILE.html", help=h("map.out"))
    p.set_defaults(fn=cmd_map)


class _BadValue(Exception):
    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def _split(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        out.extend(
            p.strip() for p in unicodedata.normalize("NFKC", v).replace("、", ",").split(",") if p.strip()
        )
    return out


def _date(text: str | None) -> dt.date | None:
    if not text:
        return None
    from patrol_app.clock import BadDate, parse_date

    try:
        return parse_date(text)
    except BadDate:
        raise _BadValue("map.cli.bad_date", value=text) from None


def _types(values: list[str]) -> tuple[str, ...]:
    from patrol_app.domain.catalog import resolve_type

    out = []
    for v in _split(values):
        try:
            out.append(resolve_type(v).code)
        except KeyError:
            raise _BadValue("map.cli.bad_type", value=v) from None
    return tuple(dict.fromkeys(out))


def _statuses(values: list[str]) -> tuple[str, ...]:
    from patrol_app.domain.rules import STATUS_ALIASES

    out = []
    for v in _split(values):
        s = STATUS_ALIASES.get(v.lower()) or STATUS_ALIASES.get(v)
        if s is None:
            raise _BadValue("map.cli.bad_status", value=v)
        out.append(str(s))
    return tuple(dict.fromkeys(out))


def _towns(values: list[str]) -> tuple[str, ...]:
    from patrol_app.district import district

    names = district().town_names
    out = []
    for v in _split(values):
        match = [n for n in names if n == v] or [n for n in names if n.startswith(v)]
        if len(match) != 1:
            raise _BadValue("map.cli.bad_town", value=v, choices="、".join(names))
        out.append(match[0])
    return tuple(dict.fromkeys(out))


def _filter(a: argparse.Namespace, network: Any) -> Any:
    from patrol_app.services.mapdata import MapFilter

    start, end = _date(a.date_from), _date(a.date_to)
    if a.year:
        start = start or dt.date(a.year, 1, 1)
        end = end or dt.date(a.year, 12, 31)
    if start and end and start > end:
        raise _BadValue("map.cli.bad_period", start=start, end=end)
    roads = tuple(dict.fromkeys(network.route(c).code for c in _split(a.roads)))  # unknown road: GisError
    return MapFilter(
        start, end, _types(a.types), roads, _statuses(a.statuses), _towns(a.towns), bbox=_bbox(a.bbox)
    )


def _bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    from patrol_app.storage.spatial import BadBox, parse_bbox

    try:
        return parse_bbox(text)
    except BadBox as exc:
        raise _BadValue(exc.key, value=exc.value) from None


def cmd_map(cli: Any) -> int:
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from patrol_app.services.mapdata import basemap_from_env

    a = cli.args
    bm = basemap_from_env(None if a.basemap is None else {**_env(), "PATROL_BASEMAP": a.basemap})
    try:
        result = _write_map(cli, bm)
    except (OperationalError, ProgrammingError):
        # A read-only verb skips the migration check that costs other verbs a third of a second; a store
        # that is missing or behind is migrated now, and the map made again.
        from patrol_app.storage.migrate import upgrade

        upgrade()
        result = _write_map(cli, bm)
    return result


def _write_map(cli: Any, bm: Any) -> int:
    from gis.errors import UnknownRoadError
    from patrol_app.cli import os_user
    from patrol_app.i18n import error_text
    from patrol_app.services.mapdata import filter_summary, standalone_map_html
    from patrol_app.services.roads import network
    from patrol_app.services.users import cli_actor
    from patrol_app.storage.db import session_scope

    a = cli.args
    with session_scope() as s:
        net = network(s)
        try:
            f = _filter(a, net)
        except _BadValue as exc:
            cli.err(t(exc.key, cli.lang, **exc.params))
            return 2
        except UnknownRoadError as exc:
            cli.err(error_text(exc, cli.lang))
            return 2
        actor = cli_actor(s, a.user, os_user())
        html, count = standalone_map_html(s, actor, net, f, lang=cli.lang, color_by=a.color_by, bm=bm)
        from patrol_app.services import audit

        # a map file carries records (and, for roles that see them, parties' details): recorded like an export
        audit.record(
            s,
            actor,
            "download.map",
            "map",
            "",
            after={"file": Path(a.out).name, "rows": count, "filters": filter_summary(f, "en")},
        )
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)  # never leave half a file behind
    cli.out(t("map.cli.written", cli.lang, out=str(out), count=count, summary=filter_summary(f, cli.lang)))
    return 0


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
