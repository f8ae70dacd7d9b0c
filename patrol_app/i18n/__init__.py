"""UI and message catalogs: Chinese (default) and English. Every user-facing string comes from here."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

LANGS = ("zh", "en")
_DIR = Path(__file__).resolve().parent


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    """The merged catalog of a language: ``zh_CN.json`` plus every ``<area>.zh_CN.json`` (one file per area of
    the app, so that areas can be written side by side). A key defined twice is an error."""
    name = "en" if lang == "en" else "zh_CN"
    merged: dict[str, str] = {}
    for path in sorted(_DIR.glob(f"*{name}.json")):
        if path.name not in (f"{name}.json",) and not path.name.endswith(f".{name}.json"):
            continue
        part = json.loads(path.read_text(encoding="utf-8"))
        dup = set(part) & set(merged)
        if dup:
            raise ValueError(f"catalog keys defined twice ({path.name}): {sorted(dup)}")
        merged.update(part)
    return merged


def t(key: str, lang: str = "zh", /, **params: Any) -> str:
    """Translate ``key``; a missing key raises KeyError (a test checks both catalogs hold the same keys)."""
    text = catalog(lang)[key]
    return text.format(**params) if params else text


def error_text(exc: Exception, lang: str = "zh") -> str:
    """Render an error that carries ``key``/``params`` (gis and service errors) in the user's language."""
    key = getattr(exc, "key", None)
    params = getattr(exc, "params", {}) or {}
    if key and key in catalog(lang):
        return t(key, lang, **params)
    return str(exc)


def position_text(pos: Any, lang: str = "zh") -> str:
    """One line for a located point: "X012 K3+250 右侧 · 距中线 7.9 米 · 在建筑控制区内 · …"."""
    zone_text = t("zone." + pos.zone, lang)
    if getattr(pos, "published_doc", ""):
        zone_text += " · " + t(
            "zone.detail_published", lang, line=f"{pos.control_line_m:g}", doc=pos.published_doc,
            date=pos.published_date, half=f"{pos.half_road_land_m:g}",
            assumed=t("zone.assumed", lang) if pos.half_road_land_assumed else "", basis=pos.legal_basis)
    elif pos.control_zone_m is not None:
        zone_text += " · " + t(
            "zone.detail", lang, road_class_text=t("class." + pos.road_class, lang), width=f"{pos.control_zone_m:g}",
            half=f"{pos.half_road_land_m:g}", assumed=t("zone.assumed", lang) if pos.half_road_land_assumed else "",
            basis=pos.legal_basis)
    return t("cli.located", lang, code=pos.road_code, name=pos.road_name, stake=pos.stake,
             side_text=t("side." + pos.side, lang), offset=f"{pos.offset_m:.1f}", zone_text=zone_text)
