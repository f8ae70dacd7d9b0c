"""Accounts used as actors. Sign-in and password management build on this."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from patrol_app.clock import utc_now
from patrol_app.domain import adcodes
from patrol_app.domain.rules import Perm, Role, allowed
from patrol_app.services.errors import PermissionDenied, ServiceError
from patrol_app.storage.models import User

#: The account the command line acts as when no ``--user`` is given: an administrator that cannot sign in.
CLI_USER = "cli"


#: What writes records: refused to city and province accounts, which read roll-ups of their counties.
WRITE_PERMS = frozenset(
    {
        Perm.LOG_PATROL,
        Perm.LOG_INCIDENT,
        Perm.UPDATE_INCIDENT,
        Perm.IMPORT_LEDGER,
        Perm.MANAGE_ROADS,
        Perm.MANAGE_REGISTRY,
        Perm.LOAD_DEMO,
        Perm.OPEN_CASE,
        Perm.REVIEW_CASE,
        Perm.DECIDE_CASE,
        Perm.SUPERVISE,
        Perm.ROLLBACK_IMPORT,
    }
)


def require(actor: User, perm: Perm) -> None:
    """Every service calls this itself: the UI hiding a button is not a permission check."""
    if not actor.active or not allowed(actor.role, perm):
        raise PermissionDenied(actor.username, perm.value)
    if perm in WRITE_PERMS and adcodes.is_rollup(actor_scope(actor)):
        raise PermissionDenied(actor.username, perm.value)


def may(actor: User, perm: Perm) -> bool:
    """What :func:`require` allows, as a yes/no for showing pages and buttons."""
    return (
        actor.active
        and allowed(actor.role, perm)
        and not (perm in WRITE_PERMS and adcodes.is_rollup(actor_scope(actor)))
    )


def actor_scope(actor: User) -> str:
    """The account's scope: its county, city or province (adcode)."""
    from patrol_app.storage.models import configured_county

    return actor.adcode or configured_county()


def is_operator(actor: User) -> bool:
    """The command line's own account (the server's operator) acts in any county it is told to."""
    return actor.username == CLI_USER


def home_county(actor: User | None) -> str | None:
    """The county whose road network ``actor`` works on: a county account's own; None (the configured county)
    for a city or province account, which reads roll-ups, and for nobody."""
    if actor is None:
        return None
    scope = actor_scope(actor)
    return None if adcodes.is_rollup(scope) else scope


def require_county(actor: User, adcode: str | None) -> None:
    """A record of county ``adcode`` is within what ``actor`` may see: a county account sees its own county's
    records only, a city or province account those of its counties. Raises PermissionDenied."""
    if is_operator(actor):
        return
    if not adcode or not adcodes.covers(actor_scope(actor), adcode):
        raise PermissionDenied(actor.username, f"county {adcode}")


def write_county(actor: User, county: str | None = None) -> str:
    """The county a record ``actor`` writes belongs to: the actor's own (``county``, when given, must be it —
    except for the command line's account, which writes where it is told). Raises PermissionDenied for a city
    or province account."""
    scope = actor_scope(actor)
    if county and is_operator(actor):
        return adcodes.normalise(county)
    if adcodes.is_rollup(scope) or (county and county != scope):
        raise PermissionDenied(actor.username, f"county {county or scope}")
    return scope


def get_user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise ServiceError("error.unknown_user", username=username)
    return user


def ensure_user(
    session: Session, username: str, role: Role, display_name: str = "", personnel_id: int | None = None
) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        user = User(
            username=username,
            display_name=display_name or username,
            role=role.value,
            active=True,
            personnel_id=personnel_id,
            created_at=utc_now(),
        )
        session.add(user)
        session.flush()
        from patrol_app.services import audit

        audit.record(
            session,
            user if username == CLI_USER else cli_or_self(session, user),
            "user.create",
            "user",
            user.id,
        )
    return user


def cli_or_self(session: Session, user: User) -> User:
    """Who creates a built-in account: the command line's own account when it exists, else the account itself."""
    cli = session.execute(select(User).where(User.username == CLI_USER)).scalar_one_or_none()
    return cli if cli is not None else user


def cli_actor(session: Session, username: str | None = None, os_user: str | None = None) -> User:
    """The account a command acts as: ``--user NAME``, else the built-in ``cli`` administrator. With ``os_user``
    the audit trail shows who ran it: ``cli(root)``, or ``cli(root) as leader`` with ``--user leader``."""
    user = (
        get_user(session, username)
        if username
        else ensure_user(session, CLI_USER, Role.ADMIN, "命令行 / command line")
    )
    if os_user is not None:
        label = f"{CLI_USER}({os_user})" + (f" as {user.username}" if user.username != CLI_USER else "")
        user.audit_label = label[:64]  # not a column: read by audit.actor_label
    return user


def same_person(session: Session, actor: User, user_id: int | None) -> bool:
    """The actor is that account, or another account of the same person (same personnel record)."""
    if user_id is None:
        return False
    if actor.id == user_id:
        return True
    if actor.personnel_id is None:
        return False
    other = session.get(User, user_id)
    return other is not None and other.personnel_id == actor.personnel_id
