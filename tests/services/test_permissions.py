"""Who may do what: every role × every service action, allowed and refused, calling the services directly (as a
crafted request would) and, for a few, the ``patrol`` command with ``--user`` (the same refusal). Also: lockout,
and passwords never reaching the audit trail or the command's output.

The matrix below is the specification; ``patrol_app.domain.rules.PERMISSIONS`` must agree with it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable

import pytest
from shapely.geometry import LineString
from sqlalchemy import select

from gis.roads import RoadPiece
from patrol_app.i18n import error_text, t
from patrol_app.services import audit, auth, cases, records, registry, roads
from patrol_app.services.errors import PermissionDenied, ServiceError
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import Incident, Personnel, User

#: demo account of each role
ACCOUNTS = {
    "officer": "officer",
    "squad_leader": "leader",
    "reviewer": "reviewer",
    "manager": "manager",
    "admin": "admin",
}
ROLES = list(ACCOUNTS)
PATROL_ROLES = {"officer", "squad_leader"}

#: action → the roles allowed to do it
MATRIX: dict[str, set[str]] = {
    "roads.import": {"admin"},
    "ledger.import": {"squad_leader", "manager", "admin"},
    "patrol.log": PATROL_ROLES,  # services.field.start_patrol (or records.log_patrol where it exists)
    "incident.log": PATROL_ROLES,  # services.field.log_incident (or records.log_incident)
    "users.add": {"admin"},
    "users.disable": {"admin"},
    "users.reset_password": {"admin"},
    "users.list": {"admin"},
    "registry.add_personnel": {"admin"},
    "registry.update_personnel": {"admin"},
    "registry.deactivate_personnel": {"admin"},
    "registry.add_vehicle": {"admin"},
    "registry.update_vehicle": {"admin"},
    "case.open": PATROL_ROLES,
    "case.review": {"reviewer"},
    "case.decide": {"manager"},
    "case.close": {"manager"},
    "case.list": {"officer", "squad_leader", "reviewer", "manager", "admin"},
    "audit.verify": {"admin"},
    "roads.half_width": {"admin"},
    "roads.control_line": {"admin"},
    "ledger.rollback": {"admin"},
}

PATROL_CSV = "日期,巡查路线,出动车辆(台次),出动人员(人次)\n2025-03-05,X001,1,2\n"


def get_user(s, username: str) -> User:
    return s.execute(select(User).where(User.username == username)).scalar_one()


def pid(s, name: str) -> int:
    return s.execute(select(Personnel.id).where(Personnel.name == name)).scalar_one()


def incident_without_case(s) -> int:
    return (
        s.execute(select(Incident.id).where(Incident.status == "open").order_by(Incident.id.desc()))
        .scalars()
        .first()
    )


def case_for(s, stage: str) -> int:
    """A case opened by officer2 (王芳) with 赵磊 and 陈静 investigating: no demo account is involved in it."""
    inc = (
        s.execute(select(Incident.id).where(Incident.status == "open").order_by(Incident.id))
        .scalars()
        .first()
    )
    case = cases.open_case(s, get_user(s, "officer2"), inc, [pid(s, "赵磊"), pid(s, "陈静")])
    if stage == "decided":
        cases.decide_case(s, get_user(s, "manager"), case.id, "penalty", "罚款")
    return case.id


def _field_or_records(name: str, field_name: str) -> Callable:  # type: ignore[type-arg]
    """The logging service as it is now: ``services.field`` (app entry) or the older ``records`` functions."""
    from patrol_app.services import field

    fn = getattr(field, field_name, None) or getattr(records, name, None)
    assert fn is not None, f"no services.field.{field_name} or records.{name} to test"
    return fn


def act(action: str, s, actor: User, tmp_path) -> object:  # type: ignore[no-untyped-def]
    yesterday = dt.date.today() - dt.timedelta(days=1)
    if action == "roads.import":
        line = LineString([(103.80, 25.40), (103.81, 25.41)])
        return roads.import_roads(s, actor, [RoadPiece("X901", line, "测试路", "county")], source="test")
    if action == "ledger.import":
        path = tmp_path / "patrols.csv"
        path.write_text(PATROL_CSV, encoding="utf-8")
        res = records.import_ledger(s, actor, path, dry_run=True)
        assert res.ok, [e.render() for e in res.errors]
        return res
    if action == "roads.half_width":
        return roads.set_half_width(s, actor, "X001", 9.0)
    if action == "roads.control_line":
        return roads.add_control_line(
            s, actor, "X001", "K1+000", "K2+000", 30.0, "测试文号", dt.date(2024, 1, 1)
        )
    if action == "ledger.rollback":
        from patrol_app.services import ledger_jobs
        from patrol_app.storage.models import ImportBatch

        batch = ImportBatch(
            kind="incidents",
            filename="t.csv",
            sha256="0" * 64,
            rows=0,
            created_by=get_user(s, "admin").id,
            created_at=dt.datetime(2025, 1, 1),
        )
        s.add(batch)
        s.flush()
        return ledger_jobs.rollback_batch(s, actor, batch.id)
    if action == "patrol.log":
        fn = _field_or_records("log_patrol", "start_patrol")
        if fn.__name__ == "start_patrol":
            from patrol_app.services.field import PatrolStart

            return fn(
                s,
                actor,
                PatrolStart(
                    date=yesterday,
                    start_time="09:00",
                    roads=["X001"],
                    crew_ids=[pid(s, "赵磊"), pid(s, "陈静")],
                    vehicle_ids=[1],
                ),
            )
        return fn(s, actor, {"date": yesterday, "roads": "X001", "vehicles": 1, "personnel": 2})
    if action == "incident.log":
        return _field_or_records("log_incident", "log_incident")(
            s,
            actor,
            {
                "found_at": dt.datetime.combine(yesterday, dt.time(10)),
                "type": "materials",
                "road": "X001",
                "stake": "K1+000",
            },
        )
    if action == "users.add":
        return auth.add_user(s, actor, "newbie", "officer", "long-enough-pw")
    if action == "users.disable":
        return auth.set_active(s, actor, "officer2", False)
    if action == "users.reset_password":
        return auth.reset_password(s, actor, "officer2", "another-long-pw")
    if action == "users.list":
        return auth.list_users(s, actor)
    if action == "registry.add_personnel":
        return registry.add_personnel(s, actor, "钱进", "路政员", "53030201099", dt.date(2030, 1, 1))
    if action == "registry.update_personnel":
        return registry.update_personnel(s, actor, pid(s, "赵磊"), cert_expiry=dt.date(2031, 1, 1))
    if action == "registry.deactivate_personnel":
        return registry.set_personnel_active(s, actor, pid(s, "孙丽"), False)
    if action == "registry.add_vehicle":
        return registry.add_vehicle(s, actor, "云D·L0399", "皮卡")
    if action == "registry.update_vehicle":
        return registry.update_vehicle(s, actor, 1, kind="执法车")
    if action == "case.open":
        return cases.open_case(s, actor, incident_without_case(s), [pid(s, "赵磊"), pid(s, "陈静")])
    if action == "case.review":
        return cases.review_case(s, actor, case_for(s, "open"), True, "同意")
    if action == "case.decide":
        return cases.decide_case(s, actor, case_for(s, "open"), "penalty", "罚款二千元")
    if action == "case.close":
        return cases.close_case(s, actor, case_for(s, "decided"), "已执行")
    if action == "case.list":
        return cases.list_cases(s, actor)
    if action == "audit.verify":
        res = audit.verify(s, actor)
        assert res.ok
        return res
    raise AssertionError(action)


def test_the_matrix_agrees_with_the_role_table():
    from patrol_app.domain.rules import allowed

    perm_of = {
        "roads.import": "manage_roads",
        "ledger.import": "import_ledger",
        "patrol.log": "log_patrol",
        "incident.log": "log_incident",
        "case.open": "open_case",
        "case.review": "review_case",
        "case.decide": "decide_case",
        "case.list": "follow_cases",
        "audit.verify": "verify_audit",
        "roads.half_width": "manage_roads",
        "roads.control_line": "manage_roads",
        "ledger.rollback": "rollback_import",
    }
    from patrol_app.domain.rules import Perm

    for action, roles in MATRIX.items():
        perm = Perm(
            perm_of.get(
                action,
                "manage_users"
                if action.startswith("users.")
                else "manage_registry"
                if action.startswith("registry.")
                else "decide_case",
            )
        )
        assert {r for r in ROLES if allowed(r, perm)} == roles, action


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(MATRIX))
def test_role_action(store, tmp_path, role, action):
    """Allowed: the call succeeds. Refused: PermissionDenied naming the account, and nothing is kept."""
    with read_session() as s:  # rolled back at the end either way
        actor = get_user(s, ACCOUNTS[role])
        if role in MATRIX[action]:
            act(action, s, actor, tmp_path)
        else:
            with pytest.raises(PermissionDenied) as e:
                act(action, s, actor, tmp_path)
            assert e.value.params["actor"] == ACCOUNTS[role]
            assert error_text(e.value, "zh").startswith(f"用户 {ACCOUNTS[role]} 无权执行此操作")


@pytest.mark.parametrize("action", ["users.add", "registry.add_vehicle", "roads.import", "audit.verify"])
def test_a_disabled_administrator_is_refused_everything(store, tmp_path, action):
    with session_scope() as s:
        admin2 = auth.add_user(s, get_user(s, "admin"), "admin2", "admin", "long-enough-pw")
        auth.set_active(s, get_user(s, "admin"), "admin2", False)
        with pytest.raises(PermissionDenied):
            act(action, s, admin2, tmp_path)
        s.rollback()


# --- the command line: the same refusals --------------------------------------------------------------


def refusal(username: str, perm: str) -> str:
    return t("error.permission_denied", "zh", actor=username, perm=perm)


def test_cli_refuses_with_the_service_message(store, run_patrol_many, tmp_path):
    ledger = tmp_path / "patrols.csv"
    ledger.write_text(PATROL_CSV, encoding="utf-8")
    roads_file = tmp_path / "road.geojson"
    roads_file.write_text(
        '{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"X901"},'
        '"geometry":{"type":"LineString","coordinates":[[103.8,25.4],[103.81,25.41]]}}]}',
        encoding="utf-8",
    )
    calls = [
        ["--user", "officer", "users", "list"],
        ["--user", "manager", "roads", "import", roads_file],
        ["--user", "officer", "import", ledger, "--dry-run"],
        ["--user", "reviewer", "users", "disable", "officer2"],
        ["--user", "leader", "import", ledger, "--dry-run"],  # allowed
        ["--user", "admin", "users", "list", "--json"],  # allowed
        ["--user", "admin", "audit", "verify"],  # allowed
    ]
    out = run_patrol_many(calls, store.env)
    expected = [
        refusal("officer", "manage_users"),
        refusal("manager", "manage_roads"),
        refusal("officer", "import_ledger"),
        refusal("reviewer", "manage_users"),
    ]
    for proc, message in zip(out, expected):
        assert proc.returncode == 1 and proc.stderr.strip() == message, proc.stderr
    assert [p.returncode for p in out[4:]] == [0, 0, 0], [p.stderr for p in out[4:]]
    assert "officer2" in out[5].stdout
    with read_session() as s:
        assert get_user(s, "officer2").active


def test_cli_audit_verify_needs_the_permission(store, run_patrol):
    proc = run_patrol(["--user", "officer", "audit", "verify"], store.env)
    assert proc.returncode == 1 and proc.stderr.strip() == refusal("officer", "verify_audit")


# --- accounts: lockout, passwords ----------------------------------------------------------------------


def test_lockout_after_five_wrong_passwords_and_unlock_by_reset(store):
    for i in range(auth.MAX_FAILED):
        with pytest.raises(ServiceError) as e, session_scope() as s:
            auth.sign_in(s, "officer", f"wrong-{i}")
        assert e.value.key == ("auth.locked" if i == auth.MAX_FAILED - 1 else "auth.bad_credentials")
    with pytest.raises(ServiceError) as e, session_scope() as s:
        auth.sign_in(s, "officer", "patrol-demo")  # the right password, but locked
    assert e.value.key == "auth.locked" and "15" in error_text(e.value)
    with session_scope() as s:
        auth.reset_password(s, get_user(s, "admin"), "officer", "a-brand-new-pw")
    with session_scope() as s:
        assert auth.sign_in(s, "officer", "a-brand-new-pw").username == "officer"
    with read_session() as s:
        assert get_user(s, "officer").failed_logins == 0 and get_user(s, "officer").locked_until is None


def test_passwords_never_reach_the_audit_trail_or_the_command_output(store, run_patrol):
    secret, secret2 = "s3cret-Horse-Battery", "an0ther-Secret-Pass"
    added = run_patrol(
        ["users", "add", "zhou", "--role", "reviewer", "--name", "周强", "--password-stdin"],
        store.env,
        input=secret + "\n",
    )
    reset = run_patrol(
        ["--user", "admin", "users", "reset-password", "zhou", "--password-stdin"],
        store.env,
        input=secret2 + "\n",
    )
    listed = run_patrol(["users", "list", "--json"], store.env)
    for proc in (added, reset, listed):
        assert proc.returncode == 0, proc.stderr
        assert secret not in proc.stdout + proc.stderr and secret2 not in proc.stdout + proc.stderr
        assert "argon2" not in proc.stdout + proc.stderr
    with session_scope() as s, pytest.raises(ServiceError):
        auth.sign_in(s, "zhou", secret)  # a failure is audited too
    with session_scope() as s:
        auth.sign_in(s, "zhou", secret2)
        stored_hash = get_user(s, "zhou").password_hash
    db = sqlite3.connect(store.db_path)
    trail = "\n".join(" ".join(map(str, row)) for row in db.execute("select * from audit_log"))
    by_zhou = db.execute("select count(*) from audit_log where actor = 'zhou'").fetchone()[0]
    db.close()
    assert (
        "user.create" in trail and "user.reset_password" in trail and by_zhou == 2
    )  # failed and good sign-in
    assert secret not in trail and secret2 not in trail
    assert stored_hash not in trail and "argon2" not in trail
