"""Probes and metrics of one app server, for the load balancer and Prometheus. No Streamlit here.

``GET /healthz``  200 ``ok`` while the process serves requests (liveness: says nothing about the database).
``GET /readyz``   200 ``ready`` when the database answers and its schema is the code's newest migration; otherwise
                  503 with the reason on one line (readiness: a proxy sends no user to a server that is not ready).
``GET /metrics``  Prometheus text format (0.0.4): requests by route, method and status, a latency histogram by
                  route, open websockets (Streamlit page sessions), drafts waiting to be saved, the database
                  connection pools, and the process start time.

The reasons and metric names are for operators and machines, in English; they never carry a password.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STARTED = time.time()
PROBE_TIMEOUT_S = 3


class Metrics:
    """Counters of this process; updated by :class:`MetricsMiddleware`, read by ``/metrics``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency: dict[str, list[float]] = {}  # route -> [count per bucket..., +Inf count, sum]
        self.websockets = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self.lock:
            key = (method, route, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            row = self.latency.setdefault(route, [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    row[i] += 1
            row[len(BUCKETS)] += 1
            row[len(BUCKETS) + 1] += seconds

    def websocket(self, delta: int) -> None:
        with self.lock:
            self.websockets += delta


METRICS = Metrics()


def _route_label(scope: Scope) -> str:
    """The matched route's template (bounded: never a raw path with ids or hashes in it)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is not None:
        return path or "/"
    return "unmatched"


class MetricsMiddleware:
    """Pure ASGI (streams and websockets pass through untouched): counts each HTTP request when its response
    ends, and open websockets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            METRICS.websocket(+1)
            try:
                await self.app(scope, receive, send)
            finally:
                METRICS.websocket(-1)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        done = False

        async def send_wrapper(message: Message) -> None:
            nonlocal status, done
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False) and not done:
                done = True
                METRICS.observe(scope["method"], _route_label(scope), status, time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            if not done:  # the app failed, or the client went away, before the response ended
                METRICS.observe(scope["method"], _route_label(scope), status, time.perf_counter() - start)


# --- database probes ----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _probe_engine(url: str) -> Any:
    """A small engine of its own with a short connect timeout: a probe never waits on the app's pool."""
    from sqlalchemy import create_engine

    from patrol_app.storage.db import get_engine

    if url.startswith("sqlite"):
        return get_engine(url, True)
    return create_engine(
        url,
        pool_size=1,
        max_overflow=0,
        pool_pre_ping=True,
        pool_timeout=PROBE_TIMEOUT_S,
        connect_args={"connect_timeout": PROBE_TIMEOUT_S},
    )


@functools.lru_cache(maxsize=1)
def _code_heads() -> tuple[str, ...]:
    from alembic.script import ScriptDirectory

    from patrol_app.storage.migrate import alembic_config

    return tuple(sorted(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()))


def readiness(url: str | None = None) -> str | None:
    """None when ready; else the reason."""
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy.exc import SQLAlchemyError

    from patrol_app.config import get_settings
    from patrol_app.production import scrub

    url = url or get_settings().db_url
    try:
        with _probe_engine(url).connect() as conn:
            current = tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        return "database unreachable: " + scrub(
            str(orig).splitlines()[0] if str(orig) else type(exc).__name__, url
        )
    heads = _code_heads()
    if current != heads:
        return (
            f"migrations not current: database at {', '.join(current) or 'none'}, code at {', '.join(heads)}"
        )
    return None


def _pool_stats() -> list[tuple[str, str, int]]:
    from patrol_app.storage.db import get_engine

    rows: list[tuple[str, str, int]] = []
    info = get_engine.cache_info()
    if not info.currsize:
        return rows
    from patrol_app.config import get_settings

    settings = get_settings()
    engines = [("write", settings.db_url, False), ("read", settings.db_url, True)]
    if settings.db_read_url:
        engines.append(("replica", settings.db_read_url, True))
    for name, url, reading in engines:
        pool = get_engine(url, reading).pool
        for metric in ("size", "checkedin", "checkedout", "overflow"):
            fn = getattr(pool, metric, None)
            if callable(fn):
                try:
                    rows.append((metric, name, int(fn())))
                except Exception:  # noqa: BLE001 - a pool kind without the number
                    pass
    return rows


def _drafts_pending() -> int | None:
    from sqlalchemy import func, select
    from sqlalchemy.exc import SQLAlchemyError

    from patrol_app.storage.db import read_session
    from patrol_app.storage.models import Draft

    try:
        with read_session() as s:
            return int(s.scalar(select(func.count(Draft.id))) or 0)
    except SQLAlchemyError:
        return None


def _labels(**kv: str) -> str:
    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in kv.items()) + "}"


def render_metrics() -> str:
    out: list[str] = []
    with METRICS.lock:
        requests = dict(METRICS.requests)
        latency = {k: list(v) for k, v in METRICS.latency.items()}
        websockets = METRICS.websockets
    out += [
        "# HELP patrol_http_requests_total HTTP requests by method, route and status.",
        "# TYPE patrol_http_requests_total counter",
    ]
    for (method, route, status), n in sorted(requests.items()):
        out.append(f"patrol_http_requests_total{_labels(method=method, route=route, status=status)} {n}")
    out += [
        "# HELP patrol_http_request_duration_seconds Time from request to the end of the response.",
        "# TYPE patrol_http_request_duration_seconds histogram",
    ]
    for route, row in sorted(latency.items()):
        for bound, count in zip(BUCKETS, row):
            out.append(
                f"patrol_http_request_duration_seconds_bucket{_labels(route=route, le=repr(bound))} {int(count)}"
            )
        out.append(
            f"patrol_http_request_duration_seconds_bucket{_labels(route=route, le='+Inf')} "
            f"{int(row[len(BUCKETS)])}"
        )
        out.append(
            f"patrol_http_request_duration_seconds_sum{_labels(route=route)} {row[len(BUCKETS) + 1]:.6f}"
        )
        out.append(
            f"patrol_http_request_duration_seconds_count{_labels(route=route)} {int(row[len(BUCKETS)])}"
        )
    out += [
        "# HELP patrol_websockets_open Open websockets (page sessions) on this server.",
        "# TYPE patrol_websockets_open gauge",
        f"patrol_websockets_open {websockets}",
    ]
    drafts = _drafts_pending()
    if drafts is not None:
        out += [
            "# HELP patrol_drafts_pending Forms typed but not saved yet (server-side drafts).",
            "# TYPE patrol_drafts_pending gauge",
            f"patrol_drafts_pending {drafts}",
        ]
    pools = _pool_stats()
    for metric, help_ in (
        ("size", "Connections the pool keeps."),
        ("checkedin", "Idle connections in the pool."),
        ("checkedout", "Connections in use."),
        ("overflow", "Connections beyond the pool size."),
    ):
        rows = [(engine, n) for m, engine, n in pools if m == metric]
        if rows:
            out += [f"# HELP patrol_db_pool_{metric} {help_}", f"# TYPE patrol_db_pool_{metric} gauge"]
            out += [f"patrol_db_pool_{metric}{_labels(engine=engine)} {n}" for engine, n in rows]
    out += [
        "# HELP patrol_process_start_time_seconds Start time of this app server (Unix time).",
        "# TYPE patrol_process_start_time_seconds gauge",
        f"patrol_process_start_time_seconds {STARTED:.3f}",
    ]
    return "\n".join(out) + "\n"


NO_STORE = {"Cache-Control": "no-store"}


def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok", headers=NO_STORE)


def readyz(request: Request) -> PlainTextResponse:
    reason = readiness()
    if reason:
        return PlainTextResponse(reason, status_code=503, headers=NO_STORE)
    return PlainTextResponse("ready", headers=NO_STORE)


def metrics(request: Request) -> PlainTextResponse:
    return PlainTextResponse(render_metrics(), headers=NO_STORE, media_type="text/plain; version=0.0.4")


routes = [
    Route("/healthz", healthz, methods=["GET", "HEAD"]),
    Route("/readyz", readyz, methods=["GET", "HEAD"]),
    Route("/metrics", metrics, methods=["GET"]),
]
