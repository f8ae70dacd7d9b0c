"""The internals of Streamlit, streamlit-folium and folium the app relies on, checked one by one.

pyproject.toml bounds these libraries to the versions verified here. When a new release moves one of these
internals, this file fails naming it, before a user meets a blank map or a server that does not start.
"""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
BOUNDED = ("streamlit", "streamlit-folium", "folium")


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    return {r.name: r for r in reqs}


@pytest.mark.parametrize("name", BOUNDED)
def test_bounded_and_installed_within_the_bounds(name):
    req = _requirements()[name]
    assert any(s.operator in ("<", "<=", "==", "~=") for s in req.specifier), f"{name} needs an upper bound"
    installed = importlib.metadata.version(name)
    assert req.specifier.contains(installed, prereleases=True), (
        f"{name} {installed} is outside {req.specifier}"
    )


def _calls(func_name: str) -> list[tuple[Path, ast.Call]]:
    out = []
    for py in list((ROOT / "patrol_app").rglob("*.py")) + list((ROOT / "gis").rglob("*.py")):
        tree = ast.parse(py.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                if name == func_name:
                    out.append((py, node))
    return out


def test_streamlit_app_takes_what_server_passes():
    """``streamlit.starlette.App(script, routes=…, middleware=…)`` and ``App.run(config=…)``."""
    from streamlit.starlette import App

    init = inspect.signature(App.__init__).parameters
    assert list(init)[1] == "script_path"
    calls = _calls("App")
    assert calls, "patrol_app.ui.server no longer builds App?"
    for py, call in calls:
        for kw in call.keywords:
            assert kw.arg in init, (
                f"{py.name}: App(…, {kw.arg}=) is not an argument of streamlit.starlette.App"
            )
    assert "config" in inspect.signature(App.run).parameters


def test_the_app_builds_with_our_routes():
    """Our routes must not collide with Streamlit's reserved prefixes (App raises ValueError then)."""
    from patrol_app.ui.server import build_app

    build_app()


def test_streamlit_serves_static_next_to_the_pages_script():
    """Streamlit serves ``<script dir>/static`` at ``/app/static``; the maps link Leaflet there."""
    from streamlit import file_util

    from gis import mapassets
    from patrol_app.ui.server import SCRIPT

    static = Path(file_util.get_app_static_dir(str(SCRIPT)))
    assert static == mapassets.STATIC_DIR
    assert (static / "leaflet" / "leaflet.js").is_file()
    assert mapassets.STATIC_PREFIX == "/app/static"


def test_every_streamlit_option_we_set_exists():
    from streamlit import config

    from patrol_app.ui.server import STREAMLIT_OPTIONS

    config.get_config_options()
    unknown = sorted(k for k in STREAMLIT_OPTIONS if k not in config._config_options)
    assert unknown == []


def test_st_context_has_cookies_headers_url():
    import streamlit as st

    for attr in ("cookies", "headers", "url"):
        assert isinstance(inspect.getattr_static(type(st.context), attr), property), f"st.context.{attr}"


def test_st_folium_takes_every_argument_we_pass():
    from streamlit_folium import st_folium

    params = inspect.signature(st_folium).parameters
    calls = _calls("st_folium")
    assert len(calls) >= 2
    for py, call in calls:
        for kw in call.keywords:
            assert kw.arg in params, f"{py.name}: st_folium(…, {kw.arg}=) is not an argument any more"


def test_folium_internals_used_by_gis_maps():
    """``folium.template.Template`` with the ``tojavascript`` filter, ``MacroElement._template.module`` macros
    (IncidentData.render calls the ``script`` macro itself), ``Layer.__init__(name, overlay, control, show)``,
    ``remove_empty``, the stock plugin classes we subclass, and ``default_js``/``default_css`` being what a
    figure loads."""
    import folium
    from folium.elements import Element, MacroElement  # noqa: F401
    from folium.map import Layer
    from folium.plugins import FastMarkerCluster, HeatMap  # noqa: F401
    from folium.template import Template
    from folium.utilities import remove_empty

    assert "tojavascript" in Template("").environment.filters
    assert list(inspect.signature(Layer.__init__).parameters)[1:5] == ["name", "overlay", "control", "show"]
    assert remove_empty(a=1, b=None) == {"a": 1}

    class Probe(MacroElement):
        _template = Template(
            "{% macro script(this, kwargs) %}var probe = {{ this.x|tojavascript }};{% endmacro %}"
        )

        def __init__(self) -> None:
            super().__init__()
            self.x = {"a": 1}

    script = Probe()._template.module.__dict__["script"](Probe(), {})
    assert " ".join(script.split()) == 'var probe = { "a": 1, };'

    from gis import maps

    m = maps.OfflineMap(location=[25.5, 103.8], zoom_start=10, tiles=None)
    html = m.get_root().render()
    assert '<script src="/app/static/leaflet/leaflet.js"></script>' in html
    assert "cdn.jsdelivr" not in html and isinstance(m, folium.Map)
