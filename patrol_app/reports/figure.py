"""The report's incident map, drawn on the server with Pillow (no browser, no tiles): the district boundary, the
roads by class (roads patrolled in the period drawn bold), incidents as dots coloured by type, a legend, a north
arrow and a scale bar. Coordinates are WGS-84, drawn in a plate carrée scaled by cos(latitude), which at
district scale is true to a fraction of a percent."""

from __future__ import annotations

import functools
import glob
import io
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from patrol_app.domain.catalog import CATALOG, OTHER_COLOR, rgb

#: Fonts with Chinese glyphs, tried in order (Debian/Ubuntu fonts-noto-cjk, WenQuanYi, Windows, macOS).
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/simhei.ttf",
    "/System/Library/Fonts/PingFang.ttc",
)

TYPE_COLORS = {v.code: rgb(v.color) for v in CATALOG}  # the catalog's colours, as the map shows them
CLASS_COLORS = {
    "national": (192, 57, 43),
    "provincial": (211, 84, 0),
    "county": (31, 95, 191),
    "township": (39, 174, 96),
    "village": (127, 140, 141),
    "special": (142, 68, 173),
}
GREY = (170, 170, 170)


@functools.cache
def _font_path() -> tuple[str, int] | None:
    paths = [os.environ.get("PATROL_CJK_FONT", "")] + list(FONT_CANDIDATES)
    paths += sorted(glob.glob("/usr/share/fonts/**/*CJK*Regular*.tt[cf]", recursive=True))
    for path in paths:
        if path and os.path.exists(path):
            index = 0
            if path.endswith(".ttc"):  # prefer the Simplified Chinese face of a collection
                for i in range(8):
                    try:
                        if "SC" in (ImageFont.truetype(path, 12, index=i).getname()[0] or "").split():
                            index = i
                            break
                    except OSError:
                        break
            return path, index
    return None


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    found = _font_path()
    if found is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(found[0], size, index=found[1])


@dataclass
class MapLayers:
    """What the figure shows. ``roads``: (code, class, WGS-84 line coordinate arrays, patrolled?)."""

    boundary: Sequence[np.ndarray]  # rings of the district boundary
    roads: Sequence[tuple[str, str, Sequence[np.ndarray], bool]]
    lon: np.ndarray
    lat: np.ndarray
    types: np.ndarray  # type code per incident
    legend_types: dict[str, str]  # code -> label with count, in legend order
    legend_classes: dict[str, str]  # class -> label
    labels: dict[str, str]  # "patrolled", "not_patrolled", "north", "km"


def _rings(geom: Any) -> list[np.ndarray]:
    if geom is None or geom.is_empty:
        return []
    polys = getattr(geom, "geoms", [geom])
    out = []
    for p in polys:
        out.append(np.asarray(p.exterior.coords)[:, :2])
    return out


def boundary_rings() -> list[np.ndarray]:
    from patrol_app.district import district

    return _rings(district().boundary)


def render_map(layers: MapLayers, width: int = 1600, height: int = 1200) -> bytes:
    """A PNG of the incident map."""
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    pts: list[np.ndarray] = list(layers.boundary) + [xy for _, _, lines, _ in layers.roads for xy in lines]
    if len(layers.lon):
        pts.append(np.column_stack([layers.lon, layers.lat]))
    allxy = np.concatenate(pts) if pts else np.array([[103.65, 25.1], [104.25, 25.6]])
    x0, y0 = np.nanmin(allxy, axis=0)
    x1, y1 = np.nanmax(allxy, axis=0)
    coslat = math.cos(math.radians((y0 + y1) / 2))
    legend_w = int(width * 0.24)
    pad = 40
    span_x = max((x1 - x0) * coslat, 1e-6)
    span_y = max(y1 - y0, 1e-6)
    scale = min((width - legend_w - 2 * pad) / span_x, (height - 2 * pad) / span_y)  # px per degree (north)
    ox = pad + ((width - legend_w - 2 * pad) - span_x * scale) / 2
    oy = pad + ((height - 2 * pad) - span_y * scale) / 2

    def px(xy: np.ndarray) -> list[tuple[float, float]]:
        x = ox + (xy[:, 0] - x0) * coslat * scale
        y = oy + (y1 - xy[:, 1]) * scale
        return list(zip(x.tolist(), y.tolist()))

    for ring in layers.boundary:
        draw.polygon(px(ring), fill=(246, 243, 236), outline=(110, 110, 110), width=2)
    for patrolled_pass in (False, True):  # unpatrolled first, patrolled on top
        for _, cls, lines, patrolled in layers.roads:
            if patrolled != patrolled_pass:
                continue
            color = CLASS_COLORS.get(cls, GREY) if patrolled else GREY
            for xy in lines:
                draw.line(px(xy), fill=color, width=5 if patrolled else 2, joint="curve")

    n = len(layers.lon)
    r = 5 if n < 2000 else 3 if n < 20000 else 2
    if n:
        x = ox + (layers.lon - x0) * coslat * scale
        y = oy + (y1 - layers.lat) * scale
        for code in layers.legend_types:  # draw in legend order, rarer types last (on top)
            mask = layers.types == code
            color = TYPE_COLORS.get(code, rgb(OTHER_COLOR))
            for xi, yi in zip(x[mask].tolist(), y[mask].tolist()):
                draw.ellipse(
                    (xi - r, yi - r, xi + r, yi + r), fill=color, outline=(255, 255, 255) if r > 2 else None
                )

    _legend(draw, layers, width - legend_w + 10, pad)
    _north_arrow(draw, width - legend_w - 60, pad + 10, layers.labels.get("north", "N"))
    _scale_bar(draw, pad, height - pad - 10, scale, coslat, layers.labels.get("km", "km"))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _legend(draw: ImageDraw.ImageDraw, layers: MapLayers, x: int, y: int) -> None:
    f = font(26)
    line = 40
    for code, label in layers.legend_types.items():
        color = TYPE_COLORS.get(code, rgb(OTHER_COLOR))
        draw.ellipse((x, y + 8, x + 20, y + 28), fill=color)
        draw.text((x + 32, y + 2), label, fill=(30, 30, 30), font=f)
        y += line
    y += line // 2
    for cls, label in layers.legend_classes.items():
        draw.line((x, y + 18, x + 24, y + 18), fill=CLASS_COLORS.get(cls, GREY), width=6)
        draw.text((x + 32, y + 2), label, fill=(30, 30, 30), font=f)
        y += line
    draw.line((x, y + 18, x + 24, y + 18), fill=GREY, width=3)
    draw.text((x + 32, y + 2), layers.labels.get("not_patrolled", ""), fill=(30, 30, 30), font=f)


