"""Leaflet and its plugins, served by the app itself — never from a public CDN.

Government intranets (and much of China) cannot reach the CDNs that folium and its plugins point at by
default; a map whose script cannot load is a blank frame. So every JS/CSS file a map needs lives in
``static/`` (copied from the npm packages ``leaflet``, ``leaflet.markercluster`` and
``leaflet.heat``, with their licences) and is either linked from Streamlit's static serving
(``/app/static/…``) or, for a standalone HTML file, inlined by :func:`inline_assets`.
"""

from __future__ import annotations

import base64
import functools
import re
from pathlib import Path

__all__ = [
    "HEAT_JS",
    "LEAFLET_CSS",
    "LEAFLET_JS",
    "MARKERCLUSTER_CSS",
    "MARKERCLUSTER_DEFAULT_CSS",
    "MARKERCLUSTER_JS",
    "STATIC_DIR",
    "STATIC_PREFIX",
    "external_references",
    "inline_assets",
    "read_asset",
    "static_url",
]

#: The app's copy of the files, shipped as package data beside ``patrol_app`` (Streamlit serves the ``static/``
#: folder next to the page script, ``patrol_app/streamlit_app.py``).
STATIC_DIR = Path(__file__).resolve().parent.parent / "patrol_app" / "static"
#: Where Streamlit serves ``static/`` (``[server] enableStaticServing = true``).
STATIC_PREFIX = "/app/static"

# (folium's resource name, path inside static/). The names are folium's own, so a stock plugin element and
# ours never add the same library twice.
LEAFLET_JS = ("leaflet", "leaflet/leaflet.js")
LEAFLET_CSS = ("leaflet_css", "leaflet/leaflet.css")
MARKERCLUSTER_JS = ("markerclusterjs", "leaflet.markercluster/leaflet.markercluster.js")
MARKERCLUSTER_CSS = ("markerclustercss", "leaflet.markercluster/MarkerCluster.css")
MARKERCLUSTER_DEFAULT_CSS = ("markerclusterdefaultcss", "leaflet.markercluster/MarkerCluster.Default.css")
HEAT_JS = ("leaflet-heat.js", "leaflet.heat/leaflet-heat.js")


def static_url(path: str) -> str:
    """The URL under which the app serves ``static/<path>``."""
    return f"{STATIC_PREFIX}/{path}"


def links(*assets: tuple[str, str]) -> list[tuple[str, str]]:
    """``(name, url)`` pairs for folium's ``default_js`` / ``default_css``."""
    return [(name, static_url(path)) for name, path in assets]


@functools.cache
def read_asset(path: str) -> str:
    """The text of ``static/<path>``; refuses paths outside ``static/``."""
    full = (STATIC_DIR / path).resolve()
    if STATIC_DIR not in full.parents:
        raise ValueError(f"not a static asset: {path}")
    return full.read_text(encoding="utf-8")


_SCRIPT_RE = re.compile(r'<script\s+src="' + re.escape(STATIC_PREFIX) + r'/([^"]+)"\s*>\s*</script>')
_LINK_RE = re.compile(r'<link\s+rel="stylesheet"\s+href="' + re.escape(STATIC_PREFIX) + r'/([^"]+)"\s*/?>')
_CSS_URL_RE = re.compile(r"url\((['\"]?)([^'\")#:]+\.(png|gif|svg))\1\)")
_SOURCE_MAP_RE = re.compile(r"^\s*//# sourceMappingURL=.*$", re.MULTILINE)
_MIME = {"png": "image/png", "gif": "image/gif", "svg": "image/svg+xml"}


def _inline_css(path: str) -> str:
    """A stylesheet with its relative images turned into data: URIs (a file:// page cannot reach them)."""
    base = Path(path).parent

    def data_uri(m: re.Match[str]) -> str:
        img = (STATIC_DIR / base / m.group(2)).resolve()
        if STATIC_DIR not in img.parents or not img.exists():
            return m.group(0)
        b64 = base64.b64encode(img.read_bytes()).decode("ascii")
        return f"url(data:{_MIME[m.group(3)]};base64,{b64})"

    return _CSS_URL_RE.sub(data_uri, read_asset(path))


def _inline_js(path: str) -> str:
    # "</script" inside a script would end it early; source maps are for developers only.
    return _SOURCE_MAP_RE.sub("", read_asset(path)).replace("</script", "<\\/script")


def inline_assets(html: str) -> str:
    """Replace every ``<script src>`` / stylesheet ``<link>`` pointing at the app's static files
    with the file's content, so the page opens from a ``file://`` URL with no server and no network.

    Raises ValueError if the page still references a script or stylesheet elsewhere.
    """
    html = _SCRIPT_RE.sub(lambda m: "<script>" + _inline_js(m.group(1)) + "</script>", html)
    html = _LINK_RE.sub(lambda m: "<style>" + _inline_css(m.group(1)) + "</style>", html)
    left = external_references(html)
    if left:
        raise ValueError(f"the page still loads external resources: {left}")
    return html


_REF_RE = re.compile(
    r"<(?:script|link|img|iframe)\b[^>]*?\b(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE
)


def external_references(html: str) -> list[str]:
    """Every ``src``/``href`` of a script, stylesheet, image or frame element in ``html`` (the
    things a browser fetches while loading the page), except data: URIs."""
    return [u for u in _REF_RE.findall(html) if not u.startswith("data:")]
