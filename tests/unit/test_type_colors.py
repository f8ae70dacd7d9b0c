"""One colour per violation type (the catalog's), the same on the map, in KML and in the report's figure."""

from __future__ import annotations

import json

from patrol_app.domain.catalog import CATALOG, OTHER_COLOR, kml_color, rgb


def test_each_type_has_its_own_colour():
    colours = [v.color for v in CATALOG]
    assert len(set(colours)) == len(colours) and OTHER_COLOR not in colours
    assert rgb("#e6550d") == (0xE6, 0x55, 0x0D) and kml_color("#e6550d") == "ff0d55e6"


def test_map_kml_and_figure_use_the_catalog_colours():
    import numpy as np

    from gis import maps
    from patrol_app.io import export_writers
    from patrol_app.reports import figure
    from patrol_app.services.mapdata import map_labels

    codes = [v.code for v in CATALOG]
    n = len(codes)
    points = maps.IncidentPoints(
        ids=np.arange(1, n + 1),
        lon=np.full(n, 103.8),
        lat=np.full(n, 25.5),
        type_code=codes,
        status=["open"] * n,
        road_code=["X001"] * n,
        chainage_m=np.zeros(n),
        side=["left"] * n,
        day=np.full(n, "2025-01-01", dtype="datetime64[D]"),
        town=["越州镇"] * n,
    )
    payload, summary = maps.incident_payload(points, map_labels("zh"))
    p = json.loads(payload)
    assert dict(zip(p["types"], p["typeColors"])) == {v.name_zh: v.color for v in CATALOG}
    assert [c for c, _, _ in summary["legend"]] == [v.color for v in CATALOG]
    assert export_writers._KML_COLORS == {v.code: kml_color(v.color) for v in CATALOG}
    assert figure.TYPE_COLORS == {v.code: rgb(v.color) for v in CATALOG}