def _north_arrow(draw: ImageDraw.ImageDraw, x: int, y: int, label: str) -> None:
    draw.polygon([(x, y + 60), (x + 16, y + 10), (x + 32, y + 60), (x + 16, y + 48)], fill=(40, 40, 40))
    draw.text((x + 16, y - 22), label, fill=(40, 40, 40), font=font(28), anchor="mt")


def _scale_bar(draw: ImageDraw.ImageDraw, x: int, y: int, scale: float, coslat: float, unit: str) -> None:
    metres_per_px = 111_320.0 / scale  # scale is px per degree of latitude (and of lon × cos lat)
    target = metres_per_px * 250
    nice = max(v for v in (1, 2, 5, 10, 20, 25, 50, 100) if v * 1000 <= max(target, 1000))
    length = nice * 1000 / metres_per_px
    draw.rectangle((x, y - 8, x + length, y), fill=(40, 40, 40))
    draw.text((x + length + 10, y - 16), f"{nice} {unit}", fill=(40, 40, 40), font=font(24))


def road_lines(network: Any, codes: Iterable[str]) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    for code in codes:
        geom = network.route_geometry_wgs84(code)
        out[code] = [np.asarray(g.coords)[:, :2] for g in geom.geoms]
    return out


def report_map_png(session: Any, report: Any, lang: str = "zh") -> bytes:
    """The incident map of a report's period, from the store (incident points streamed from the database)."""
    from sqlalchemy import select

    from patrol_app.i18n import t
    from patrol_app.reports.narrative import type_label
    from patrol_app.reports.rollup import CLASS_ORDER
    from patrol_app.services.errors import ServiceError
    from patrol_app.services.roads import network as store_network
    from patrol_app.storage.models import Incident

    cur = report.current
    lo, hi = report.period.datetime_bounds()
    lon_parts, lat_parts, type_parts = [], [], []
    result = session.execute(
        select(Incident.lon, Incident.lat, Incident.type_code)
        .where(Incident.found_at >= lo, Incident.found_at < hi)
        .execution_options(yield_per=20_000)
    )
    for chunk in result.partitions():
        lon_parts.append(np.fromiter((r[0] for r in chunk), float, len(chunk)))
        lat_parts.append(np.fromiter((r[1] for r in chunk), float, len(chunk)))
        type_parts.append(np.array([r[2] for r in chunk], dtype=object))
    lon = np.concatenate(lon_parts) if lon_parts else np.empty(0)
    lat = np.concatenate(lat_parts) if lat_parts else np.empty(0)
    types = np.concatenate(type_parts) if type_parts else np.empty(0, dtype=object)

    roads = []
    try:
        net = store_network(session)
    except ServiceError:
        net = None
    if net is not None:
        covered = set(cur.roads_covered)
        for code, lines in road_lines(net, net.codes).items():
            roads.append((code, net.routes[code].road_class, lines, code in covered))
    counts = {c: n for c, n in sorted(cur.incidents_by_type.items(), key=lambda kv: -kv[1]) if n}
    layers = MapLayers(
        boundary=boundary_rings(),
        roads=roads,
        lon=lon,
        lat=lat,
        types=types,
        legend_types={
            c: t("report.map.legend_type", lang, name=type_label(c, lang), n=n) for c, n in counts.items()
        },
        legend_classes={c: t("report.classes." + c, lang) for c in CLASS_ORDER if c in cur.classes_patrolled},
        labels={
            "not_patrolled": t("report.map.not_patrolled", lang),
            "north": t("report.map.north", lang),
            "km": t("report.map.km", lang),
        },
    )
    return render_map(layers)
