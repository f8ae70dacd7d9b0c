"""Server-side sign-in sessions: tickets, cookie tokens, idle and absolute timeouts, revocation."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import select, update

from patrol_app.services import auth, sessions
from patrol_app.services.users import cli_actor, get_user
from patrol_app.storage.db import session_scope
from patrol_app.storage.models import WebSession


def _sign_in(username: str = "officer") -> sessions.Started:
    with session_scope() as s:
        user = auth.sign_in(s, username, "patrol-demo")
        return sessions.start(s, user, "pytest")


def _redeem(started: sessions.Started) -> str:
    with session_scope() as s:
        token = sessions.redeem(s, started.ticket)
    assert token
    return token


def _resolve(token: str) -> sessions.Resolved:
    with session_scope() as s:
        return sessions.resolve_token(s, token)


def test_ticket_redeems_once_for_a_token_that_resolves_to_the_user(store):
    started = _sign_in()
    token = _redeem(started)
    res = _resolve(token)
    assert res.user is not None and res.user.username == "officer"
    assert res.session_id == started.session_id and res.csrf_token
    with session_scope() as s:  # a ticket is good once
        assert sessions.redeem(s, started.ticket) is None


def test_only_hashes_are_stored(store):
    started = _sign_in()
    token = _redeem(started)
    with session_scope() as s:
        row = s.get(WebSession, started.session_id)
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.ticket_hash is None
        assert row.user_agent == "pytest"
        assert token not in str(s.execute(select(WebSession.__table__)).all())


def test_stale_ticket_is_refused(store):
    started = _sign_in()
    with session_scope() as s:
        s.execute(update(WebSession).values(ticket_expires_at=dt.datetime(2000, 1, 1)))
    with session_scope() as s:
        assert sessions.redeem(s, started.ticket) is None
        assert sessions.redeem(s, "") is None
        assert sessions.redeem(s, "no-such-ticket") is None


def test_unknown_token_is_nobody(store):
    assert _resolve("made-up").user is None
    assert _resolve("made-up").ended is None


@pytest.mark.parametrize("field,ended", [("last_seen_at", "idle"), ("expires_at", "expired")])
def test_idle_and_absolute_timeouts_end_the_session(store, field, ended):
    token = _redeem(_sign_in())
    long_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=31)
    with session_scope() as s:
        s.execute(update(WebSession).values({field: long_ago}))
    res = _resolve(token)
    assert res.user is None and res.ended == ended


def test_idle_timeout_is_configurable(store, monkeypatch):
    token = _redeem(_sign_in())
    ten_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=10)
    with session_scope() as s:
        s.execute(update(WebSession).values(last_seen_at=ten_ago))
    assert _resolve(token).user is not None  # 10 min < 30 min; and this use is recorded
    with session_scope() as s:
        s.execute(update(WebSession).values(last_seen_at=ten_ago))
    monkeypatch.setenv("PATROL_SESSION_IDLE_MINUTES", "5")
    assert _resolve(token).ended == "idle"


def test_use_moves_the_idle_clock(store):
    token = _redeem(_sign_in())
    ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=20)
    with session_scope() as s:
        s.execute(update(WebSession).values(last_seen_at=ago))
    assert _resolve(token).user is not None
    with session_scope() as s:
        assert s.execute(select(WebSession.last_seen_at)).scalar_one() > ago + dt.timedelta(minutes=19)


def test_sign_out_revokes_one_session(store):
    a, b = _redeem(_sign_in()), _redeem(_sign_in())
    with session_scope() as s:
        sessions.revoke(s, token=a)
    assert _resolve(a).ended == "revoked"
    assert _resolve(b).user is not None


@pytest.mark.parametrize("action", ["reset_password", "disable"])
def test_password_reset_and_disabling_revoke_every_session_of_the_user(store, action):
    mine = [_redeem(_sign_in("officer")) for _ in range(3)]
    other = _redeem(_sign_in("leader"))
    with session_scope() as s:
        admin = cli_actor(s)
        if action == "reset_password":
            auth.reset_password(s, admin, "officer", "another-password")
        else:
            auth.set_active(s, admin, "officer", False)
    for token in mine:
        res = _resolve(token)
        assert res.user is None and res.ended in ("revoked", "disabled")
    assert _resolve(other).user is not None


def test_disabled_account_cannot_use_a_live_session(store):
    token = _redeem(_sign_in())
    with session_scope() as s:
        get_user(s, "officer").active = False  # even if only the flag changed
    assert _resolve(token).ended == "disabled"


def test_the_command_line_account_has_no_web_session(store):
    with session_scope() as s:
        with pytest.raises(ValueError):
            sessions.start(s, cli_actor(s))


def test_api_session_gets_its_token_at_once(store):
    with session_scope() as s:
        user = auth.sign_in(s, "leader", "patrol-demo")
        started = sessions.start(s, user, "api", with_ticket=False)
    assert started.ticket is None and started.token
    assert _resolve(started.token).user.username == "leader"
