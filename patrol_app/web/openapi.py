"""The OpenAPI 3 description of ``/api/v1/`` (served at ``/api/v1/openapi.json``; tested against the real
endpoints with schemathesis)."""

from __future__ import annotations

import functools
from typing import Any

from patrol_app.domain.rules import WEATHER

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_NUM = {"type": "number"}
_NNUM = {"type": ["number", "null"]}
_INT = {"type": "integer"}
_NINT = {"type": ["integer", "null"]}
_BOOL = {"type": "boolean"}
_UUID = {"type": "string", "format": "uuid"}
_INSTANT = {"type": "string", "format": "date-time", "description": "ISO 8601 with a UTC offset"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        401: "Signed out (no or ended session)",
        403: "Not allowed (role, or X-CSRF-Token missing or wrong)",
        404: "No such record",
        409: "Conflict (client_id of another user's record, patrol not received yet)",
        413: "Too large",
        422: "Bad input: one entry per bad field",
    }
    return {str(c): _json(_ref("Error"), text[c]) for c in codes}


_PATH_REF = {
    "name": "ref",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9A-Za-z-]{1,64}$"},
    "description": "the record's id, or the client_id (UUID) the device gave it",
}
_LANG = {
    "name": "lang",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": ["zh", "en"]},
    "description": "language of messages and names (else Accept-Language, else the server's default)",
}
_CSRF = {
    "name": "X-CSRF-Token",
    "in": "header",
    "required": True,
    "schema": _STR,
    "description": "the session's csrf_token (from POST /session or GET /me)",
}


