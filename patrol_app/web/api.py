"""``/api/v1/``: the JSON API over the same services as the pages (permissions, rules, messages, audit).

Contract (README "API", and ``/api/v1/openapi.json``):

- Signed in by the same HttpOnly session cookie as the pages (``POST /api/v1/session`` sets it). Every
  state-changing request also needs ``X-CSRF-Token`` equal to the session's token (``POST /session`` and
  ``GET /me`` give it) — a header other sites' pages cannot send.
- Errors: ``{"status", "code", "message", "errors": [{"field", "code", "message"}]}`` — 401 signed out,
  403 not allowed, 404 not found, 409 conflict, 413 too large, 422 bad input (one entry per bad field);
  messages in the caller's language (``?lang=`` or ``Accept-Language``). One transaction per request: a
  refused request writes nothing.
- Idempotent writes: patrols and incidents carry a client-generated UUID (``client_id``); the same one again
  answers 200 with the stored record. A photo whose SHA-256 an incident already has is stored once; a track
  batch (``batch_id``) is stored once.
- Lists: ``{"items": [...], "next": URL or null}``, keyset pagination by id.

The handlers only translate HTTP to service calls: no rule lives here. No Streamlit imports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hmac
import json
import logging
import math
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from patrol_app import clock
from patrol_app.config import get_settings
from patrol_app.i18n import t
from patrol_app.services import sessions
from patrol_app.services.errors import PermissionDenied, ServiceError, ValidationFailed
from patrol_app.storage.db import read_session, read_stale, session_scope
from patrol_app.storage.models import Incident, Patrol, User
from patrol_app.web.cookies import clear_session_cookie, set_session_cookie

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_JSON_BYTES = 2 * 1024 * 1024
MAX_INT = 2**31 - 1
PAGE_DEFAULT = 100
PAGE_MAX = 500
NO_STORE = {"Cache-Control": "no-store"}


# --- errors ----------------------------------------------------------------------------------------------


@dataclass
class Bad:
    """One bad field of a request (rendered as ``{"field", "code", "message"}``)."""

    field: str
    code: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)  # (``field`` is a name here)


class ApiError(Exception):
    def __init__(self, status: int, code: str, errors: list[Bad] | None = None, **params: Any) -> None:
        super().__init__(code)
        self.status, self.code, self.errors, self.params = status, code, errors or [], params


def _msg(key: str, lang: str, params: dict[str, Any]) -> str:
    try:
        return t(key, lang, **params)
    except (KeyError, IndexError, ValueError):
        return key


def problem(
    status: int, code: str, lang: str, params: dict[str, Any] | None = None, errors: list[Bad] | None = None
) -> JSONResponse:
    body = {
        "status": status,
        "code": code,
        "message": _msg(code, lang, params or {}),
        "errors": [
            {"field": e.field, "code": e.code, "message": _msg(e.code, lang, e.params)} for e in errors or []
        ],
    }
    return JSONResponse(body, status_code=status, headers=NO_STORE)


# ServiceError keys that are not 409 conflicts
_NOT_FOUND = {"field.no_such_patrol", "field.no_such_incident"}
_TOO_LARGE = {"photo.too_large"}
_UNPROCESSABLE_FIELD = {
    "photo.unsupported": "file",
    "photo.unreadable": "file",
    "photo.too_many_pixels": "file",
    "auth.password_too_short": "password",
}


def _from_service(exc: ServiceError) -> ApiError:
    if isinstance(exc, ValidationFailed):
        return ApiError(422, exc.key, [Bad(e.column, e.key, e.params) for e in exc.errors], **exc.params)
    if isinstance(exc, PermissionDenied):
        return ApiError(403, exc.key, **exc.params)
    if exc.key in _NOT_FOUND:
        return ApiError(404, exc.key, **exc.params)
    if exc.key in _TOO_LARGE:
        return ApiError(413, exc.key, [Bad("file", exc.key, exc.params)], **exc.params)
    if exc.key in _UNPROCESSABLE_FIELD:
        return ApiError(422, exc.key, [Bad(_UNPROCESSABLE_FIELD[exc.key], exc.key, exc.params)], **exc.params)
    if exc.key.startswith("auth."):
        return ApiError(401, exc.key, **exc.params)
    return ApiError(409, exc.key, **exc.params)


def lang_of(request: Request) -> str:
    q = (request.query_params.get("lang") or "").lower()
    if q.startswith("en"):
        return "en"
    if q.startswith("zh"):
        return "zh"
    header = (request.headers.get("accept-language") or "").strip().lower()
    if header:
        first = header.split(",")[0].split(";")[0].strip()
        if first.startswith("en"):
            return "en"
        if first.startswith("zh"):
            return "zh"
    return get_settings().lang


Handler = Callable[[Request], Awaitable[Response]]


def api(fn: Handler) -> Handler:
    """Turn every failure into the JSON error shape; never a stack trace."""

    @functools.wraps(fn)
    async def wrapper(request: Request) -> Response:
        lang = lang_of(request)
        try:
            return await fn(request)
        except ApiError as exc:
            return problem(exc.status, exc.code, lang, exc.params, exc.errors)
        except ServiceError as exc:
            e = _from_service(exc)
            return problem(e.status, e.code, lang, e.params, e.errors)
        except Exception:  # noqa: BLE001 - the client gets the error shape, the log gets the trace
            log.exception("API request failed: %s %s", request.method, request.url.path)
            return problem(500, "api.internal", lang)

    return wrapper


# --- request reading -------------------------------------------------------------------------------------


async def _body(request: Request, limit: int = MAX_JSON_BYTES) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "api.too_large", mb=limit // (1024 * 1024))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "api.too_large", mb=limit // (1024 * 1024))
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request) -> dict[str, Any] | ApiError:
    """The request's JSON object, or the error to raise once the caller is known to be signed in."""
    raw = await _body(request)
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        return ApiError(422, "api.bad_request", [Bad("body", "api.bad_json")])
    if not isinstance(data, dict):
        return ApiError(422, "api.bad_request", [Bad("body", "api.bad_json")])
    return data


