"""The ``patrol`` command: bulk work on the store from a shell.

Exit codes: 0 done; 1 refused or failed (nothing written); 2 usage error or no road in reach.
"""

from __future__ import annotations

import argparse
import csv
import json
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gis.errors import GisError, NoRoadInReachError
from patrol_app.config import get_settings
from patrol_app.i18n import error_text, position_text, t
from patrol_app.services.audit_key import AuditKeyError
from patrol_app.services.errors import ServiceError, ValidationFailed

if TYPE_CHECKING:  # (imported where used: `patrol --help` stays cheap)
    from sqlalchemy.orm import Session

    from gis.linref import RoadPosition
    from gis.roads import RoadNetwork
    from patrol_app.storage.models import User

LOCATE_KEYS = (
    "road_code",
    "road_name",
    "road_class",
    "chainage_m",
    "stake",
    "side",
    "offset_m",
    "in_control_zone",
    "control_zone_m",
    "legal_basis",
)


class Cli:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.lang = args.lang or get_settings().lang

    def out(self, text: str = "") -> None:
        print(text)

    def err(self, text: str) -> None:
        print(text, file=sys.stderr)

    def dump(self, data: Any) -> None:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _store() -> None:
    from patrol_app.storage.migrate import upgrade

    upgrade()


def _session() -> AbstractContextManager[Session]:
    from patrol_app.storage.db import session_scope

    return session_scope()


