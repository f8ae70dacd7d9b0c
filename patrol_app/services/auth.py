"""Local accounts: argon2 password hashes, lockout after repeated failures, user administration.

Passwords are never logged, stored in clear or put in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from patrol_app.clock import utc_now
from patrol_app.domain import adcodes
from patrol_app.domain.rules import Perm, Role
from patrol_app.services import audit, sessions
from patrol_app.services.errors import PermissionDenied, ServiceError
from patrol_app.services.users import CLI_USER, actor_scope, is_operator, require
from patrol_app.storage.models import User

MAX_FAILED = 5
LOCKOUT = dt.timedelta(minutes=15)
MIN_PASSWORD = 8


@functools.cache
def _hasher() -> PasswordHasher:
    # OWASP's argon2id minimum (19 MiB, t=2, p=1): sign-in stays well under 0.5 s on a 2-core server
    return PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ServiceError("auth.password_too_short", n=MIN_PASSWORD)
    return _hasher().hash(password)


# A hash to verify against when the user does not exist, so that timing does not tell who exists.
_DUMMY = None


def _dummy_hash() -> str:
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = _hasher().hash("not-a-real-password")
    return _DUMMY


def sign_in(session: Session, username: str, password: str) -> User:
    """Check a password; lock the account for 15 minutes after 5 failures in a row.

    Raises ``ServiceError("auth.bad_credentials")`` (the same for unknown users and wrong passwords) or
    ``ServiceError("auth.locked", minutes=…)``.
    """
    user = session.execute(select(User).where(User.username == username.strip())).scalar_one_or_none()
    now = utc_now()
    if user is None or not user.password_hash or not user.active or user.username == CLI_USER:
        try:
            _hasher().verify(_dummy_hash(), password or "-")
        except VerificationError:
            pass
        audit.record_sign_in_refused(session, username, user)
        raise ServiceError("auth.bad_credentials")
    if user.locked_until and user.locked_until > now:
        minutes = max(1, int((user.locked_until - now).total_seconds() // 60) + 1)
        audit.record_sign_in_refused(session, username, user, locked=True)
        raise ServiceError("auth.locked", minutes=minutes)
    try:
        _hasher().verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        # one atomic increment in the database: parallel wrong passwords each count (no lost update)
        failed = session.execute(
            update(User)
            .where(User.id == user.id)
            .values(failed_logins=func.coalesce(User.failed_logins, 0) + 1)
            .returning(User.failed_logins)
        ).scalar_one()
        locked = failed >= MAX_FAILED
        if locked:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        audit.record(session, user, "user.sign_in_failed", "user", user.id, after={"locked": locked})
        session.commit()  # the failure counts even though the caller's sign-in fails
        if locked:
            raise ServiceError("auth.locked", minutes=int(LOCKOUT.total_seconds() // 60)) from None
        raise ServiceError("auth.bad_credentials") from None
    if _hasher().check_needs_rehash(user.password_hash):
        user.password_hash = _hasher().hash(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(session, user, "user.sign_in", "user", user.id)
    return user


def needs_first_admin(session: Session) -> bool:
    """True on an empty store: nobody can sign in yet, so the first run asks for an administrator."""
    n = session.execute(
        select(func.count()).select_from(User).where(User.password_hash.is_not(None), User.active.is_(True))
    ).scalar_one()
    return n == 0


def create_first_admin(session: Session, username: str, password: str, display_name: str = "") -> User:
    if not needs_first_admin(session):
        raise ServiceError("auth.already_set_up")
    user = _new_user(session, username, Role.ADMIN, password, display_name)
    audit.record(session, user, "user.create_first_admin", "user", user.id, after=_public(user))
    return user


def _new_user(
    session: Session,
    username: str,
    role: Role,
    password: str,
    display_name: str = "",
    personnel_id: int | None = None,
    scope: str | None = None,
) -> User:
    username = username.strip()
    if not username or username == CLI_USER or len(username) > 64:
        raise ServiceError("auth.bad_username", username=username)
    if session.execute(select(User.id).where(User.username == username)).first():
        raise ServiceError("auth.user_exists", username=username)
    user = User(
        username=username,
        display_name=display_name or username,
        role=Role(role).value,
        password_hash=hash_password(password),
        active=True,
        personnel_id=personnel_id,
        created_at=utc_now(),
        failed_logins=0,
    )
    if scope:
        user.adcode = scope
    session.add(user)
    session.flush()
    return user


def _public(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "adcode": user.adcode,
        "display_name": user.display_name,
        "role": user.role,
        "active": user.active,
        "personnel_id": user.personnel_id,
    }


def add_user(
    session: Session,
    actor: User,
    username: str,
    role: str,
    password: str,
    display_name: str = "",
    personnel_id: int | None = None,
    scope: str | None = None,
) -> User:
    """A new account of ``scope`` (a county's, city's or province's adcode; default the actor's own), which must
    lie within the actor's scope. A city or province account reads roll-ups of its counties and writes no
    records."""
    require(actor, Perm.MANAGE_USERS)
    try:
        role_ = Role(role)
    except ValueError:
        raise ServiceError("auth.bad_role", role=role) from None
    if scope:
        try:
            scope = adcodes.normalise(scope)
        except ValueError:
            raise ServiceError("auth.bad_scope", value=scope) from None
        if not is_operator(actor) and not adcodes.covers(actor_scope(actor), scope):
            raise PermissionDenied(actor.username, f"county {scope}")
    user = _new_user(
        session, username, role_, password, display_name, personnel_id, scope or actor_scope(actor)
    )
    audit.record(session, actor, "user.create", "user", user.id, after=_public(user))
    return user


def set_active(session: Session, actor: User, username: str, active: bool) -> User:
    require(actor, Perm.MANAGE_USERS)
    user = _get(session, username)
    if user.id == actor.id and not active:
        raise ServiceError("auth.cannot_disable_self")
    before = _public(user)
    user.active = active
    if not active:
        sessions.revoke_all(session, user.id)  # signed out everywhere at once
    audit.record(
        session,
        actor,
        "user.enable" if active else "user.disable",
        "user",
        user.id,
        before=before,
        after=_public(user),
    )
    return user


def reset_password(session: Session, actor: User, username: str, password: str) -> User:
    require(actor, Perm.MANAGE_USERS)
    user = _get(session, username)
    if user.username == CLI_USER:  # the command line's own account never signs in to the web app
        raise ServiceError("auth.bad_username", username=username)
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    sessions.revoke_all(session, user.id)  # every device signs in again with the new password
    audit.record(session, actor, "user.reset_password", "user", user.id)  # never the password itself
    return user


def list_users(session: Session, actor: User) -> list[User]:
    require(actor, Perm.MANAGE_USERS)
    return list(
        session.execute(
            select(User)
            .where(User.username != CLI_USER, User.adcode.startswith(adcodes.prefix(actor_scope(actor))))
            .order_by(User.username)
        ).scalars()
    )


def _get(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise ServiceError("error.unknown_user", username=username)
    return user
