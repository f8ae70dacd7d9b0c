"""Server-side sign-in sessions: what keeps an officer signed in across reloads, new tabs and server restarts.

A session is a row; the browser holds a random token in an HttpOnly cookie and the store keeps only its SHA-256.
Signing in on a page cannot set an HttpOnly cookie from the script, so it creates the session with a one-time
*ticket* (valid for a minute, hashed too) that the browser redeems at ``/auth/redeem`` for the cookie.

A session ends after ``PATROL_SESSION_IDLE_MINUTES`` without use (30) and ``PATROL_SESSION_MAX_HOURS`` after
sign-in (12). Sign-out ends it; a password reset or disabling the account ends all of that user's sessions.
Times are naive UTC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from patrol_app.clock import utc_now
from patrol_app.config import get_settings
from patrol_app.storage.models import User, WebSession

COOKIE = "patrol_session"
TICKET_LIFETIME = dt.timedelta(seconds=60)
# last_seen is written at most this often, so that a page's reruns are reads, not writes
TOUCH_EVERY = dt.timedelta(seconds=30)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def idle_timeout() -> dt.timedelta:
    return dt.timedelta(minutes=get_settings().session_idle_minutes)


def max_lifetime() -> dt.timedelta:
    return dt.timedelta(hours=get_settings().session_max_hours)


@dataclass(frozen=True)
class Started:
    session_id: int
    ticket: str | None
    token: str | None
    csrf_token: str


def start(session: Session, user: User, user_agent: str = "", with_ticket: bool = True) -> Started:
    """A new session for a user who has just proved who they are (``auth.sign_in``).

    With ``with_ticket`` (a page's sign-in form) the session waits for its ticket to be redeemed; without (the
    JSON API, which sets the cookie itself) it gets its token at once."""
    if user.username == "cli":
        raise ValueError("the command-line account has no web sessions")
    now = utc_now()
    ticket = secrets.token_urlsafe(32) if with_ticket else None
    token = None if with_ticket else secrets.token_urlsafe(32)
    row = WebSession(
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + max_lifetime(),
        user_agent=(user_agent or "")[:256],
        csrf_token=secrets.token_urlsafe(24),
        ticket_hash=_hash(ticket) if ticket else None,
        ticket_expires_at=now + TICKET_LIFETIME if ticket else None,
        token_hash=_hash(token) if token else None,
    )
    session.add(row)
    session.flush()
    return Started(row.id, ticket, token, row.csrf_token)


def redeem(session: Session, ticket: str) -> str | None:
    """Trade a one-time ticket for the session's cookie token; None when the ticket is unknown, used or stale."""
    if not ticket:
        return None
    row = session.execute(
        select(WebSession).where(WebSession.ticket_hash == _hash(ticket))
    ).scalar_one_or_none()
    now = utc_now()
    if row is None:
        return None
    row.ticket_hash = None  # one use only, whatever happens next
    if (
        row.revoked_at is not None
        or row.ticket_expires_at is None
        or row.ticket_expires_at < now
        or row.expires_at <= now
    ):
        return None
    token = secrets.token_urlsafe(32)
    row.token_hash = _hash(token)
    row.ticket_expires_at = None
    row.last_seen_at = now
    return token


@dataclass(frozen=True)
class Resolved:
    """What a cookie (or a page session's id) stands for: the user, or why there is none."""

    user: User | None
    session_id: int | None = None
    csrf_token: str = ""
    ended: str | None = None  # "idle", "expired", "revoked", "disabled" or None (unknown / never signed in)
    stale: bool = False  # last use recorded long enough ago that this use should be recorded (``touch``)


def _check(session: Session, row: WebSession | None, touch: bool) -> Resolved:
    if row is None:
        return Resolved(None)
    now = utc_now()
    if row.revoked_at is not None:
        return Resolved(None, row.id, ended="revoked")
    if row.expires_at <= now:
        return Resolved(None, row.id, ended="expired")
    if now - row.last_seen_at > idle_timeout():
        return Resolved(None, row.id, ended="idle")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return Resolved(None, row.id, ended="disabled")
    stale = now - row.last_seen_at > TOUCH_EVERY
    if touch and stale:
        mark_used(session, row.id)
        stale = False
    return Resolved(user, row.id, row.csrf_token, stale=stale)


def mark_used(session: Session, session_id: int) -> None:
    """Record a use of the session (the idle timeout counts from the last one)."""
    session.execute(update(WebSession).where(WebSession.id == session_id).values(last_seen_at=utc_now()))


def resolve_token(session: Session, token: str | None, touch: bool = True) -> Resolved:
    """The session of a cookie token. ``touch`` records the use (for the idle timeout)."""
    if not token:
        return Resolved(None)
    # the session and its user in one query: the user lands in the session's identity map, so ``_check``'s
    # ``session.get(User, …)`` finds it there (one round trip per request instead of two)
    row = session.execute(
        select(WebSession, User)
        .outerjoin(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == _hash(token))
    ).first()
    return _check(session, row[0] if row is not None else None, touch)


def resolve_id(session: Session, session_id: int, touch: bool = True) -> Resolved:
    """The session a page signed in with, before its browser has the cookie (or when it has none)."""
    return _check(session, session.get(WebSession, session_id), touch)


def revoke(session: Session, session_id: int | None = None, token: str | None = None) -> None:
    """Sign-out: end one session, by id or by its cookie token."""
    q = update(WebSession).where(WebSession.revoked_at.is_(None))
    if session_id is not None:
        q = q.where(WebSession.id == session_id)
    elif token:
        q = q.where(WebSession.token_hash == _hash(token))
    else:
        return
    session.execute(q.values(revoked_at=utc_now(), ticket_hash=None))


def revoke_all(session: Session, user_id: int) -> int:
    """End every session of a user (password reset, account disabled, sign-out everywhere)."""
    res = session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=utc_now(), ticket_hash=None)
    )
    return int(cast("CursorResult[Any]", res).rowcount or 0)  # an UPDATE's result is a cursor result