def os_user() -> str:
    """The operating-system account running this command (recorded in the audit trail with ``--user``)."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        import os

        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "?"


def _actor(session: Session, cli: Cli) -> User:
    from patrol_app.services.users import cli_actor

    return cli_actor(session, getattr(cli.args, "user", None), os_user())


def cmd_db_upgrade(cli: Cli) -> int:
    _store()
    if get_settings().db_url.startswith("postgresql"):
        # PostGIS installed on the server after migration 0012 ran: its columns are added now
        from patrol_app.storage import spatial
        from patrol_app.storage.db import get_engine

        with get_engine().begin() as conn:
            spatial.add(conn)
    cli.out(_safe_url(get_settings().db_url))
    return 0


def cmd_info(cli: Cli) -> int:
    """What this ``patrol`` is and where its store lives; touches nothing."""
    import os

    from patrol_app import __version__
    from patrol_app.config import default_data_dir
    from patrol_app.photos import PHOTOS_DIR
    from patrol_app.storage.spatial import postgis_status

    settings = get_settings()
    source = "env" if os.environ.get("PATROL_DATA_DIR") else "default"
    info = {
        "version": __version__,
        "db_url": _safe_url(settings.db_url),
        "data_dir": str(settings.data_dir),
        "data_dir_source": source,
        "photo_dir": str(settings.data_dir / PHOTOS_DIR),
        "default_data_dir": str(default_data_dir()),
        "lang": cli.lang,
        "tz": settings.tz,
        "postgis": postgis_status(settings.db_url),
    }
    if cli.args.json:
        cli.dump(info)
        return 0
    lines = [
        ("info.version", info["version"]),
        ("info.db", info["db_url"]),
        ("info.data_dir", f"{info['data_dir']}  ({t('info.data_dir_source.' + source, cli.lang)})"),
        ("info.photos", info["photo_dir"]),
        ("info.lang", info["lang"]),
        ("info.tz", info["tz"]),
        ("info.postgis", t("info.postgis." + info["postgis"], cli.lang)),
    ]
    width = max(len(t(k, cli.lang)) for k, _ in lines)
    for key, value in lines:
        cli.out(f"{t(key, cli.lang):<{width}}  {value}")
    return 0


def cmd_roads_import(cli: Cli) -> int:
    from gis.roads import read_road_file
    from patrol_app.services.roads import import_roads

    a = cli.args
    pieces = read_road_file(
        a.path,
        code_field=a.code_field,
        name_field=a.name_field,
        class_field=a.class_field,
        start_field=a.start_field,
        gcj02=a.gcj02,
    )
    _store()
    with _session() as s:
        res = import_roads(
            s, _actor(s, cli), pieces, source=Path(a.path).name, replace=a.replace, county=a.county
        )
    cli.out(t("cli.roads_imported", cli.lang, **res))
    return 0


def _network(session: Session) -> RoadNetwork:
    from patrol_app.services.roads import network

    return network(session)


def cmd_roads_list(cli: Cli) -> int:
    from patrol_app.storage.db import read_session

    _store()
    with read_session() as s:
        rows = _network(s).describe()
    if cli.args.json:
        cli.dump(rows)
        return 0
    for r in rows:
        cli.out(
            f"{r['code']:6} {t('class.' + r['road_class'], cli.lang):6} {r['start_stake']:>10} – "
            f"{r['end_stake']:<10} {r['length_km']:8.3f} km  {r['name']}"
        )
    return 0


def _position_dict(pos: RoadPosition) -> dict[str, Any]:
    d = pos.as_dict()
    return {**{k: d[k] for k in LOCATE_KEYS}, **{k: v for k, v in d.items() if k not in LOCATE_KEYS}}


def cmd_locate(cli: Cli) -> int:
    from gis.linref import locate
    from patrol_app.storage.db import read_session

    a = cli.args
    dist = get_settings().max_distance_m if a.max_distance is None else a.max_distance
    _store()
    with read_session() as s:
        net = _network(s)
    if a.batch:
        return _locate_batch(cli, net, dist)
    if a.lon is None or a.lat is None:
        cli.err("patrol locate LON LAT | --batch IN.csv --out OUT.csv")
        return 2
    try:
        pos = locate(net, a.lon, a.lat, dist)
    except NoRoadInReachError as exc:
        cli.err(error_text(exc, cli.lang))
        return 2
    if a.json:
        cli.dump(_position_dict(pos))
    else:
        cli.out(position_text(pos, cli.lang))
    return 0


BATCH_CHUNK = 100_000  # points located at once: memory stays bounded at any size


def _locate_batch(cli: Cli, net: RoadNetwork, dist: float) -> int:
    """CSV in, CSV out with the csv module and NumPy (no pandas: its import alone costs a third of a second), in
    chunks of :data:`BATCH_CHUNK` rows; with ``--jobs`` above one, chunks are located in that many worker
    processes (forked: they share the network already built) and written in order."""
    from patrol_app.parallel import default_jobs, ordered_map

    a = cli.args
    if not a.out:
        cli.err("--batch needs --out OUT.csv")
        return 2
    with open(a.batch, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        cols = {c.strip().lower(): i for i, c in enumerate(header)}
        lon_i = cols.get("lon", cols.get("经度"))
        lat_i = cols.get("lat", cols.get("纬度"))
        if lon_i is None or lat_i is None:
            cli.err(
                t("error.ledger_missing_columns", cli.lang, sheet=a.batch, kind="locate", columns="lon, lat")
            )
            return 1
        out_header = list(header) + [k for k in LOCATE_KEYS + ("zone", "zone_road_code") if k not in header]
        job = _BatchJob(net, dist, len(header), lon_i, lat_i, out_header)
        chunks = _row_chunks(reader, len(header))
        found = total = 0
        tmp = Path(a.out).with_name(f".{Path(a.out).name}.part")
        try:
            with open(tmp, "w", encoding="utf-8-sig", newline="") as out:
                csv.writer(out, lineterminator="\n").writerow(out_header)
                jobs = default_jobs() if a.jobs is None else a.jobs
                for text, n_found, n in ordered_map(_locate_chunk, job, chunks, jobs):
                    out.write(text)
                    found += n_found
                    total += n
            tmp.replace(a.out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    cli.out(t("cli.batch_done", cli.lang, found=found, total=total, out=a.out))
    return 0


def _row_chunks(reader: Any, width: int) -> Iterator[list[list[str]]]:
    """The CSV's rows (cut or padded to the header's width), :data:`BATCH_CHUNK` at a time."""
    chunk: list[list[str]] = []
    for r in reader:
        if not r:
            continue
        chunk.append(r + [""] * (width - len(r)) if len(r) < width else r[:width])
        if len(chunk) == BATCH_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class _BatchJob:
    net: RoadNetwork
    dist: float
    width: int
    lon_i: int
    lat_i: int
    out_header: list[str]


def _locate_chunk(job: _BatchJob, rows: list[list[str]]) -> tuple[str, int, int]:
    """One chunk located and written as CSV text: (text, rows on a road, rows)."""
    import io

    import numpy as np

    from gis.linref import locate_columns

    lon = np.array([_number(r[job.lon_i]) for r in rows], dtype=float)
    lat = np.array([_number(r[job.lat_i]) for r in rows], dtype=float)
    res = locate_columns(job.net, lon, lat, job.dist)
    columns = [[r[i] for r in rows] for i in range(job.width)]
    columns += [[] for _ in range(len(job.out_header) - job.width)]
    for k in LOCATE_KEYS + ("zone", "zone_road_code"):
        columns[job.out_header.index(k)] = res[
            k
        ]  # a column of that name in the input is replaced, where it stands
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(zip(*columns))  # None is written as an empty field
    return buf.getvalue(), sum(v is not None for v in res["road_code"]), len(rows)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def cmd_stake(cli: Cli) -> int:
    from gis.linref import stake_to_point
    from patrol_app.storage.db import read_session

    _store()
    with read_session() as s:
        net = _network(s)
    lon, lat = stake_to_point(net, cli.args.road, cli.args.stake)
    if cli.args.json:
        cli.dump({"lon": round(lon, 7), "lat": round(lat, 7)})
    else:
        cli.out(f"{lon:.7f},{lat:.7f}")
    return 0


def cmd_import(cli: Cli) -> int:
    from patrol_app.parallel import default_jobs
    from patrol_app.services.records import import_ledger

    a = cli.args
    _store()
    with _session() as s:  # a short transaction of its own (the built-in account may be created)
        actor = _actor(s, cli)
    with _session() as s:  # the import takes the write lock only to insert
        res = import_ledger(
            s,
            actor,
            a.path,
            kind=a.kind,
            dry_run=a.dry_run,
            max_distance=a.max_distance,
            county=a.county,
            jobs=default_jobs() if a.jobs is None else a.jobs,
        )
        if not res.ok:
            s.rollback()
    if a.json:
        cli.dump(
            {
                "ok": res.ok,
                "dry_run": res.dry_run,
                "patrols": res.patrols,
                "incidents": res.incidents,
                "batch_id": res.batch_id,
                "sheets": res.sheets,
                "flagged": [
                    {"sheet": e.sheet, "row": e.row, "column": e.column, "message": e.render(cli.lang)}
                    for e in res.flagged
                ],
                "errors": [
                    {"sheet": e.sheet, "row": e.row, "column": e.column, "message": e.render(cli.lang)}
                    for e in res.errors
                ],
            }
        )
    if not res.ok:
        if not a.json:
            cli.err(t("cli.import_failed", cli.lang, count=len(res.errors)))
            for e in res.errors:
                cli.err("  " + e.render(cli.lang))
        return 1
    if not a.json:
        key = "cli.dry_run_ok" if a.dry_run else "cli.imported"
        cli.out(t(key, cli.lang, patrols=res.patrols, incidents=res.incidents, batch=res.batch_id))
        if res.flagged:
            cli.out(t("cli.import_flagged", cli.lang, count=len(res.flagged)))
            for e in res.flagged:
                cli.out("  " + e.render(cli.lang))
    return 0


def cmd_demo(cli: Cli) -> int:
    from patrol_app.demo import build_demo, real_data, reset_store, store_is_empty
    from patrol_app.production import production_mode

    if production_mode():
        cli.err(t("demo.refused_production", cli.lang))
        return 1
    _store()
    with _session() as s:
        actor = _actor(s, cli)
        if not store_is_empty(s):
            if cli.args.if_empty:
                return 0
            real = real_data(s)
            if real:
                sep = t("demo.kind_separator", cli.lang)
                what = sep.join(t("demo.kind." + k, cli.lang, n=n) for k, n in real.items())
                cli.err(t("demo.refused_real_data", cli.lang, what=what))
                return 1
            if not cli.args.reset:
                cli.err(t("cli.demo_exists", cli.lang))
                return 1
            reset_store(s, actor)
        summary = build_demo(s, actor)
    cli.out(t("cli.demo_loaded", cli.lang, **summary.__dict__))
    return 0


def cmd_audit_checkpoint(cli: Cli) -> int:
    from patrol_app.services.audit import checkpoint
    from patrol_app.storage.db import read_session

    _store()
    with _session() as s:
        actor = _actor(s, cli)
    with read_session() as s:
        cp = checkpoint(s, actor)
    if cli.args.json:
        cli.dump({"id": cp.id, "mac": cp.mac})
    else:
        cli.out(str(cp))
    return 0


def cmd_audit_verify(cli: Cli) -> int:
    from sqlalchemy import func, select

    from patrol_app.services.audit import Checkpoint, verify
    from patrol_app.services.photo_verify import verify_photos
    from patrol_app.storage.db import read_session
    from patrol_app.storage.models import Photo

    cp = Checkpoint.parse(cli.args.checkpoint) if cli.args.checkpoint else None
    _store()
    with _session() as s:
        actor = _actor(s, cli)  # the check itself needs VERIFY_AUDIT
    with read_session() as s:
        res = verify(s, actor, checkpoint=cp)
        photos_checked = s.scalar(select(func.count(Photo.id))) or 0
        problems = verify_photos(s, actor)
    ok = res.ok and not problems
    if cli.args.json:
        cli.dump(
            {
                **res.__dict__,
                "records": [r.__dict__ for r in res.records],
                "ok": ok,
                "chain_ok": res.ok,
                "photos_checked": photos_checked,
                "photos": [p.__dict__ for p in problems],
            }
        )
    if ok:
        if not cli.args.json:
            cli.out(t("cli.audit_ok", cli.lang, entries=res.entries))
            if cp is not None:
                cli.out(t("cli.audit_checkpoint_ok", cli.lang, id=cp.id))
            if photos_checked:
                cli.out(t("photo.verify_ok", cli.lang, count=photos_checked))
        return 0
    if res.reason == "records":
        from patrol_app.services.audit_log import record_problem_text

        cli.err(t("cli.audit_records", cli.lang, count=len(res.records)))
        for r in res.records:
            cli.err("  " + record_problem_text(r, cli.lang))
    elif not res.ok:
        cli.err(
            t(
                "cli.audit_broken",
                cli.lang,
                id=res.first_bad_id,
                reason=t("admin.audit_reason." + res.reason, cli.lang),
            )
        )
    if problems:
        first = problems[0]
        cli.err(
            t(
                "photo.verify_" + first.kind,
                cli.lang,
                id=first.id,
                path=first.path,
                expected=first.expected,
                actual=first.actual,
            )
        )
        if len(problems) > 1:
            cli.err(t("photo.verify_more", cli.lang, count=len(problems) - 1))
    return 1


def cmd_serve(cli: Cli) -> int:
    import os

    from patrol_app import production as prod
    from patrol_app.storage.migrate import upgrade
    from patrol_app.ui.server import serve

    a = cli.args
    proxy = a.behind_proxy or prod.behind_proxy()
    prod.check_listen(a.host, a.tls_cert, a.tls_key, proxy)
    if proxy:
        os.environ["PATROL_BEHIND_PROXY"] = "1"  # the session cookie is Secure (patrol_app.config)
    url = get_settings().db_url
    if a.production or prod.production_mode():
        os.environ["PATROL_PRODUCTION"] = "1"
        upgrade(url)
        lines = prod.prepare(url, proxy)
        cli.err(t("production.mode", cli.lang))
        for key, params in lines:
            cli.err("  " + t(key, cli.lang, **params))
    cli.err(
        t(
            "cli.serving",
            cli.lang,
            url=f"{'https' if a.tls_cert else 'http'}://{a.host}:{a.port}",
            db=_safe_url(url),
        )
    )
    serve(a.host, a.port, a.tls_cert, a.tls_key)
    return 0


def _safe_url(url: str) -> str:
    """A database URL fit to print: never its password."""
    from patrol_app.production import safe_url

    return safe_url(url)


def _read_password(cli: Cli) -> str:
    if cli.args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass(t("cli.password_prompt", cli.lang))
    if first != getpass.getpass(t("cli.password_prompt_again", cli.lang)):
        raise ServiceError("auth.passwords_differ")
    return first


def cmd_users(cli: Cli) -> int:
    from patrol_app.services import auth

    a = cli.args
    _store()
    with _session() as s:
        actor = _actor(s, cli)
        if a.users_cmd == "list":
            rows: list[dict[str, Any]] = [
                {
                    "username": u.username,
                    "display_name": u.display_name,
                    "role": u.role,
                    "active": u.active,
                    "locked": bool(u.locked_until),
                    "last_login_at": u.last_login_at,
                }
                for u in auth.list_users(s, actor)
            ]
            if a.json:
                cli.dump(rows)
            else:
                for r in rows:
                    state = "" if r["active"] else " (停用/disabled)"
                    cli.out(
                        f"{r['username']:16} {t('role.' + r['role'], cli.lang):8} {r['display_name']}{state}"
                    )
        elif a.users_cmd == "add":
            auth.add_user(s, actor, a.username, a.role, _read_password(cli), a.name or "", scope=a.scope)
            cli.out(t("cli.user_added", cli.lang, username=a.username, role=t("role." + a.role, cli.lang)))
        elif a.users_cmd == "disable":
            auth.set_active(s, actor, a.username, False)
            cli.out(t("cli.user_disabled", cli.lang, username=a.username))
        elif a.users_cmd == "enable":
            auth.set_active(s, actor, a.username, True)
            cli.out(t("cli.user_enabled", cli.lang, username=a.username))
        elif a.users_cmd == "reset-password":
            auth.reset_password(s, actor, a.username, _read_password(cli))
            cli.out(t("cli.password_reset", cli.lang, username=a.username))
    return 0


def _adcode_type(h: Any) -> Any:
    """argparse ``type=`` for a 6-digit administrative division code, its error in the user's language."""
    import argparse

    def parse(text: str) -> str:
        from patrol_app.domain.adcodes import normalise

        try:
            return normalise(text)
        except ValueError:
            raise argparse.ArgumentTypeError(t("cli.bad_adcode", h.lang, value=text)) from None

    return parse