class Fields:
    """Type checks of a JSON object (shapes only: the services check the rules), collecting every problem."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.bad: list[Bad] = []

    def _get(self, name: str, required: bool) -> Any:
        v = self.data.get(name)
        if v is None or (isinstance(v, str) and not v.strip()):
            if required:
                self.bad.append(Bad(name, "error.required"))
            return None
        return v

    def text(self, name: str, required: bool = False, max_len: int = 4000) -> str | None:
        v = self._get(name, required)
        if v is None:
            return None
        if not isinstance(v, str):
            self.bad.append(Bad(name, "api.not_text"))
            return None
        if len(v) > max_len:
            self.bad.append(Bad(name, "api.too_long", {"max": max_len}))
            return None
        return v

    def number(self, name: str, required: bool = False) -> float | None:
        v = self._get(name, required)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self.bad.append(Bad(name, "error.bad_number", {"value": str(v)[:40]}))
            return None
        return float(v)

    def integer(self, name: str, required: bool = False) -> int | None:
        v = self._get(name, required)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= MAX_INT:
            self.bad.append(Bad(name, "api.not_id", {"value": str(v)[:40]}))
            return None
        return v

    def ids(self, name: str, required: bool = False) -> list[int]:
        v = self._get(name, required)
        if v is None:
            return []
        if (
            not isinstance(v, list)
            or not all(isinstance(x, int) and not isinstance(x, bool) and 0 < x <= MAX_INT for x in v)
            or len(v) > 100
        ):
            self.bad.append(Bad(name, "api.not_id_list"))
            return []
        return v

    def texts(self, name: str, required: bool = False) -> list[str]:
        v = self._get(name, required)
        if v is None:
            return []
        if not isinstance(v, list) or not all(isinstance(x, str) and len(x) <= 32 for x in v) or len(v) > 100:
            self.bad.append(Bad(name, "api.not_text_list"))
            return []
        if required and not v:
            self.bad.append(Bad(name, "error.required"))
        return v

    def uuid(self, name: str, required: bool = False) -> str | None:
        v = self.text(name, required, max_len=64)
        if v is None:
            return None
        try:
            return str(uuid.UUID(v))
        except ValueError:
            self.bad.append(Bad(name, "api.bad_uuid", {"value": v[:64]}))
            return None

    def instant(self, name: str, required: bool = False) -> dt.datetime | None:
        v = self.text(name, required, max_len=64)
        return None if v is None else parse_instant(v, name, self.bad)

    def choice(self, name: str, choices: tuple[str, ...], required: bool = False) -> str | None:
        v = self.text(name, required, max_len=64)
        if v is not None and v not in choices:
            self.bad.append(Bad(name, "api.bad_choice", {"value": v, "choices": " / ".join(choices)}))
            return None
        return v

    def check(self) -> None:
        if self.bad:
            raise ApiError(422, "error.validation_failed", self.bad, count=len(self.bad))


def parse_instant(v: str, name: str, bad: list[Bad]) -> dt.datetime | None:
    """ISO 8601 with a UTC offset (``2025-05-06T09:30:00+08:00`` or ``…Z``); an aware datetime."""
    try:
        when = dt.datetime.fromisoformat(v.strip())
    except ValueError:
        bad.append(Bad(name, "api.bad_instant", {"value": v[:64]}))
        return None
    if when.tzinfo is None:
        bad.append(Bad(name, "api.offset_required", {"value": v[:64]}))
        return None
    return when


def local(when: dt.datetime) -> dt.datetime:
    """An aware instant as the store keeps local times (naive wall clock in PATROL_TZ)."""
    return clock.to_local(when)


def iso_local(value: dt.datetime | None) -> str | None:
    """A stored local time as ISO 8601 with the bureau's offset."""
    if value is None:
        return None
    return value.replace(tzinfo=clock.tz()).isoformat(timespec="seconds")


