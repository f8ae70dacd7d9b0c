"""The session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS; lives as long as the session may."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from patrol_app.config import get_settings
from patrol_app.services import sessions


def is_https(request: Request) -> bool:
    return request.url.scheme == "https" or get_settings().cookie_secure


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        sessions.COOKIE,
        token,
        max_age=int(sessions.max_lifetime().total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(sessions.COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request))


def safe_next(target: str | None) -> str:
    """Only a path on this server: never another host (``//evil``, ``/\\evil``, ``https://…``)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or "\n" in target
        or "\r" in target
    ):
        return "/"
    return target
