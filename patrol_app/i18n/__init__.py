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


def zone_label(zone: str, road_class: str = "", lang: str = "zh") -> str:
    """The verdict in words: 在公路用地内 / 在建筑控制区内 / 在建筑控制区外 / 村道无法定建筑控制区 …"""
    if zone == "none":
        return t("zone.none_special" if road_class == "special" else "zone.none", lang)
    return t("zone." + (zone or "unknown"), lang)


def zone_text(pos: Any, lang: str = "zh") -> str:
    """The verdict with the road that decides it, the statutory minimum, the half road-land width used (always,
    with whether it is assumed) and what may make the real line wider. ``pos``: a located position
    (:class:`gis.linref.RoadPosition`)."""
    from gis.zones import LEGAL_BASIS_ZONE

    zclass = getattr(pos, "zone_road_class", "") or pos.road_class
    zcode = getattr(pos, "zone_road_code", "") or pos.road_code
    parts = [zone_label(pos.zone, zclass, lang)]
    if zcode != pos.road_code:
        parts.append(
            t(
                "zone.decided_by",
                lang,
                code=zcode,
                name=getattr(pos, "zone_road_name", ""),
                road_class_text=t("class." + zclass, lang),
                offset=f"{pos.zone_offset_m:.1f}",
            )
        )
    half = t(
        "zone.half",
        lang,
        half=f"{pos.half_road_land_m:g}",
        assumed=t("zone.assumed", lang) if pos.half_road_land_assumed else "",
    )
    if zclass == "village":
        parts.append(t("zone.detail_village", lang))
    elif pos.control_zone_m is None:
        parts.append(t("zone.detail_special", lang, half=half))
    else:
        doc = getattr(pos, "published_doc", "")
        statutory = pos.half_road_land_m + pos.control_zone_m if doc else pos.control_line_m
        parts.append(
            t(
                "zone.detail",
                lang,
                road_class_text=t("class." + zclass, lang),
                width=f"{pos.control_zone_m:g}",
                line=f"{statutory:g}",
                half=half,
                basis=LEGAL_BASIS_ZONE,
            )
        )
        if doc:  # a control line published by the county government decided (条例 第十一条、第十二条)
            parts.append(
                t(
                    "zone.detail_published",
                    lang,
                    line=f"{pos.control_line_m:g}",
                    doc=doc,
                    date=getattr(pos, "published_date", ""),
                    basis=pos.legal_basis,
                )
            )
    if pos.zone == "road_land":
        parts.append(t("zone.detail_road_land", lang))
    return " · ".join(parts)


def position_text(pos: Any, lang: str = "zh") -> str:
    """One line for a located point: "X012 K3+250 右侧 · 距中线 7.9 米 · 在建筑控制区内 · …"."""
    return t(
        "cli.located",
        lang,
        code=pos.road_code,
        name=pos.road_name,
        stake=pos.stake,
        side_text=t("side." + pos.side, lang),
        offset=f"{pos.offset_m:.1f}",
        zone_text=zone_text(pos, lang),
    )