def iso_utc(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=dt.UTC).isoformat(timespec="seconds")


# --- signing in ------------------------------------------------------------------------------------------


@dataclass
class Caller:
    user: User
    session_id: int
    csrf_token: str
    stale: bool = False


def _resolve(s: Any, request: Request, write: bool) -> Caller:
    token = request.cookies.get(sessions.COOKIE)
    res = sessions.resolve_token(s, token, touch=write)
    if res.user is None:
        raise ApiError(401, "auth.session_ended." + res.ended if res.ended else "api.signed_out")
    if write:
        sent = request.headers.get("x-csrf-token") or ""
        if not hmac.compare_digest(sent.encode(), res.csrf_token.encode()):
            raise ApiError(403, "api.csrf")
    assert res.session_id is not None
    return Caller(res.user, res.session_id, res.csrf_token, res.stale)


def reading(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn(session, caller, *args)`` in a read-only session, the caller signed in (records the use of the
    session now and then, as the pages do)."""

    def run(request: Request, *args: Any) -> Any:
        with read_session() as s:
            caller = _resolve(s, request, write=False)
            out = fn(s, caller, *args)
        if caller.stale:
            with session_scope() as w:
                sessions.mark_used(w, caller.session_id)
        return out

    return run


def writing(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``fn(session, caller, *args)`` in one transaction, the caller signed in and the CSRF header right.
    A device sending the same new record twice at once: the loser of the race finds the winner's record."""

    def run(request: Request, *args: Any) -> Any:
        for attempt in (1, 2):
            try:
                with session_scope() as s:
                    caller = _resolve(s, request, write=True)
                    return fn(s, caller, *args)
            except IntegrityError:
                if attempt == 2:
                    raise ApiError(409, "api.conflict") from None
        raise AssertionError("unreachable")

    return run


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={**NO_STORE, **(headers or {})})


# --- session ---------------------------------------------------------------------------------------------


@api
async def session_create(request: Request) -> Response:
    from patrol_app.services.auth import sign_in

    data = await json_body(request)
    if isinstance(data, ApiError):
        raise data
    f = Fields(data)
    username = f.text("username", required=True, max_len=64)
    password = f.text("password", required=True, max_len=1024)
    f.check()
    agent = request.headers.get("user-agent", "")

    def work() -> tuple[dict[str, Any], str]:
        with session_scope() as s:
            user = sign_in(s, username or "", password or "")
            started = sessions.start(s, user, agent, with_ticket=False)
            assert started.token is not None
            return (
                {
                    "user": user.username,
                    "display_name": user.display_name,
                    "role": user.role,
                    "csrf_token": started.csrf_token,
                },
                started.token,
            )

    body, token = await run_in_threadpool(work)
    response = json_response(body)
    set_session_cookie(response, request, token)
    return response


@api
async def session_delete(request: Request) -> Response:
    def work() -> None:
        with session_scope() as s:
            token = request.cookies.get(sessions.COOKIE)
            res = sessions.resolve_token(s, token, touch=False)
            if res.user is None:
                return  # signed out already: nothing to end
            _resolve(s, request, write=True)  # a live session ends only with the CSRF header
            sessions.revoke(s, token=token)

    await run_in_threadpool(work)
    response = json_response({"signed_out": True})
    clear_session_cookie(response, request)
    return response


def _me(s: Any, c: Caller) -> dict[str, Any]:
    from patrol_app.domain.rules import PERMISSIONS, Role

    try:
        perms = sorted(p.value for p in PERMISSIONS[Role(c.user.role)])
    except ValueError:
        perms = []
    return {
        "user": c.user.username,
        "display_name": c.user.display_name,
        "role": c.user.role,
        "personnel_id": c.user.personnel_id,
        "csrf_token": c.csrf_token,
        "permissions": perms,
    }


@api
async def me(request: Request) -> Response:
    return json_response(await run_in_threadpool(reading(_me), request))


# --- reference data --------------------------------------------------------------------------------------


@api
async def roads(request: Request) -> Response:
    from patrol_app.services.roads import device_geojson

    def work(s: Any, c: Caller) -> tuple[bytes, str]:
        from patrol_app.services.users import home_county

        return device_geojson(s, home_county(c.user))  # the network of the officer's county

    body, etag = await run_in_threadpool(reading(work), request)
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Cookie"}
    wanted = request.headers.get("if-none-match", "")
    if etag in [x.strip() for x in wanted.split(",")] or wanted.strip() == "*":
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/geo+json", headers=headers)