@functools.cache
def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["status", "code", "message", "errors"],
            "properties": {
                "status": _INT,
                "code": _STR,
                "message": _STR,
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["field", "code", "message"],
                        "properties": {"field": _STR, "code": _STR, "message": _STR},
                    },
                },
            },
        },
        "SignIn": {
            "type": "object",
            "required": ["username", "password"],
            "properties": {"username": _STR, "password": _STR},
        },
        "SignedIn": {
            "type": "object",
            "required": ["user", "role", "csrf_token"],
            "properties": {"user": _STR, "display_name": _STR, "role": _STR, "csrf_token": _STR},
        },
        "Me": {
            "type": "object",
            "required": ["user", "role", "csrf_token", "permissions"],
            "properties": {
                "user": _STR,
                "display_name": _STR,
                "role": _STR,
                "personnel_id": _NINT,
                "csrf_token": _STR,
                "permissions": {"type": "array", "items": _STR},
            },
        },
        "Catalog": {
            "type": "object",
            "required": ["lang", "types", "measures", "statuses"],
            "properties": {
                "lang": _STR,
                "types": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["code", "name", "name_zh", "legal_basis", "penalty"],
                        "properties": {
                            "code": _STR,
                            "name": _STR,
                            "name_zh": _STR,
                            "legal_basis": _STR,
                            "penalty": _STR,
                        },
                    },
                },
                "measures": {"type": "array"},
                "statuses": {"type": "array"},
                "sides": {"type": "array"},
                "zones": {"type": "array"},
                "road_classes": {"type": "array"},
                "weather": {"type": "array"},
                "personnel": {"type": "array"},
                "vehicles": {"type": "array"},
                "defaults": {"type": "object"},
            },
        },
        "Roads": {
            "type": "object",
            "required": ["type", "features", "zones"],
            "description": "GeoJSON FeatureCollection: one LineString per route piece in the direction of "
            "increasing chainage; properties.m = chainage (m) at each vertex",
            "properties": {
                "type": {"const": "FeatureCollection"},
                "version": _STR,
                "zones": {"type": "object"},
                "features": {"type": "array"},
            },
        },
        "PatrolIn": {
            "type": "object",
            "required": ["client_id", "roads", "crew", "vehicles"],
            "properties": {
                "client_id": _UUID,
                "started_at": _INSTANT,
                "roads": {"type": "array", "items": _STR, "description": "road codes"},
                "crew": {"type": "array", "items": _INT, "description": "personnel ids"},
                "vehicles": {"type": "array", "items": _INT, "description": "vehicle ids"},
                "joint": _STR,
                "weather": {"type": "string", "enum": list(WEATHER)},
                "notes": _STR,
            },
        },
        "PatrolEnd": {
            "type": "object",
            "properties": {
                "ended_at": _INSTANT,
                "km": _NUM,
                "km_method": {"type": "string", "enum": ["typed", "roads", "track"]},
            },
        },
        "Stretch": {
            "type": "object",
            "properties": {
                "road_code": _STR,
                "from_m": _NUM,
                "to_m": _NUM,
                "from_stake": _STR,
                "to_stake": _STR,
                "km": _NUM,
            },
        },
        "Track": {
            "type": "object",
            "required": ["points", "km", "coverage"],
            "properties": {
                "points": _INT,
                "km": _NUM,
                "covered_km": _NUM,
                "coverage": {"type": "array", "items": _ref("Stretch")},
            },
        },
        "Patrol": {
            "type": "object",
            "required": ["id", "client_id", "status", "date", "roads"],
            "properties": {
                "id": _INT,
                "client_id": _NSTR,
                "date": _STR,
                "start_time": _NSTR,
                "end_time": _NSTR,
                "roads": {"type": "array", "items": _STR},
                "vehicles": _INT,
                "personnel": _INT,
                "km": _NNUM,
                "km_method": _NSTR,
                "crew": _STR,
                "status": _STR,
                "crew_ids": {"type": "array", "items": _INT},
                "vehicle_ids": {"type": "array", "items": _INT},
                "track": {"oneOf": [{"type": "null"}, _ref("Track")]},
            },
        },
        "TrackIn": {
            "type": "object",
            "required": ["batch_id", "points"],
            "properties": {
                "batch_id": {"type": "string", "description": "client-generated; a batch is stored once"},
                "points": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["t", "lon", "lat"],
                        "properties": {"t": _INSTANT, "lon": _NUM, "lat": _NUM, "accuracy_m": _NNUM},
                    },
                },
            },
        },
        "TrackOut": {
            "type": "object",
            "required": ["patrol_id", "batch_id", "track"],
            "properties": {"patrol_id": _INT, "batch_id": _STR, "track": _ref("Track")},
        },
        "IncidentIn": {
            "type": "object",
            "required": ["client_id", "type", "found_at"],
            "description": "lon + lat (+ accuracy_m), or road + stake (+ side, offset_m)",
            "properties": {
                "client_id": _UUID,
                "type": {"type": "string", "description": "catalog code or Chinese name"},
                "found_at": _INSTANT,
                "lon": _NUM,
                "lat": _NUM,
                "accuracy_m": _NNUM,
                "road": _STR,
                "stake": {"type": ["string", "number"]},
                "side": {"type": "string", "enum": ["left", "right"]},
                "offset_m": _NUM,
                "description": _STR,
                "party": _STR,
                "party_phone": _STR,
                "measure": _NSTR,
                "deadline": {"type": ["string", "null"], "format": "date"},
                "status": _STR,
                "patrol_id": _INT,
                "patrol_client_id": _UUID,
                "location_method": {"type": "string", "enum": ["gps", "map", "stake"]},
                "device_road_code": _STR,
                "device_stake": _STR,
                "device_chainage_m": _NUM,
            },
        },
        "Photo": {
            "type": "object",
            "properties": {"id": _INT, "sha256": _STR, "size": _INT, "content_type": _STR, "filename": _STR},
        },
        "Incident": {
            "type": "object",
            "required": [
                "id",
                "client_id",
                "found_at",
                "type",
                "road_code",
                "stake",
                "side",
                "offset_m",
                "zone",
                "photos",
            ],
            "properties": {
                "id": _INT,
                "client_id": _NSTR,
                "patrol_id": _NINT,
                "found_at": _STR,
                "type": _STR,
                "type_name": _STR,
                "road_code": _STR,
                "stake": _STR,
                "chainage_m": _NUM,
                "side": _NSTR,
                "offset_m": _NNUM,
                "lon": _NUM,
                "lat": _NUM,
                "zone": _STR,
                "in_control_zone": {"type": ["boolean", "null"]},
                "town": _STR,
                "location_method": _STR,
                "accuracy_m": _NNUM,
                "description": _STR,
                "party": _STR,
                "party_phone": _STR,
                "measure": _NSTR,
                "deadline": _NSTR,
                "status": _STR,
                "closed_at": _NSTR,
                "created_at": _NSTR,
                "updated_at": _NSTR,
                "photos": {"type": "array", "items": _ref("Photo")},
                "relocated": {
                    "type": ["object", "null"],
                    "description": "the device's stake differs from the server's by more than 1 m",
                },
                "possible_duplicates": {"type": "array", "items": _INT},
            },
        },
        "IncidentList": {
            "type": "object",
            "required": ["items", "next"],
            "properties": {
                "items": {"type": "array", "items": _ref("Incident")},
                "next": {"type": ["string", "null"]},
            },
        },
        "PhotoOut": {
            "type": "object",
            "required": ["photo", "incident"],
            "properties": {"photo": _ref("Photo"), "incident": _ref("Incident")},
        },
    }

    def op(
        summary: str,
        responses: dict[str, Any],
        body: dict[str, Any] | None = None,
        write: bool = True,
        params: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "summary": summary,
            "parameters": [_LANG, *(params or []), *([_CSRF] if write else [])],
            "responses": responses,
        }
        if body is not None:
            out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        return out

    paths = {
        "/session": {
            "post": {
                **op(
                    "Sign in: sets the HttpOnly session cookie",
                    {"200": _json(_ref("SignedIn"), "Signed in"), **_errors(401, 413, 422)},
                    _ref("SignIn"),
                    write=False,
                ),
                "security": [],
            },
            "delete": op("Sign out", {"200": _json({"type": "object"}, "Signed out"), **_errors(403)}),
        },
        "/me": {
            "get": op(
                "Who is signed in, with the CSRF token",
                {"200": _json(_ref("Me"), "The caller"), **_errors(401)},
                write=False,
            )
        },
        "/roads": {
            "get": op(
                "The road network for computing stakes on the device (ETag: send If-None-Match)",
                {
                    "200": {
                        "description": "GeoJSON",
                        "content": {"application/geo+json": {"schema": _ref("Roads")}},
                    },
                    "304": {"description": "Not modified"},
                    **_errors(401, 409),
                },
                write=False,
                params=[{"name": "If-None-Match", "in": "header", "required": False, "schema": _STR}],
            )
        },
        "/catalog": {
            "get": op(
                "Violation types with legal basis, measures, statuses, registries",
                {"200": _json(_ref("Catalog"), "The catalog in the caller's language"), **_errors(401)},
                write=False,
            )
        },
        "/patrols": {
            "post": op(
                "Start a patrol (idempotent by client_id)",
                {
                    "201": _json(_ref("Patrol"), "Started"),
                    "200": _json(_ref("Patrol"), "Already received"),
                    **_errors(401, 403, 409, 413, 422),
                },
                _ref("PatrolIn"),
            )
        },
        "/patrols/{ref}": {
            "get": op(
                "One patrol with its track",
                {"200": _json(_ref("Patrol"), "The patrol"), **_errors(401, 403, 404)},
                write=False,
                params=[_PATH_REF],
            )
        },
        "/patrols/{ref}/end": {
            "post": op(
                "End a patrol (again: no change)",
                {"200": _json(_ref("Patrol"), "Ended"), **_errors(401, 403, 404, 409, 413, 422)},
                _ref("PatrolEnd"),
                params=[_PATH_REF],
            )
        },
        "/patrols/{ref}/track": {
            "post": op(
                "Add a batch of track points (idempotent by batch_id)",
                {
                    "201": _json(_ref("TrackOut"), "Stored"),
                    "200": _json(_ref("TrackOut"), "Batch already received"),
                    **_errors(401, 403, 404, 409, 413, 422),
                },
                _ref("TrackIn"),
                params=[_PATH_REF],
            )
        },
        "/incidents": {
            "post": op(
                "Log an incident (idempotent by client_id)",
                {
                    "201": _json(_ref("Incident"), "Stored"),
                    "200": _json(_ref("Incident"), "Already received"),
                    **_errors(401, 403, 409, 413, 422),
                },
                _ref("IncidentIn"),
            ),
            "get": op(
                "Incidents by id, keyset-paginated",
                {"200": _json(_ref("IncidentList"), "A page; follow next"), **_errors(401, 403, 422)},
                write=False,
                params=[
                    {
                        "name": "mine",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
                    },
                    {
                        "name": "since",
                        "in": "query",
                        "required": False,
                        "schema": _INSTANT,
                        "description": "created or changed at or after this instant",
                    },
                    {
                        "name": "bbox",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "example": "103.7,25.4,103.9,25.6"},
                        "description": "only incidents within this box: west,south,east,north (WGS-84 degrees, "
                        "edges included); a bad box: 422 with the field bbox",
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                    {
                        "name": "after",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0},
                    },
                ],
            ),
        },
        "/incidents/{ref}": {
            "get": op(
                "One incident",
                {"200": _json(_ref("Incident"), "The incident"), **_errors(401, 403, 404)},
                write=False,
                params=[_PATH_REF],
            )
        },
        "/incidents/{ref}/photos": {
            "post": {
                **op(
                    "Add an evidence photo (the original; SHA-256 checked; the same photo twice is stored once)",
                    {
                        "201": _json(_ref("PhotoOut"), "Stored"),
                        "200": _json(_ref("PhotoOut"), "Already stored"),
                        **_errors(401, 403, 404, 413, 422),
                    },
                    params=[_PATH_REF],
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {
                                    "file": {"type": "string", "format": "binary"},
                                    "sha256": {
                                        "type": "string",
                                        "description": "hex SHA-256 the device computed",
                                    },
                                },
                            }
                        }
                    },
                },
            }
        },
        "/report": {
            "get": op(
                "A year's report as JSON (needs the export permission; may be a second stale: "
                "read from the replica when there is one)",
                {"200": _json({"type": "object"}, "The report"), **_errors(401, 403, 422)},
                write=False,
                params=[
                    {
                        "name": "year",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 2000, "maximum": 2100},
                        "description": "the year (default this year, to today)",
                    }
                ],
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "路政巡查日志 API",
            "version": "1",
            "description": "Same services, permissions and audit as the pages. Errors: "
            "{status, code, message, errors: [{field, code, message}]}.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"session": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": "patrol_session"}},
        },
    }
