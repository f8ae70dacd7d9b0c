"""Every service checks its caller: each public function of ``patrol_app.services.*`` (and of the other modules
that read the store for users: exports, reports) that takes a database session must also take the
acting user, and must refuse an account whose role holds no permission — before it reads or writes anything.

Found by inspection, so a new service cannot slip past: a function "touches the store" when it has a parameter
named ``session``. The allow-list below names the few that cannot take an actor, and why.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

import patrol_app.services
from patrol_app.services.errors import PermissionDenied
from patrol_app.storage.db import session_scope
from patrol_app.storage.models import AuditEntry, Incident, Patrol, User

OTHER_MODULES = ("patrol_app.io.exports", "patrol_app.reports.report")

#: (module, function) → why it takes no acting user, or does not check one.
ALLOWED = {
    # finding the acting user itself: nobody is acting yet
    ("patrol_app.services.users", "get_user"): "resolves the account that will act",
    ("patrol_app.services.users", "ensure_user"): "creates the built-in/demo accounts the CLI acts as",
    ("patrol_app.services.users", "cli_actor"): "resolves the command line's acting account",
    ("patrol_app.services.auth", "sign_in"): "before sign-in there is no actor; checks the password itself",
    ("patrol_app.services.auth", "needs_first_admin"): "first run: is there anyone who could sign in?",
    ("patrol_app.services.auth", "create_first_admin"): "first run only; refuses once an admin exists",
    # helpers that run inside a service after its own check
    ("patrol_app.services.audit", "record"): "writes the audit entry of an act its caller has checked",
    (
        "patrol_app.services.audit",
        "record_rows",
    ): "writes the audit entries (with full state) of records its caller has written after its own check",
    ("patrol_app.services.audit", "record_sign_in_refused"): "a refused sign-in: nobody is acting yet",
    (
        "patrol_app.services.audit_log",
        "record_access",
    ): "records an export or download its caller has checked",
    ("patrol_app.services.users", "same_person"): "who the acting user is (the same person's other account), "
    "asked by services after their own check",
    (
        "patrol_app.services.users",
        "cli_or_self",
    ): "resolves who creates a built-in account (the acting account)",
    ("patrol_app.services.roads", "network"): "the cached road geometry (public map data) every service uses "
    "after its own check; no records",
    (
        "patrol_app.services.roads",
        "network_version",
    ): "the network's version stamp (public map data); no records",
    ("patrol_app.services.roads", "invented_network"): "whether the roads are the demo's (public map data); "
    "no records",
    ("patrol_app.services.roads", "device_geojson"): "the road network for field devices (public map data, "
    "served only to signed-in users); no records",
    ("patrol_app.services.records", "imported_batch"): "finds a live batch by file hash inside check_ledger, "
    "write_ledger and start_job, after their check",
    ("patrol_app.services.tracks", "rebuild"): "derives a patrol's line and km inside add_points/store_gpx, "
    "after their check",
    ("patrol_app.services.tracks", "summary"): "a patrol's stored track, read by callers that have checked",
    ("patrol_app.services.tracks", "track_km"): "a patrol's track km, read by end_patrol after its check",
    # the sign-in layer: finding out who is acting, from a cookie or a page session
    **{
        (
            "patrol_app.services.sessions",
            n,
        ): "sign-in sessions: resolves or ends the session a user acts through"
        for n in (
            "start",
            "redeem",
            "resolve_token",
            "resolve_id",
            "revoke",
            "revoke_all",
            "mark_used",
        )
    },
}


def _modules():
    for m in pkgutil.iter_modules(patrol_app.services.__path__):
        yield importlib.import_module(f"patrol_app.services.{m.name}")
    for name in OTHER_MODULES:
        yield importlib.import_module(name)


def store_functions():
    out = []
    for mod in _modules():
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if name.startswith("_") or fn.__module__ != mod.__name__:
                continue
            if "session" in inspect.signature(fn).parameters:
                out.append((mod.__name__, name, fn))
    return out


FUNCTIONS = store_functions()

#: plausible arguments by parameter name (the check must come first, so they barely matter)
SAMPLE = {
    "incident_id": 1,
    "patrol_id": 1,
    "case_id": 1,
    "personnel_id": 1,
    "vehicle_id": 1,
    "username": "officer2",
    "role": "officer",
    "password": "long-enough-password",
    "name": "钱进",
    "plate": "云D12345",
    "status": "closed",
    "note": "x",
    "opinion": "x",
    "text": "x",
    "outcome": "penalty",
    "approve": True,
    "active": False,
    "form": "incident",
    "payload": {},
    "raw": {},
    "data": None,
    "year": 2025,
    "on_date": dt.date(2025, 1, 1),
    "officer_ids": [1, 2],
    "personnel_ids": [1, 2],
    "end_time": "12:00",
    "km": 1.0,
    "type_code": "stall",
    "road_code": "X001",
    "chainage_m": 100.0,
    "lon": 103.8,
    "lat": 25.4,
    "incident_ids": [1],
    "kind": "incidents",
    "fmt": "csv",
    "action": "x",
    "entity": "x",
    "entity_id": 1,
    "pieces": [],
    "patrols": [],
    "incidents": [],
    "source": "test",
    "title": "",
    "cert_no": "",
    "cert_expiry": None,
    "auxiliary": False,
    "changes": {},
    "near": None,
    "model": None,
    "client_id": "x",
    "crew_ids": [1, 2],
    "day": dt.date(2025, 1, 1),
    "photo": None,
    "on": dt.date(2025, 1, 1),
    "participants": "x",
    "conclusion": "x",
    "batch_id": "b",
    "points": [],
    "inc": None,
    "patrol": None,
    "code": "X001",
    "line_id": 1,
    "half_road_land_m": 8.0,
    "from_stake": "K0+000",
    "to_stake": "K1+000",
    "distance_m": 30.0,
    "doc_no": "x",
    "doc_date": dt.date(2025, 1, 1),
    "job_id": 1,
    "rf": None,
    "mapping": {},
    "pv": None,
    "check": None,
    "old": None,
    "new": None,
}


def arguments(fn, session, actor, tmp_path: Path):
    from patrol_app.reports.rollup import Period
    from patrol_app.services.cases import Case
    from patrol_app.services.mapdata import MapFilter

    args = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL, p.KEYWORD_ONLY):
            continue
        if p.name == "session":
            args.append(session)
        elif p.name == "actor":
            args.append(actor)
        elif p.name == "f":
            args.append(MapFilter())
        elif p.name == "period":
            args.append(Period.year(2025))
        elif p.name == "case":
            args.append(
                session.get(Case, 1) or Case(id=0, incident_id=1, major=False, status="investigating")
            )
        elif p.name in ("path", "out"):
            args.append(tmp_path / "x.csv")
        elif p.name == "network":
            from patrol_app.services.roads import network

            args.append(network(session))
        elif p.name in SAMPLE:
            args.append(SAMPLE[p.name])
        elif p.default is not p.empty:
            args.append(p.default)
        else:
            raise AssertionError(f"{fn.__module__}.{fn.__name__}: add a sample for parameter {p.name!r}")
    return args


def test_the_enumeration_finds_the_services():
    names = {(m.rsplit(".", 1)[1], n) for m, n, _ in FUNCTIONS}
    for expected in [
        ("field", "open_incidents"),
        ("field", "history"),
        ("field", "recent_incidents"),
        ("photo_verify", "verify_photos"),
        ("mapdata", "incident_points"),
        ("exports", "export"),
        ("stats", "year_totals"),
        ("cases", "list_cases"),
        ("records", "import_ledger"),
    ]:
        assert expected in names
    assert len(FUNCTIONS) > 50


@pytest.mark.parametrize(
    "module, name, fn",
    [f for f in FUNCTIONS if (f[0], f[1]) not in ALLOWED],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_service_takes_the_actor_and_refuses_without_permission(store, tmp_path, module, name, fn):
    assert "actor" in inspect.signature(fn).parameters, f"{module}.{name} touches the store without an actor"
    with session_scope() as s:
        nobody = User(
            username="nobody",
            display_name="nobody",
            role="none",
            active=True,
            created_at=dt.datetime(2025, 1, 1),
            failed_logins=0,
        )
        s.add(nobody)
        s.flush()
        before = [
            s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Incident, Patrol, AuditEntry)
        ]
        with pytest.raises(PermissionDenied):
            result = fn(*arguments(fn, s, nobody, tmp_path))
            if inspect.isgenerator(result):
                next(result)
        after = [
            s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Incident, Patrol, AuditEntry)
        ]
        assert after == before


@pytest.mark.parametrize("module, name", sorted(ALLOWED))
def test_the_allow_list_is_current(module, name):
    """Every allow-listed name still exists and still touches the store (no stale exemptions)."""
    assert (module, name) in {(m, n) for m, n, _ in FUNCTIONS}


def test_a_disabled_account_is_refused_too(store):
    from patrol_app.services import field
    from patrol_app.services.users import get_user

    with session_scope() as s:
        officer = get_user(s, "officer")
        officer.active = False
        with pytest.raises(PermissionDenied):
            field.open_incidents(s, officer)
        with pytest.raises(PermissionDenied):
            field.history(s, officer, 1)