def _catalog(lang: str) -> Callable[[Any, Caller], dict[str, Any]]:
    def work(s: Any, c: Caller) -> dict[str, Any]:
        from gis.zones import ROAD_CLASSES
        from patrol_app.domain.adcodes import prefix
        from patrol_app.domain.catalog import CATALOG
        from patrol_app.domain.rules import MEASURES, WEATHER, Status
        from patrol_app.services.field import GPS_WARN_ACCURACY_M, last_patrol_defaults
        from patrol_app.services.users import actor_scope
        from patrol_app.storage.models import Personnel, Vehicle

        # the caller's county's people and vehicles (a city's: its counties')
        county = prefix(actor_scope(c.user))
        people = s.execute(
            select(Personnel)
            .where(Personnel.active.is_(True), Personnel.adcode.startswith(county))
            .order_by(Personnel.id)
        ).scalars()
        vehicles = s.execute(
            select(Vehicle)
            .where(Vehicle.active.is_(True), Vehicle.adcode.startswith(county))
            .order_by(Vehicle.id)
        ).scalars()
        return {
            "lang": lang,
            "types": [
                {
                    "code": v.code,
                    "name": v.name(lang),
                    "name_zh": v.name_zh,
                    "legal_basis": v.legal_basis,
                    "penalty": v.penalty,
                }
                for v in CATALOG
            ],
            "measures": [{"code": m, "name": t("measure." + m, lang)} for m in MEASURES],
            "statuses": [{"code": x.value, "name": t("status." + x.value, lang)} for x in Status],
            "sides": [{"code": x, "name": t("side." + x, lang)} for x in ("left", "right")],
            "zones": [
                {"code": z, "name": t("zone." + z, lang)}
                for z in ("road_land", "control_zone", "outside", "unknown")
            ],
            "road_classes": [{"code": x, "name": t("class." + x, lang)} for x in ROAD_CLASSES],
            "weather": [{"code": w, "name": t("weather." + w, lang)} for w in WEATHER],
            "personnel": [
                {
                    "id": p.id,
                    "name": p.name,
                    "title": p.title,
                    "auxiliary": p.auxiliary,
                    "cert_no": p.cert_no,
                    "cert_expiry": p.cert_expiry.isoformat() if p.cert_expiry else None,
                }
                for p in people
            ],
            "vehicles": [{"id": v.id, "plate": v.plate, "kind": v.kind} for v in vehicles],
            "defaults": last_patrol_defaults(s, c.user),
            "gps_warn_accuracy_m": GPS_WARN_ACCURACY_M,
            "max_distance_m": get_settings().max_distance_m,
            "tz": get_settings().tz,
        }

    return work


@api
async def catalog(request: Request) -> Response:
    return json_response(
        await run_in_threadpool(reading(_catalog(lang_of(request))), request),
        headers={"Cache-Control": "private, no-cache"},
    )


# --- records as JSON --------------------------------------------------------------------------------------


def _ref(model: Any, ref: str, s: Any, user: Any) -> Any:
    """A record by its id (digits) or by the client_id a device gave it; 404 when there is none, refused
    (PermissionDenied) when it belongs to a county the caller may not see."""
    row = None
    if ref.isdigit() and len(ref) < 10:
        row = s.get(model, int(ref))
    else:
        try:
            cid = str(uuid.UUID(ref))
        except ValueError:
            cid = None
        if cid:
            row = s.execute(select(model).where(model.client_id == cid)).scalar_one_or_none()
    if row is None:
        raise ApiError(
            404, "field.no_such_patrol" if model is Patrol else "field.no_such_incident", id=ref[:64]
        )
    from patrol_app.services.users import require_county

    require_county(user, row.adcode)
    return row


def patrol_json(s: Any, p: Patrol) -> dict[str, Any]:
    from patrol_app.services import tracks
    from patrol_app.services.records import patrol_dict
    from patrol_app.storage.models import PatrolCrew, PatrolVehicle

    track = tracks.summary(s, p.id)
    return {
        **patrol_dict(p),
        "client_id": p.client_id,
        "status": p.status,
        "km_method": p.km_method,
        "crew_ids": list(
            s.execute(select(PatrolCrew.personnel_id).where(PatrolCrew.patrol_id == p.id)).scalars()
        ),
        "vehicle_ids": list(
            s.execute(select(PatrolVehicle.vehicle_id).where(PatrolVehicle.patrol_id == p.id)).scalars()
        ),
        "track": None if track is None else track.as_dict(),
    }


