"""``/field/``: the offline field page (外业模式), an installable web app beside the Streamlit pages.

Static files live in ``field_static/`` (shipped with the package); Leaflet is the app's copy in ``patrol_app/static/``.
The service worker is served from ``/field/sw.js`` (so its scope is ``/field/``) with the precache manifest
(URL + content hash of every file the page needs) written into it, so any change to a file installs a new
worker and refreshes the device's copy. No Streamlit here.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "field_static"
LEAFLET = Path(__file__).resolve().parents[1] / "static" / "leaflet"

PREFIX = "/field/"

#: What the page needs to start offline: the page itself, then every script, style, icon and vendored file.
SHELL_GLOBS = ("*.js", "*.css", "icons/*.png", "vendor/idb/*.js", "vendor/workbox/*.js")
LEAFLET_FILES = (
    "leaflet.js",
    "leaflet.css",
    "images/marker-icon.png",
    "images/marker-icon-2x.png",
    "images/marker-shadow.png",
    "images/layers.png",
    "images/layers-2x.png",
)

NO_CACHE = {"Cache-Control": "no-cache"}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@lru_cache(maxsize=1)
def precache_manifest() -> list[dict[str, str]]:
    """``[{"url", "revision"}]`` for the service worker: the page and every file under ``field_static``."""
    config = hashlib.sha256(config_script().encode("utf-8")).hexdigest()[:16]
    entries = [
        {"url": PREFIX, "revision": _digest(STATIC / "index.html")},
        {"url": PREFIX + "config.js", "revision": config},
        {"url": PREFIX + "manifest.webmanifest", "revision": _digest(STATIC / "manifest.webmanifest")},
    ]
    for pattern in SHELL_GLOBS:
        for p in sorted(STATIC.glob(pattern)):
            if p.name == "sw.js":
                continue
            entries.append(
                {"url": PREFIX + "static/" + p.relative_to(STATIC).as_posix(), "revision": _digest(p)}
            )
    for name in LEAFLET_FILES:
        p = LEAFLET / name
        if p.exists():
            entries.append({"url": PREFIX + "leaflet/" + name, "revision": _digest(p)})
    return entries


#: Catalog prefixes the page uses (its own strings, plus the shared words for classes, sides, zones, measures).
I18N_PREFIXES = ("fieldapp.", "class.", "side.", "zone.", "measure.", "weather.", "status.")

#: Track recording on the device: a point every ``interval_s`` seconds or ``distance_m`` metres, sent in
#: batches of ``batch`` points (or every ``flush_s`` seconds).
TRACK = {"interval_s": 15, "distance_m": 25, "batch": 20, "flush_s": 120}


@lru_cache(maxsize=1)
def config_script() -> str:
    """``self.FIELD_CONFIG``: the zone rules of :mod:`gis.zones` and the page's strings from the i18n catalogs,
    so the device uses the same numbers and words as the server (one copy of each)."""
    from gis import zones
    from patrol_app.config import get_settings
    from patrol_app.i18n import catalog
    from patrol_app.services.field import GPS_WARN_ACCURACY_M

    rules = {
        "control_zone_min_m": zones.CONTROL_ZONE_MIN_M,
        "default_half_road_land_m": zones.DEFAULT_HALF_ROAD_LAND_M,
        "legal_basis_zone": zones.LEGAL_BASIS_ZONE,
        "legal_basis_road_land": zones.LEGAL_BASIS_ROAD_LAND,
        "legal_basis_village": zones.LEGAL_BASIS_VILLAGE,
        "max_distance_m": get_settings().max_distance_m,
        "gps_warn_accuracy_m": GPS_WARN_ACCURACY_M,
    }
    i18n = {
        lang: {k: v for k, v in catalog(lang).items() if k.startswith(I18N_PREFIXES)} for lang in ("zh", "en")
    }
    body = json.dumps(
        {"rules": rules, "track": TRACK, "i18n": i18n}, ensure_ascii=False, separators=(",", ":")
    )
    return f"self.FIELD_CONFIG = {body};\n"


@lru_cache(maxsize=1)
def _service_worker() -> str:
    text = (STATIC / "sw.js").read_text(encoding="utf-8")
    return text.replace("self.__WB_MANIFEST", json.dumps(precache_manifest(), separators=(",", ":")))


def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=NO_CACHE)


def to_index(request: Request) -> RedirectResponse:
    return RedirectResponse(PREFIX, status_code=308)


def service_worker(request: Request) -> Response:
    return Response(
        _service_worker(),
        media_type="text/javascript; charset=utf-8",
        headers={**NO_CACHE, "Service-Worker-Allowed": PREFIX},
    )


def config(request: Request) -> Response:
    return Response(config_script(), media_type="text/javascript; charset=utf-8", headers=NO_CACHE)


def manifest(request: Request) -> Response:
    return FileResponse(
        STATIC / "manifest.webmanifest", media_type="application/manifest+json", headers=NO_CACHE
    )


routes = [
    Route("/field", to_index, methods=["GET"]),
    Route(PREFIX, index, methods=["GET"]),
    Route(PREFIX + "sw.js", service_worker, methods=["GET"]),
    Route(PREFIX + "manifest.webmanifest", manifest, methods=["GET"]),
    Route(PREFIX + "config.js", config, methods=["GET"]),
    Mount(PREFIX + "static", app=StaticFiles(directory=STATIC), name="field_static"),
    Mount(PREFIX + "leaflet", app=StaticFiles(directory=LEAFLET, check_dir=False), name="field_leaflet"),
]
