"""The JSON API over the real app routes (``patrol_app.ui.server.routes()``), with a real SQLite demo store."""

from __future__ import annotations

import datetime as dt
import io
import uuid
import warnings

import pytest
from PIL import Image
from sqlalchemy import select

PASSWORD = "patrol-demo"


def client():  # type: ignore[no-untyped-def]
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from patrol_app.ui.server import routes

    warnings.filterwarnings("ignore", message=".*httpx.*")
    return TestClient(Starlette(routes=routes()), base_url="http://127.0.0.1", raise_server_exceptions=False)


class Api:
    """A signed-in client: ``api.post(path, json)`` sends the CSRF header."""

    def __init__(self, username: str | None) -> None:
        self.http = client()
        self.csrf = ""
        if username:
            r = self.http.post("/api/v1/session", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            self.csrf = r.json()["csrf_token"]

    def get(self, path: str, **kw):  # type: ignore[no-untyped-def]
        return self.http.get("/api/v1" + path, **kw)

    def post(self, path: str, json=None, csrf: bool = True, **kw):  # type: ignore[no-untyped-def]
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        headers.update(kw.pop("headers", {}))
        return self.http.post("/api/v1" + path, json=json, headers=headers, **kw)

    def delete(self, path: str, csrf: bool = True):  # type: ignore[no-untyped-def]
        return self.http.delete("/api/v1" + path, headers={"X-CSRF-Token": self.csrf} if csrf else {})


@pytest.fixture
def as_user(store):  # type: ignore[no-untyped-def]
    cache: dict[str, Api] = {}

    def make(username: str | None = "officer") -> Api:
        if username is None:
            return Api(None)
        if username not in cache:
            cache[username] = Api(username)
        return cache[username]

    return make


@pytest.fixture
def officer(as_user):  # type: ignore[no-untyped-def]
    return as_user("officer")


def officer_ids(names=("李明", "王芳")) -> list[int]:  # type: ignore[no-untyped-def]
    from patrol_app.storage.db import read_session
    from patrol_app.storage.models import Personnel

    with read_session() as s:
        return [s.execute(select(Personnel.id).where(Personnel.name == n)).scalar_one() for n in names]


def patrol_body(**kw):  # type: ignore[no-untyped-def]
    body = {
        "client_id": str(uuid.uuid4()),
        "roads": ["X001"],
        "crew": officer_ids(),
        "vehicles": [1],
        "weather": "sunny",
    }
    body.update(kw)
    return body


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def point_beside(store, code: str, chainage: float, offset: float, side: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    from gis.linref import offset_point

    return offset_point(store.network(), code, chainage, offset, side)


def incident_body(store, **kw):  # type: ignore[no-untyped-def]
    lon, lat = point_beside(store, "X001", 3250.0, 18.0, "right")
    body = {
        "client_id": str(uuid.uuid4()),
        "type": "materials",
        "found_at": now_iso(),
        "lon": lon,
        "lat": lat,
        "accuracy_m": 6.0,
        "description": "路肩堆放砂石",
        "party": "王某某",
        "measure": "persuasion",
    }
    body.update(kw)
    return body


def jpeg(w: int = 800, h: int = 600, seed: int = 0) -> bytes:
    import numpy as np

    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()
