"""The bounding-box filter (``--bbox W,S,E,N``, ``?bbox=``) on the demo store (SQLite): the map and export
verbs, the API's incident list, and bad boxes named in one line (the same on PostgreSQL with PostGIS:
tests/services/test_postgis.py)."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import select

from patrol_app.services.mapdata import MapFilter, incident_count
from patrol_app.services.record_filter import RecordFilter
from patrol_app.services.users import cli_actor
from patrol_app.storage.db import read_session
from patrol_app.storage.models import Incident
from patrol_app.storage.spatial import BadBox, parse_bbox
from tests.api.conftest import Api


def _box(store) -> tuple[tuple[float, float, float, float], list[int]]:  # type: ignore[no-untyped-def]
    """A box holding about a quarter of the demo's incidents (a point on each edge), and their ids."""
    with read_session(store.url) as s:
        points = s.execute(select(Incident.id, Incident.lon, Incident.lat)).all()
    lons, lats = sorted(p.lon for p in points), sorted(p.lat for p in points)
    q = len(points) // 4
    box = (lons[q], lats[q], lons[2 * q], lats[3 * q])
    ids = sorted(p.id for p in points if box[0] <= p.lon <= box[2] and box[1] <= p.lat <= box[3])
    assert 0 < len(ids) < len(points)
    return box, ids


def _text(box) -> str:  # type: ignore[no-untyped-def]
    return ",".join(repr(v) for v in box)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("103.7,25.4,103.9", "bbox.bad_count"),
        ("103.7,25.4,103.9,25.6,1", "bbox.bad_count"),
        ("", "bbox.bad_count"),
        ("103.7,南,103.9,25.6", "bbox.bad_number"),
        ("103.7,25.4,nan,25.6", "bbox.bad_number"),
        ("103.7,25.4,inf,25.6", "bbox.bad_number"),
        ("203.7,25.4,213.9,25.6", "bbox.out_of_range"),
        ("103.7,-95,103.9,25.6", "bbox.out_of_range"),
        ("103.9,25.4,103.7,25.6", "bbox.inverted"),
        ("103.7,25.6,103.9,25.6", "bbox.inverted"),
    ],
)
def test_bad_boxes_are_named(text, key):
    with pytest.raises(BadBox) as exc:
        parse_bbox(text)
    assert exc.value.key == key
    with pytest.raises(ValueError):
        RecordFilter(bbox=text)


def test_box_text_forms():
    assert parse_bbox(" 103.7, 25.4 ,103.9,25.6") == (103.7, 25.4, 103.9, 25.6)
    assert parse_bbox("１０３.７，25.4，103.9，25.6") == (
        103.7,
        25.4,
        103.9,
        25.6,
    )  # full-width, as typed in Chinese
    assert RecordFilter(bbox="103.7,25.4,103.9,25.6").bbox == (103.7, 25.4, 103.9, 25.6)


def test_filter_selects_the_box_edges_included(store):
    box, ids = _box(store)
    with read_session(store.url) as s:
        got = s.execute(select(Incident.id).where(*RecordFilter(bbox=box).incident_conditions())).scalars()
        assert sorted(got) == ids
        assert incident_count(s, cli_actor(s), MapFilter(bbox=box)) == len(ids)


def test_map_and_export_take_a_box(store, run_patrol_many, tmp_path):
    box, ids = _box(store)
    map_out, csv_out = tmp_path / "m.html", tmp_path / "i.csv"
    env = {**store.env, "PATROL_LANG": "en"}
    runs = run_patrol_many(
        [
            ["map", "--bbox", _text(box), "--out", map_out],
            ["export", "incidents", "--bbox", _text(box), "--out", csv_out],
            ["map", "--bbox", "103.9,25.4,103.7,25.6", "--out", tmp_path / "bad.html"],
            ["export", "incidents", "--bbox", "103.7,25.4", "--out", tmp_path / "bad.csv"],
            ["export", "patrols", "--bbox", _text(box), "--out", tmp_path / "p.csv"],
            ["map", "--bbox", "a,b,c,d", "--out", tmp_path / "bad2.html", "--lang", "zh"],
        ],
        env,
    )
    ok_map, ok_export, bad_map, bad_export, patrols, bad_zh = runs
    assert ok_map.returncode == 0, ok_map.stderr
    assert f": {len(ids)} incidents (" in ok_map.stdout and "Area: longitude" in ok_map.stdout
    assert ok_export.returncode == 0, ok_export.stderr
    with csv_out.open(encoding="utf-8-sig") as f:
        assert sum(1 for _ in csv.reader(f)) - 1 == len(ids)
    for p, words in (
        (bad_map, "west must be less than east"),
        (bad_export, "give four numbers west,south,east,north"),
        (patrols, "apply to incidents only"),
        (bad_zh, "不是数字"),
    ):
        assert p.returncode == 2, p.stderr
        assert p.stdout == "" and len(p.stderr.strip().splitlines()) == 1 and words in p.stderr, p.stderr
        assert "Traceback" not in p.stderr
    assert not (tmp_path / "bad.html").exists() and not (tmp_path / "bad.csv").exists()


def test_api_incident_list_takes_a_box(store):
    box, ids = _box(store)
    api = Api("manager")
    got, url = [], f"/incidents?limit=50&bbox={_text(box)}"
    while url:
        r = api.get(url.removeprefix("/api/v1"))
        assert r.status_code == 200, r.text
        got.extend(item["id"] for item in r.json()["items"])
        url = r.json()["next"]
    assert sorted(got) == ids
    for bad, code in (("103.9,25.4,103.7,25.6", "bbox.inverted"), ("1,2,3", "bbox.bad_count")):
        r = api.get(f"/incidents?lang=en&bbox={bad}")
        assert r.status_code == 422, r.text
        body = r.json()
        assert (
            set(body) == {"status", "code", "message", "errors"} and body["code"] == "error.validation_failed"
        )
        assert [(e["field"], e["code"]) for e in body["errors"]] == [("bbox", code)]
        assert bad in body["errors"][0]["message"]