class HelpText:
    """Help strings in the user's language: ``h("locate")`` is the catalog's ``help.locate``."""

    def __init__(self, lang: str) -> None:
        self.lang = lang

    def __call__(self, key: str, **params: Any) -> str:
        return t("help." + key, self.lang, **params)


#: argparse's own words (``usage:``, ``options``, its error messages) → catalog keys. A test checks that each
#: of these is still a message of the running Python's argparse.
ARGPARSE_TEXT = {
    "usage: ": "usage",
    "positional arguments": "positional",
    "options": "options",
    "show this help message and exit": "help",
    "show program's version number and exit": "version",
    "%(prog)s: error: %(message)s\n": "error",
    "argument %(argument_name)s: %(message)s": "argument",
    "the following arguments are required: %s": "required",
    "unrecognized arguments: %s": "unrecognized",
    "invalid choice: %(value)r (choose from %(choices)s)": "invalid_choice",
    "invalid %(type)s value: %(value)r": "invalid_value",
    "expected one argument": "expected_one",
    "ambiguous option: %(option)s could match %(matches)s": "ambiguous",
    "one of the arguments %s is required": "one_of",
    "not allowed with argument %s": "not_allowed",
    "ignored explicit argument %r": "ignored",
}


def _speak_argparse(lang: str) -> None:
    """Make argparse's own words (it reads them through ``gettext``) come from the catalog."""

    def text(message: str) -> str:
        key = ARGPARSE_TEXT.get(message)
        return t("help.argparse." + key, lang) if key else message

    vars(argparse)["_"] = text  # argparse looks ``_`` up in its module at call time


