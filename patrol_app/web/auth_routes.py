"""``/auth/redeem`` trades a page's one-time sign-in ticket for the session cookie; ``/auth/sign-out`` ends the
session and clears it. Both answer with a redirect to the page the user was on."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from patrol_app.services import sessions
from patrol_app.storage.db import session_scope
from patrol_app.web.cookies import clear_session_cookie, safe_next, set_session_cookie

ENDED = ("idle", "expired", "revoked", "disabled")


def redeem(request: Request) -> RedirectResponse:
    target = safe_next(request.query_params.get("next"))
    with session_scope() as s:
        token = sessions.redeem(s, request.query_params.get("ticket", ""))
    response = RedirectResponse(target, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    if token:
        set_session_cookie(response, request, token)
    return response


def sign_out(request: Request) -> RedirectResponse:
    token = request.cookies.get(sessions.COOKIE)
    if token:
        with session_scope() as s:
            sessions.revoke(s, token=token)
    target = safe_next(request.query_params.get("next"))
    ended = request.query_params.get("ended")
    if ended in ENDED:  # the sign-in form says why the user has to sign in again
        target += ("&" if "?" in target else "?") + "ended=" + ended
    response = RedirectResponse(target, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    clear_session_cookie(response, request)
    return response


routes = [
    Route("/auth/redeem", redeem, methods=["GET"]),
    Route("/auth/sign-out", sign_out, methods=["GET", "POST"]),
]