def incident_json(
    s: Any, inc: Incident, actor: User, lang: str, photos: list[Any] | None = None
) -> dict[str, Any]:
    """An incident as the API answers it; ``photos`` its photo rows when the caller knows them (a record just
    created without any), else read."""
    from patrol_app.domain.catalog import BY_CODE
    from patrol_app.io.exports import can_see_parties, mask_name, mask_phone
    from patrol_app.storage.models import Photo

    if photos is None:
        photos = list(
            s.execute(select(Photo).where(Photo.incident_id == inc.id).order_by(Photo.id)).scalars()
        )
    see = can_see_parties(actor)
    vt = BY_CODE.get(inc.type_code)
    return {
        "id": inc.id,
        "client_id": inc.client_id,
        "patrol_id": inc.patrol_id,
        "found_at": iso_local(inc.found_at),
        "type": inc.type_code,
        "type_name": vt.name(lang) if vt else "",
        "road_code": inc.road_code,
        "stake": inc.stake,
        "chainage_m": inc.chainage_m,
        "side": inc.side or None,
        "offset_m": inc.offset_m,
        "lon": inc.lon,
        "lat": inc.lat,
        "zone": inc.zone,
        "in_control_zone": inc.in_control_zone,
        "town": inc.town,
        "location_method": inc.location_method,
        "accuracy_m": inc.gps_accuracy_m,
        "description": inc.description,
        "party": inc.party if see else mask_name(inc.party),
        "party_phone": inc.party_phone if see else mask_phone(inc.party_phone),
        "measure": inc.measure or None,
        "deadline": inc.deadline.isoformat() if inc.deadline else None,
        "status": inc.status,
        "closed_at": inc.closed_at.isoformat() if inc.closed_at else None,
        "created_at": iso_utc(inc.created_at),
        "updated_at": iso_utc(inc.updated_at or inc.created_at),
        "photos": [
            {
                "id": p.id,
                "sha256": p.sha256,
                "size": p.size,
                "content_type": p.content_type,
                "filename": p.filename,
            }
            for p in photos
        ],
    }


# --- patrols ---------------------------------------------------------------------------------------------


@api
async def patrol_create(request: Request) -> Response:
    from patrol_app.domain.rules import WEATHER
    from patrol_app.services import field as fs

    data = await json_body(request)

    def work(s: Any, c: Caller) -> tuple[int, dict[str, Any]]:
        if isinstance(data, ApiError):
            raise data
        f = Fields(data)
        cid = f.uuid("client_id", required=True)
        started = f.instant("started_at")
        road_codes = f.texts("roads", required=True)
        crew = f.ids("crew", required=True)
        vehicles = f.ids("vehicles", required=True)
        joint = f.text("joint", max_len=200) or ""
        weather = f.choice("weather", WEATHER)
        notes = f.text("notes") or ""
        f.check()
        existing = fs.by_client_id(s, c.user, Patrol, cid)
        if existing is not None:
            return 200, patrol_json(s, existing)
        when = local(started) if started else fs.local_now()
        p = fs.start_patrol(
            s,
            c.user,
            fs.PatrolStart(
                date=when.date(),
                start_time=when.strftime("%H:%M"),
                roads=road_codes,
                crew_ids=crew,
                vehicle_ids=vehicles,
                joint=joint,
                weather=t("weather." + weather, "zh") if weather else "",
                notes=notes,
            ),
            client_id=cid,
        )
        return 201, patrol_json(s, p)

    status, body = await run_in_threadpool(writing(work), request)
    return json_response(body, status)


@api
async def patrol_get(request: Request) -> Response:
    from patrol_app.services.field import get_patrol

    def work(s: Any, c: Caller) -> dict[str, Any]:
        p = _ref(Patrol, request.path_params["ref"], s, c.user)
        return patrol_json(s, get_patrol(s, c.user, p.id))

    return json_response(await run_in_threadpool(reading(work), request))


@api
async def patrol_end(request: Request) -> Response:
    from patrol_app.services import field as fs
    from patrol_app.services import tracks

    data = await json_body(request)

    def work(s: Any, c: Caller) -> dict[str, Any]:
        if isinstance(data, ApiError):
            raise data
        f = Fields(data)
        ended = f.instant("ended_at")
        km = f.number("km")
        method = f.choice("km_method", ("typed", "roads", "track"))
        f.check()
        p = _ref(Patrol, request.path_params["ref"], s, c.user)
        if method is None:
            method = "typed" if km is not None else ("track" if tracks.track_km(s, p.id) else "roads")
        when = local(ended) if ended else fs.local_now()
        p = fs.end_patrol(
            s, c.user, p.id, when.strftime("%H:%M"), km=km if method == "typed" else None, method=method
        )
        return patrol_json(s, p)

    return json_response(await run_in_threadpool(writing(work), request))


