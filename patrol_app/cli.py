"""The ``patrol`` command: bulk work on the store from a shell.

Exit codes: 0 done; 1 refused or failed (nothing written); 2 usage error or no road in reach.
"""

from __future__ import annotations

import argparse
import csv
import json
import signal
import sys
from pathlib import Path
from typing import Any, Sequence

from gis.errors import GisError, NoRoadInReachError
from patrol_app.config import get_settings
from patrol_app.i18n import error_text, position_text, t
from patrol_app.services.audit_key import AuditKeyError
from patrol_app.services.errors import ServiceError, ValidationFailed

LOCATE_KEYS = ("road_code", "road_name", "road_class", "chainage_m", "stake", "side", "offset_m",
               "in_control_zone", "control_zone_m", "legal_basis")


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


def _session():  # type: ignore[no-untyped-def]
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


def _actor(session, cli: Cli):  # type: ignore[no-untyped-def]
    from patrol_app.services.users import cli_actor

    return cli_actor(session, getattr(cli.args, "user", None), os_user())


def cmd_db_upgrade(cli: Cli) -> int:
    _store()
    cli.out(_safe_url(get_settings().db_url))
    return 0


def cmd_roads_import(cli: Cli) -> int:
    from gis.roads import read_road_file
    from patrol_app.services.roads import import_roads

    a = cli.args
    pieces = read_road_file(a.path, code_field=a.code_field, name_field=a.name_field,
                            class_field=a.class_field, start_field=a.start_field, gcj02=a.gcj02)
    _store()
    with _session() as s:
        res = import_roads(s, _actor(s, cli), pieces, source=Path(a.path).name, replace=a.replace)
    cli.out(t("cli.roads_imported", cli.lang, **res))
    return 0


def _network(session):  # type: ignore[no-untyped-def]
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
        cli.out(f"{r['code']:6} {t('class.' + r['road_class'], cli.lang):6} {r['start_stake']:>10} – "
                f"{r['end_stake']:<10} {r['length_km']:8.3f} km  {r['name']}")
    return 0


def _position_dict(pos) -> dict[str, Any]:  # type: ignore[no-untyped-def]
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