def help_lang(argv: Sequence[str]) -> str:
    """The language of help and usage errors: ``--lang`` when given (anywhere), else ``PATROL_LANG``."""
    for i, arg in enumerate(argv):
        value = argv[i + 1] if arg == "--lang" and i + 1 < len(argv) else arg.removeprefix("--lang=")
        if (arg == "--lang" or arg.startswith("--lang=")) and value in ("zh", "en"):
            return value
    return get_settings().lang


def _version() -> str:
    from patrol_app import __version__

    return f"patrol {__version__}"


def build_parser(lang: str = "zh") -> argparse.ArgumentParser:
    h = HelpText(lang)
    _speak_argparse(lang)
    p = argparse.ArgumentParser(prog="patrol", description=h("description"), epilog=h("epilog"))
    p.add_argument("--version", action="version", version=_version(), help=h("version"))
    p.add_argument("--user", help=h("user"))
    p.add_argument("--lang", choices=["zh", "en"], help=h("lang"))
    common = argparse.ArgumentParser(add_help=False)  # the global options also work after the verb
    common.add_argument("--user", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--lang", choices=["zh", "en"], default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, title=h("commands"), metavar="COMMAND")

    inf = sub.add_parser("info", help=h("info"), parents=[common])
    inf.add_argument("--json", action="store_true", help=h("json"))
    inf.set_defaults(fn=cmd_info)

    db = sub.add_parser("db", help=h("db")).add_subparsers(dest="db_cmd", required=True)
    db.add_parser("upgrade", help=h("db.upgrade"), parents=[common]).set_defaults(fn=cmd_db_upgrade)

    roads = sub.add_parser("roads", help=h("roads")).add_subparsers(dest="roads_cmd", required=True)
    ri = roads.add_parser("import", help=h("roads.import"), parents=[common])
    ri.add_argument("path", help=h("roads.path"))
    ri.add_argument("--code-field", help=h("roads.code_field"))
    ri.add_argument("--name-field", help=h("roads.name_field"))
    ri.add_argument("--class-field", help=h("roads.class_field"))
    ri.add_argument("--start-field", help=h("roads.start_field"))
    ri.add_argument("--gcj02", action="store_true", help=h("roads.gcj02"))
    ri.add_argument("--replace", action="store_true", help=h("roads.replace"))
    ri.add_argument("--county", type=_adcode_type(h), metavar="ADCODE", help=h("county"))
    ri.set_defaults(fn=cmd_roads_import)
    rl = roads.add_parser("list", help=h("roads.list"), parents=[common])
    rl.add_argument("--json", action="store_true", help=h("json"))
    rl.set_defaults(fn=cmd_roads_list)

    lo = sub.add_parser("locate", help=h("locate"), parents=[common])
    lo.add_argument("lon", type=float, nargs="?", help=h("locate.lon"))
    lo.add_argument("lat", type=float, nargs="?", help=h("locate.lat"))
    lo.add_argument("--json", action="store_true", help=h("json"))
    lo.add_argument("--max-distance", type=float, metavar="M", help=h("max_distance"))
    lo.add_argument("--batch", metavar="IN.csv", help=h("locate.batch"))
    lo.add_argument("--jobs", type=int, metavar="N", help=h("locate.jobs"))
    lo.add_argument("--out", metavar="OUT.csv", help=h("locate.out"))
    lo.set_defaults(fn=cmd_locate)

    st = sub.add_parser("stake", help=h("stake"), parents=[common])
    st.add_argument("road", help=h("stake.road"))
    st.add_argument("stake", help=h("stake.stake"))
    st.add_argument("--json", action="store_true", help=h("json"))
    st.set_defaults(fn=cmd_stake)

    im = sub.add_parser("import", help=h("import"), parents=[common])
    im.add_argument("path", help=h("import.path"))
    im.add_argument("--kind", choices=["patrols", "incidents"], help=h("import.kind"))
    im.add_argument("--dry-run", action="store_true", help=h("import.dry_run"))
    im.add_argument("--county", type=_adcode_type(h), metavar="ADCODE", help=h("county"))
    im.add_argument("--max-distance", type=float, metavar="M", help=h("max_distance"))
    im.add_argument("--jobs", type=int, metavar="N", help=h("import.jobs"))
    im.add_argument("--json", action="store_true", help=h("json"))
    im.set_defaults(fn=cmd_import)

    de = sub.add_parser("demo", help=h("demo"), parents=[common])
    de.add_argument("--reset", action="store_true", help=h("demo.reset"))
    de.add_argument("--if-empty", action="store_true", help=h("demo.if_empty"))
    de.set_defaults(fn=cmd_demo)

    au = sub.add_parser("audit", help=h("audit")).add_subparsers(dest="audit_cmd", required=True)
    av = au.add_parser("verify", help=h("audit.verify"), parents=[common])
    av.add_argument("--json", action="store_true", help=h("json"))
    av.add_argument("--checkpoint", metavar="N:MAC", help=h("audit.verify_checkpoint"))
    av.set_defaults(fn=cmd_audit_verify)
    ac = au.add_parser("checkpoint", help=h("audit.checkpoint"), parents=[common])
    ac.add_argument("--json", action="store_true", help=h("json"))
    ac.set_defaults(fn=cmd_audit_checkpoint)
    us = sub.add_parser("users", help=h("users")).add_subparsers(dest="users_cmd", required=True)
    ul = us.add_parser("list", help=h("users.list"), parents=[common])
    ul.add_argument("--json", action="store_true", help=h("json"))
    ua = us.add_parser("add", help=h("users.add"), parents=[common])
    ua.add_argument("username", help=h("users.username"))
    ua.add_argument(
        "--role",
        required=True,
        choices=["officer", "squad_leader", "reviewer", "manager", "admin"],
        help=h("users.role"),
    )
    ua.add_argument("--name", help=h("users.name"))
    ua.add_argument("--scope", type=_adcode_type(h), metavar="ADCODE", help=h("users.scope"))
    ua.add_argument("--password-stdin", action="store_true", help=h("users.password_stdin"))
    for verb in ("disable", "enable"):
        us.add_parser(verb, help=h("users." + verb), parents=[common]).add_argument(
            "username", help=h("users.username")
        )
    ur = us.add_parser("reset-password", help=h("users.reset_password"), parents=[common])
    ur.add_argument("username", help=h("users.username"))
    ur.add_argument("--password-stdin", action="store_true", help=h("users.password_stdin"))
    for p_ in us.choices.values():
        p_.set_defaults(fn=cmd_users)

    sv = sub.add_parser("serve", help=h("serve"), parents=[common])
    sv.add_argument("--host", default="127.0.0.1", help=h("serve.host"))
    sv.add_argument("--port", type=int, default=8501, help=h("serve.port"))
    sv.add_argument("--tls-cert", help=h("serve.tls_cert"))
    sv.add_argument("--tls-key", help=h("serve.tls_key"))
    sv.add_argument("--production", action="store_true", help=h("serve.production"))
    sv.add_argument("--behind-proxy", action="store_true", help=h("serve.behind_proxy"))
    sv.set_defaults(fn=cmd_serve)

    # --- verbs of other areas register here: one line each, `module.register(sub, common, h)` ---
    from patrol_app.maps_cli import register as _maps

    _maps(sub, common, h)
    from patrol_app.reports.cli import register as _reports

    _reports(sub, common, h)
    from patrol_app.documents.cli import register as _documents

    _documents(sub, common, h)
    from patrol_app.backup import register as _backup

    _backup(sub, common, h)
    _translate_help_flags(p, h)
    return p


def _translate_help_flags(parser: argparse.ArgumentParser, h: HelpText) -> None:
    """Every parser's ``-h/--help`` line (argparse writes it before our catalog is asked), recursively."""
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            action.help = h("help")
        elif isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                _translate_help_flags(child, h)


def main(argv: Sequence[str] | None = None) -> int:
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `patrol roads list | head` ends quietly
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(help_lang(argv)).parse_args(argv)
    cli = Cli(args)
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from patrol_app.production import ConfigError, preflight, scrub

    try:
        if args.fn is not cmd_info:  # info describes even a store that does not work yet
            preflight()  # a bad URL, an unreachable database, an unwritable data directory: one line, exit 1
        return int(args.fn(cli) or 0)
    except ConfigError as exc:
        cli.err(error_text(exc, cli.lang))
        return 1
    except ArgumentError:
        cli.err(t("config.bad_db_url", cli.lang))
        return 1
    except DBAPIError as exc:  # the database failed mid-way: the driver's reason, never the password
        url = get_settings().db_url
        reason = scrub(str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__, url)
        cli.err(t("config.db_failed", cli.lang, url=_safe_url(url), reason=reason))
        return 1
    except ValidationFailed as exc:
        cli.err(t("error.validation_failed", cli.lang, count=len(exc.errors)))
        for e in exc.errors:
            cli.err("  " + e.render(cli.lang))
        return 1
    except (ServiceError, GisError) as exc:
        cli.err(error_text(exc, cli.lang))
        return 1
    except AuditKeyError as exc:
        cli.err(error_text(exc, cli.lang))
        return 1


if __name__ == "__main__":
    sys.exit(main())