@api
async def patrol_track(request: Request) -> Response:
    from patrol_app.services import tracks

    data = await json_body(request)

    def work(s: Any, c: Caller) -> tuple[int, dict[str, Any]]:
        if isinstance(data, ApiError):
            raise data
        f = Fields(data)
        batch = f.text("batch_id", required=True, max_len=64)
        raw = f._get("points", True)
        points: list[dict[str, Any]] = []
        if raw is not None and not isinstance(raw, list):
            f.bad.append(Bad("points", "api.not_point_list"))
        elif isinstance(raw, list):
            if len(raw) > tracks.MAX_POINTS_PER_BATCH:
                raise ApiError(413, "track.too_many_points", max=tracks.MAX_POINTS_PER_BATCH)
            for i, pt in enumerate(raw):
                if not isinstance(pt, dict):
                    f.bad.append(Bad(f"points[{i}]", "api.not_point_list"))
                    continue
                pf = Fields(pt)
                when = pf.instant("t", required=True)
                lon, lat = pf.number("lon", required=True), pf.number("lat", required=True)
                acc = pf.number("accuracy_m")
                f.bad.extend(Bad(f"points[{i}].{b.field}", b.code, b.params) for b in pf.bad)
                points.append({"t": when, "lon": lon, "lat": lat, "accuracy_m": acc})
        f.check()
        p = _ref(Patrol, request.path_params["ref"], s, c.user)
        summary, created = tracks.add_points(s, c.user, p.id, batch or "", points)
        return (201 if created else 200), {"patrol_id": p.id, "batch_id": batch, "track": summary.as_dict()}

    status, body = await run_in_threadpool(writing(work), request)
    return json_response(body, status)


# --- incidents -------------------------------------------------------------------------------------------

RELOCATE_TOLERANCE_M = 1.0


def _relocated(
    inc: Incident, device_road: str | None, device_chainage: float | None
) -> dict[str, Any] | None:
    """The device's own stake against the server's: the server's answer is the record; a difference of more
    than a metre (or another road) is reported."""
    if device_chainage is None and device_road is None:
        return None
    from gis.roads import normalise_code
    from gis.stakes import format_stake

    try:
        road_differs = device_road is not None and normalise_code(device_road) != inc.road_code
    except ValueError:
        road_differs = True
    far = device_chainage is not None and abs(device_chainage - inc.chainage_m) > RELOCATE_TOLERANCE_M
    if not (road_differs or far):
        return None
    return {
        "device": {
            "road_code": device_road,
            "chainage_m": device_chainage,
            "stake": format_stake(device_chainage) if device_chainage is not None else None,
        },
        "server": {
            "road_code": inc.road_code,
            "chainage_m": inc.chainage_m,
            "stake": inc.stake,
            "side": inc.side or None,
            "offset_m": inc.offset_m,
        },
    }


@api
async def incident_create(request: Request) -> Response:
    from gis.errors import GisError
    from gis.stakes import parse_stake
    from patrol_app.services import field as fs

    data = await json_body(request)
    lang = lang_of(request)

    def work(s: Any, c: Caller) -> tuple[int, dict[str, Any]]:
        if isinstance(data, ApiError):
            raise data
        f = Fields(data)
        cid = f.uuid("client_id", required=True)
        vtype = f.text("type", required=True, max_len=64)
        found = f.instant("found_at", required=True)
        lon, lat = f.number("lon"), f.number("lat")
        acc = f.number("accuracy_m")
        road = f.text("road", max_len=32)
        stake_v = data.get("stake")
        stake = (
            f.number("stake")
            if isinstance(stake_v, (int, float)) and not isinstance(stake_v, bool)
            else f.text("stake", max_len=32)
        )
        side = f.text("side", max_len=16)
        offset = f.number("offset_m")
        texts = {
            k: f.text(k, max_len=n) or ""
            for k, n in (("description", 4000), ("party", 128), ("party_phone", 32))
        }
        measure = f.text("measure", max_len=32)
        deadline = f.text("deadline", max_len=32)
        status = f.text("status", max_len=16)
        patrol_id = f.integer("patrol_id")
        patrol_cid = f.uuid("patrol_client_id")
        method = f.choice("location_method", ("gps", "map", "stake"))
        device_road = f.text("device_road_code", max_len=32)
        device_chainage = f.number("device_chainage_m")
        device_stake = f.text("device_stake", max_len=32)
        if acc is not None and acc < 0:
            f.bad.append(Bad("accuracy_m", "error.negative", {"value": acc}))
        if device_chainage is None and device_stake is not None:
            try:
                device_chainage = parse_stake(device_stake)
            except GisError:
                f.bad.append(Bad("device_stake", "error.stake_format", {"text": device_stake}))
        f.check()
        existing = fs.by_client_id(s, c.user, Incident, cid)
        if existing is not None:
            out = incident_json(s, existing, c.user, lang)
            out["relocated"] = _relocated(existing, device_road, device_chainage)
            return 200, out
        if patrol_cid and patrol_id is None:
            p = s.execute(select(Patrol).where(Patrol.client_id == patrol_cid)).scalar_one_or_none()
            if p is None:  # the device sends its patrol first: this one has not arrived (yet)
                raise ApiError(
                    409,
                    "api.patrol_not_received",
                    [Bad("patrol_client_id", "api.patrol_not_received", {"id": patrol_cid})],
                    id=patrol_cid,
                )
            patrol_id = p.id
        has_point = lon is not None or lat is not None
        raw: dict[str, Any] = {
            "found_at": found,
            "type": vtype,
            **texts,
            "measure": measure,
            "deadline": deadline,
            "status": status,
            "patrol_id": patrol_id,
            "gps_accuracy_m": acc,
            "location_method": method
            or ("gps" if has_point and acc is not None else "map" if has_point else "stake"),
        }
        if has_point:
            raw.update(lon=lon, lat=lat, road=road)
        else:
            raw.update(road=road, stake=stake, side=side, offset_m=offset)
        if has_point and side:
            raw["side"] = side  # checked, though a located point's side is the server's answer
        # looked up above (``existing``): a new record, without photos
        inc, dups = fs.log_device_incident(s, c.user, raw, client_id=cid)
        out = incident_json(s, inc, c.user, lang, photos=[])
        out["relocated"] = _relocated(inc, device_road, device_chainage)
        out["possible_duplicates"] = [d.id for d in dups]
        return 201, out

    status, body = await run_in_threadpool(writing(work), request)
    return json_response(body, status)