def _locate_batch(cli: Cli, net, dist: float) -> int:  # type: ignore[no-untyped-def]
    import numpy as np
    import pandas as pd

    from gis.linref import locate_columns

    a = cli.args
    if not a.out:
        cli.err("--batch needs --out OUT.csv")
        return 2
    df = pd.read_csv(a.batch, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    cols = {c.strip().lower(): c for c in df.columns}
    lon_c = cols.get("lon") or cols.get("经度")
    lat_c = cols.get("lat") or cols.get("纬度")
    if not lon_c or not lat_c:
        cli.err(t("error.ledger_missing_columns", cli.lang, sheet=a.batch, kind="locate", columns="lon, lat"))
        return 1
    lon = pd.to_numeric(df[lon_c], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(df[lat_c], errors="coerce").to_numpy(dtype=float)
    res = locate_columns(net, lon, lat, dist)
    for k in LOCATE_KEYS + ("zone", "zone_road_code"):
        df[k] = res[k]
    df.to_csv(a.out, index=False, encoding="utf-8-sig", quoting=csv.QUOTE_MINIMAL)
    found = int(np.count_nonzero(pd.notna(df["road_code"])))
    cli.out(t("cli.batch_done", cli.lang, found=found, total=len(df), out=a.out))
    return 0


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
    from patrol_app.services.records import import_ledger

    a = cli.args
    _store()
    with _session() as s:  # a short transaction of its own (the built-in account may be created)
        actor = _actor(s, cli)
    with _session() as s:  # the import takes the write lock only to insert
        res = import_ledger(s, actor, a.path, kind=a.kind, dry_run=a.dry_run, max_distance=a.max_distance)
        if not res.ok:
            s.rollback()
    if a.json:
        cli.dump({"ok": res.ok, "dry_run": res.dry_run, "patrols": res.patrols, "incidents": res.incidents,
                  "batch_id": res.batch_id, "sheets": res.sheets,
                  "flagged": [{"sheet": e.sheet, "row": e.row, "column": e.column, "message": e.render(cli.lang)}
                              for e in res.flagged],
                  "errors": [{"sheet": e.sheet, "row": e.row, "column": e.column, "message": e.render(cli.lang)}
                             for e in res.errors]})
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

    from patrol_app.photos import verify_photos
    from patrol_app.services.audit import Checkpoint, verify
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
        cli.dump({**res.__dict__, "records": [r.__dict__ for r in res.records], "ok": ok, "chain_ok": res.ok,
                  "photos_checked": photos_checked, "photos": [p.__dict__ for p in problems]})
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
        cli.err(t("cli.audit_broken", cli.lang, id=res.first_bad_id,
                  reason=t("admin.audit_reason." + res.reason, cli.lang)))
    if problems:
        first = problems[0]
        cli.err(t("photo.verify_" + first.kind, cli.lang, id=first.id, path=first.path,
                  expected=first.expected, actual=first.actual))
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
    cli.err(t("cli.serving", cli.lang, url=f"{'https' if a.tls_cert else 'http'}://{a.host}:{a.port}",
              db=_safe_url(url)))
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
            rows = [{"username": u.username, "display_name": u.display_name, "role": u.role, "active": u.active,
                     "locked": bool(u.locked_until), "last_login_at": u.last_login_at}
                    for u in auth.list_users(s, actor)]
            if a.json:
                cli.dump(rows)
            else:
                for r in rows:
                    state = "" if r["active"] else " (停用/disabled)"
                    cli.out(f"{r['username']:16} {t('role.' + r['role'], cli.lang):8} {r['display_name']}{state}")
        elif a.users_cmd == "add":
            auth.add_user(s, actor, a.username, a.role, _read_password(cli), a.name or "")
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="patrol", description="路政巡查日志 road patrol log")
    p.add_argument("--user", help="act as this account (default: the built-in command-line administrator)")
    p.add_argument("--lang", choices=["zh", "en"], help="message language (default PATROL_LANG or zh)")
    common = argparse.ArgumentParser(add_help=False)  # the global options also work after the verb
    common.add_argument("--user", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--lang", choices=["zh", "en"], default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_cmd", required=True)
    db.add_parser("upgrade", help="create or migrate the database", parents=[common]).set_defaults(fn=cmd_db_upgrade)

    roads = sub.add_parser("roads", help="road network").add_subparsers(dest="roads_cmd", required=True)
    ri = roads.add_parser("import", help="import GeoJSON, GeoPackage or Shapefile road lines", parents=[common])
    ri.add_argument("path")
    ri.add_argument("--code-field")
    ri.add_argument("--name-field")
    ri.add_argument("--class-field")
    ri.add_argument("--start-field")
    ri.add_argument("--gcj02", action="store_true", help="coordinates are GCJ-02 (AMap/DataV): convert to WGS-84")
    ri.add_argument("--replace", action="store_true", help="replace the whole network")
    ri.set_defaults(fn=cmd_roads_import)
    rl = roads.add_parser("list", help="list roads", parents=[common])
    rl.add_argument("--json", action="store_true")
    rl.set_defaults(fn=cmd_roads_list)

    lo = sub.add_parser("locate", help="point → road, stake, side, offset, control-zone verdict", parents=[common])
    lo.add_argument("lon", type=float, nargs="?")
    lo.add_argument("lat", type=float, nargs="?")
    lo.add_argument("--json", action="store_true")
    lo.add_argument("--max-distance", type=float, help="metres (default 100)")
    lo.add_argument("--batch", metavar="IN.csv", help="CSV with lon,lat columns")
    lo.add_argument("--out", metavar="OUT.csv")
    lo.set_defaults(fn=cmd_locate)

    st = sub.add_parser("stake", help="road + stake → lon,lat", parents=[common])
    st.add_argument("road")
    st.add_argument("stake")
    st.add_argument("--json", action="store_true")
    st.set_defaults(fn=cmd_stake)

    im = sub.add_parser("import", help="import a ledger (台账), CSV or XLSX, all or nothing", parents=[common])
    im.add_argument("path")
    im.add_argument("--kind", choices=["patrols", "incidents"])
    im.add_argument("--dry-run", action="store_true", help="check only; write nothing")
    im.add_argument("--max-distance", type=float)
    im.add_argument("--json", action="store_true")
    im.set_defaults(fn=cmd_import)

    de = sub.add_parser("demo", help="load the demo network, registries and two years of records", parents=[common])
    de.add_argument("--reset", action="store_true", help="replace existing records with the demo")
    de.add_argument("--if-empty", action="store_true", help="load only into an empty store")
    de.set_defaults(fn=cmd_demo)

    au = sub.add_parser("audit", help="audit trail").add_subparsers(dest="audit_cmd", required=True)
    av = au.add_parser("verify", help="check the keyed chain, the records against it and the evidence photos",
                       parents=[common])
    av.add_argument("--json", action="store_true")
    av.add_argument("--checkpoint", metavar="N:MAC",
                    help="prove that nothing up to this checkpoint (from `patrol audit checkpoint`) was removed "
                         "or rewritten")
    av.set_defaults(fn=cmd_audit_verify)
    ac = au.add_parser("checkpoint", help="print the last entry's number and MAC, to write down elsewhere",
                       parents=[common])
    ac.add_argument("--json", action="store_true")
    ac.set_defaults(fn=cmd_audit_checkpoint)
    us = sub.add_parser("users", help="accounts").add_subparsers(dest="users_cmd", required=True)
    ul = us.add_parser("list", help="list accounts", parents=[common])
    ul.add_argument("--json", action="store_true")
    ua = us.add_parser("add", help="add an account (the password is asked for, never given as an argument)",
                       parents=[common])
    ua.add_argument("username")
    ua.add_argument("--role", required=True, choices=["officer", "squad_leader", "reviewer", "manager", "admin"])
    ua.add_argument("--name", help="display name")
    ua.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    for verb in ("disable", "enable"):
        us.add_parser(verb, help=f"{verb} an account", parents=[common]).add_argument("username")
    ur = us.add_parser("reset-password", help="set a new password and lift a lockout", parents=[common])
    ur.add_argument("username")
    ur.add_argument("--password-stdin", action="store_true")
    for name, p_ in us.choices.items():
        p_.set_defaults(fn=cmd_users)

    sv = sub.add_parser("serve", help="serve the app: pages and HTTP routes on one port", parents=[common])
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    sv.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    sv.add_argument("--tls-cert", help="certificate file (PEM) to serve HTTPS")
    sv.add_argument("--tls-key", help="private key file (PEM) for --tls-cert")
    sv.add_argument("--production", action="store_true",
                    help="the bureau's server (also PATROL_PRODUCTION=1): no demo, keys from the environment or files")
    sv.add_argument("--behind-proxy", action="store_true",
                    help="an HTTPS reverse proxy is in front (also PATROL_BEHIND_PROXY=1): Secure cookie, plain HTTP "
                         "allowed on a non-loopback address")
    sv.set_defaults(fn=cmd_serve)

    # --- verbs of other areas register here: one line each, `module.register(sub, common)` ---
    from patrol_app.maps_cli import register as _maps
    _maps(sub, common)
    from patrol_app.reports.cli import register as _reports
    _reports(sub, common)
    from patrol_app.documents.cli import register as _documents
    _documents(sub, common)
    from patrol_app.backup import register as _backup
    _backup(sub, common)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `patrol roads list | head` ends quietly
    args = build_parser().parse_args(argv)
    cli = Cli(args)
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from patrol_app.production import ConfigError, preflight, scrub

    try:
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
