"""Property-based run over every endpoint of the OpenAPI description (schemathesis + hypothesis), signed in as
an officer with the CSRF header: whatever is sent, the server never answers 5xx, and its answers match the
documented status codes and schemas."""

from __future__ import annotations

import warnings

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from starlette.applications import Starlette

from patrol_app.ui.server import routes

warnings.filterwarnings("ignore", message=".*httpx.*")
APP = Starlette(routes=routes())
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", APP)


@pytest.fixture
def signed_in(store):  # type: ignore[no-untyped-def]
    from .conftest import Api

    api = Api("officer")
    return {"cookies": {"patrol_session": api.http.cookies["patrol_session"]}, "csrf": api.csrf}


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_errors(case, signed_in):  # type: ignore[no-untyped-def]
    headers = dict(case.headers or {})
    headers["X-CSRF-Token"] = signed_in["csrf"]
    case.call_and_validate(
        headers=headers,
        cookies=signed_in["cookies"],
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