@api
async def incident_list(request: Request) -> Response:
    from patrol_app.services.field import incidents_page

    q = request.query_params
    lang = lang_of(request)
    bad: list[Bad] = []
    mine = (q.get("mine") or "0").lower()
    if mine not in ("0", "1", "true", "false"):
        bad.append(Bad("mine", "api.bad_choice", {"value": mine[:20], "choices": "0 / 1"}))
    since = parse_instant(q["since"], "since", bad) if q.get("since") else None
    bbox = None
    if q.get("bbox") is not None:
        from patrol_app.storage.spatial import BadBox, parse_bbox

        try:
            bbox = parse_bbox(q["bbox"])
        except BadBox as exc:
            bad.append(Bad("bbox", exc.key, {"value": exc.value}))
    limit, after = PAGE_DEFAULT, 0
    for name in ("limit", "after"):
        if q.get(name) is not None:
            v = q[name]
            if not v.isdigit() or len(v) > 9 or (name == "limit" and not 1 <= int(v) <= PAGE_MAX):
                bad.append(Bad(name, "api.bad_page", {"value": v[:20], "max": PAGE_MAX}))
            elif name == "limit":
                limit = int(v)
            else:
                after = int(v)

    def work(s: Any, c: Caller) -> dict[str, Any]:
        if bad:
            raise ApiError(422, "error.validation_failed", bad, count=len(bad))
        since_utc = since.astimezone(dt.UTC).replace(tzinfo=None) if since else None
        rows = incidents_page(
            s, c.user, mine=mine in ("1", "true"), since=since_utc, after_id=after, limit=limit, bbox=bbox
        )
        items = [incident_json(s, r, c.user, lang) for r in rows]
        nxt = None
        if len(rows) == limit:
            params = {k: v for k, v in q.items() if k not in ("after",)}
            params["after"] = str(rows[-1].id)
            nxt = f"{PREFIX}/incidents?{urlencode(params)}"
        return {"items": items, "next": nxt}

    return json_response(await run_in_threadpool(reading(work), request))


@api
async def incident_get(request: Request) -> Response:
    from patrol_app.services.field import get_incident

    lang = lang_of(request)

    def work(s: Any, c: Caller) -> dict[str, Any]:
        inc = _ref(Incident, request.path_params["ref"], s, c.user)
        return incident_json(s, get_incident(s, c.user, inc.id), c.user, lang)

    return json_response(await run_in_threadpool(reading(work), request))


_SHA = re.compile(r"^[0-9a-f]{64}$")


