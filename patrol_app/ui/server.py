"""``patrol serve``: one ASGI server (Streamlit's ``st.App`` run by uvicorn) for the pages and every HTTP route.

The pages are ``patrol_app/streamlit_app.py`` (package data beside it: ``static/``, served at ``/app/static/``);
the routes come from ``patrol_app.web`` (no Streamlit there). Streamlit's
settings that the app relies on are passed here, so the server behaves the same from any working directory.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from streamlit.starlette import App

SCRIPT = Path(__file__).resolve().parents[1] / "streamlit_app.py"

# What .streamlit/config.toml says, applied whatever the working directory (an installed package has no
# project folder to read it from).
STREAMLIT_OPTIONS: dict[str, Any] = {
    "server.enableStaticServing": True,
    "server.maxUploadSize": 30,  # MB, as the evidence store accepts
    "server.headless": True,
    "server.runOnSave": False,
    "server.fileWatcherType": "none",
    "browser.gatherUsageStats": False,
    "client.toolbarMode": "minimal",
    "theme.primaryColor": "#1f5fbf",
    "theme.base": "light",
}


def routes() -> list[Any]:
    from patrol_app.web.api import routes as api_routes
    from patrol_app.web.auth_routes import routes as auth_routes
    from patrol_app.web.field import routes as field_routes
    from patrol_app.web.health import routes as health_routes

    return [*auth_routes, *api_routes, *field_routes, *health_routes]


def middleware() -> list[Any]:
    from starlette.middleware import Middleware

    from patrol_app.web.health import MetricsMiddleware

    return [Middleware(MetricsMiddleware)]


def build_app() -> App:
    return App(str(SCRIPT), routes=routes(), middleware=middleware())


def serve(host: str = "127.0.0.1", port: int = 8501, cert: str | None = None, key: str | None = None) -> None:
    """Run the app until stopped (Ctrl+C or SIGTERM)."""
    from patrol_app.config import get_settings
    from patrol_app.storage.migrate import upgrade

    upgrade(get_settings().db_url)
    options = {**STREAMLIT_OPTIONS, "server.address": host, "server.port": port}
    if cert and key:
        options["server.sslCertFile"] = cert
        options["server.sslKeyFile"] = key
    # App.run treats argv[0] as its launcher script unless it is "-c": the pages' script is the launcher here.
    sys.argv = ["-c"]

    build_app().run(config=options)