@api
async def photo_create(request: Request) -> Response:
    import hashlib

    from patrol_app.photos import MAX_BYTES, MAX_MB, store_photo
    from patrol_app.services import field as fs
    from patrol_app.storage.models import Photo

    declared_len = request.headers.get("content-length")
    if declared_len and declared_len.isdigit() and int(declared_len) > MAX_BYTES + 64 * 1024:
        raise ApiError(
            413,
            "photo.too_large",
            [Bad("file", "photo.too_large", {"file": "", "mb": MAX_MB})],
            file="",
            mb=MAX_MB,
        )
    ref = request.path_params["ref"]
    lang = lang_of(request)
    upload: UploadFile | None = None
    declared: str | None = request.query_params.get("sha256")
    form_error: ApiError | None = None
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        form_error = ApiError(422, "api.bad_request", [Bad("file", "api.multipart_required")])
    else:
        try:
            form = await request.form(max_files=1, max_fields=4, max_part_size=64 * 1024)
        except HTTPException:
            form_error = ApiError(422, "api.bad_request", [Bad("file", "api.multipart_required")])
        else:
            f = form.get("file")
            upload = f if isinstance(f, UploadFile) else None
            d = form.get("sha256")
            declared = d if isinstance(d, str) and d else declared
    data = b""
    if upload is not None:
        data = await upload.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ApiError(
                413,
                "photo.too_large",
                [Bad("file", "photo.too_large", {"file": upload.filename or "", "mb": MAX_MB})],
                file=upload.filename or "",
                mb=MAX_MB,
            )
    filename = (upload.filename if upload is not None else "") or "photo"

    def check(s: Any, c: Caller) -> tuple[int, dict[str, Any] | None, str]:
        """Signed in, the incident exists, the bytes are what the device says: before any work on them."""
        if form_error is not None:
            raise form_error
        if upload is None or not data:
            raise ApiError(422, "error.validation_failed", [Bad("file", "error.required")], count=1)
        sha = hashlib.sha256(data).hexdigest()
        if declared is not None and (not _SHA.match(declared.lower()) or declared.lower() != sha):
            raise ApiError(
                422,
                "error.validation_failed",
                [Bad("sha256", "api.sha256_mismatch", {"declared": declared[:64], "actual": sha})],
                count=1,
            )
        inc = _ref(Incident, ref, s, c.user)
        prior = (
            s.execute(select(Photo).where(Photo.incident_id == inc.id, Photo.sha256 == sha)).scalars().first()
        )
        return inc.id, (None if prior is None else incident_json(s, inc, c.user, lang)), sha

    incident_id, already, sha = await run_in_threadpool(reading(check), request)
    if already is not None:
        return json_response(
            {"photo": next(p for p in already["photos"] if p["sha256"] == sha), "incident": already}, 200
        )
    stored = await run_in_threadpool(store_photo, data, filename)  # files first (content-addressed), no lock

    def attach(s: Any, c: Caller) -> tuple[int, dict[str, Any]]:
        inc = s.get(Incident, incident_id)
        _, created = fs.attach_photo(s, c.user, incident_id, stored)
        body = incident_json(s, inc, c.user, lang)
        return (201 if created else 200), {
            "photo": next(p for p in body["photos"] if p["sha256"] == sha),
            "incident": body,
        }

    status, body = await run_in_threadpool(writing(attach), request)
    return json_response(body, status)


# --- reports (read from the replica) ---------------------------------------------------------------------


@api
async def report(request: Request) -> Response:
    """A year's report as JSON (the report service, its permission check): the caller is resolved on the primary
    (a session just started may not be on the replica yet); the report reads the replica (``stale_ok``)."""
    from patrol_app.reports.report import build_report
    from patrol_app.reports.rollup import Period
    from patrol_app.reports.writers import render
    from patrol_app.services.records import local_now

    q = request.query_params
    raw = q.get("year")
    year = local_now().year if raw is None else None
    if raw is not None and raw.isdigit() and 2000 <= int(raw) <= 2100:
        year = int(raw)

    def work(s: Any, c: Caller) -> bytes:
        if year is None:
            raise ApiError(
                422,
                "error.validation_failed",
                [Bad("year", "api.bad_year", {"value": (raw or "")[:20]})],
                count=1,
            )
        from patrol_app.domain.rules import Perm
        from patrol_app.services.users import get_user, require

        require(c.user, Perm.EXPORT)  # on the primary's view of the account, before any work
        username = c.user.username
        return read_stale(
            lambda r: render(build_report(r, get_user(r, username), Period.year_to_date(year)), "json")
        )

    body = await run_in_threadpool(reading(work), request)
    return Response(body, media_type="application/json", headers={"Cache-Control": "private, no-cache"})


# --- the OpenAPI description and the sub-application ----------------------------------------------------


async def openapi(request: Request) -> Response:
    from patrol_app.web.openapi import document

    return JSONResponse(document(), headers={"Cache-Control": "no-cache"})


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    code = {404: "api.not_found", 405: "api.method_not_allowed"}.get(status, "api.bad_request")
    return problem(status, code, lang_of(request))


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("API request failed: %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "api.internal", lang_of(request))


ROUTES = [
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/session", session_create, methods=["POST"]),
    Route("/session", session_delete, methods=["DELETE"]),
    Route("/me", me, methods=["GET"]),
    Route("/roads", roads, methods=["GET"]),
    Route("/catalog", catalog, methods=["GET"]),
    Route("/patrols", patrol_create, methods=["POST"]),
    Route("/patrols/{ref}", patrol_get, methods=["GET"]),
    Route("/patrols/{ref}/end", patrol_end, methods=["POST"]),
    Route("/patrols/{ref}/track", patrol_track, methods=["POST"]),
    Route("/incidents", incident_create, methods=["POST"]),
    Route("/incidents", incident_list, methods=["GET"]),
    Route("/incidents/{ref}", incident_get, methods=["GET"]),
    Route("/incidents/{ref}/photos", photo_create, methods=["POST"]),
    Route("/report", report, methods=["GET"]),
]


def build_api() -> Starlette:
    return Starlette(routes=ROUTES, exception_handlers={HTTPException: _http_error, 500: _server_error})


routes = [Mount(PREFIX, app=build_api())]
