"""Patrol tracks: batches from the field page stored once, the line, km and covered stake ranges; GPX uploads
feed the same storage; road coverage on the map and in the report counts tracks where they exist."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pytest
from sqlalchemy import func, select

from gis.linref import offset_point
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import PatrolCoverage, TrackPoint

from .conftest import patrol_body


def drive(
    store,
    code: str,
    start_m: float,
    end_m: float,
    step_m: float = 50.0,
    seconds: int = 5,
    t0: dt.datetime | None = None,
) -> list[dict]:
    """Positions along a road (2 m beside the centreline) every ``step_m``, one every ``seconds``."""
    net = store.network()
    t0 = t0 or dt.datetime(2026, 1, 5, 1, 0, tzinfo=dt.UTC)
    out = []
    for i, ch in enumerate(np.arange(start_m, end_m + 0.1, step_m)):
        lon, lat = offset_point(net, code, float(ch), 2.0, "right")
        out.append(
            {
                "t": (t0 + dt.timedelta(seconds=seconds * i)).isoformat(),
                "lon": lon,
                "lat": lat,
                "accuracy_m": 5.0,
            }
        )
    return out


def points(patrol_id: int) -> int:
    with read_session() as s:
        return s.execute(
            select(func.count()).select_from(TrackPoint).where(TrackPoint.patrol_id == patrol_id)
        ).scalar_one()


def test_track_batches_are_stored_once_and_give_km_and_coverage(store, officer):
    p = officer.post("/patrols", patrol_body(roads=["X001"], started_at="2026-01-05T08:55:00+08:00")).json()
    pts = drive(store, "X001", 1000, 4000)
    pts.insert(10, {**pts[10], "accuracy_m": 80.0, "lon": pts[10]["lon"] + 0.01})  # a wild fix: not counted
    first, second = pts[:30], pts[30:]
    r = officer.post(f"/patrols/{p['id']}/track", {"batch_id": "b1", "points": first})
    assert r.status_code == 201, r.text
    assert (
        officer.post(f"/patrols/{p['client_id']}/track", {"batch_id": "b1", "points": first}).status_code
        == 200
    )
    r = officer.post(f"/patrols/{p['id']}/track", {"batch_id": "b2", "points": second})
    assert r.status_code == 201
    assert points(p["id"]) == len(pts)
    track = r.json()["track"]
    assert track["km"] == pytest.approx(3.0, abs=0.1)
    [cov] = track["coverage"]
    assert cov["road_code"] == "X001" and cov["from_stake"] == "K1+000" and cov["to_stake"] == "K4+000"
    ended = officer.post(f"/patrols/{p['id']}/end", {"ended_at": "2026-01-05T09:30:00+08:00"}).json()
    assert ended["km_method"] == "track" and ended["km"] == pytest.approx(3.0, abs=0.1)
    shown = officer.get(f"/patrols/{p['id']}").json()
    assert shown["track"]["coverage"][0]["from_stake"] == "K1+000"


def test_track_refusals(store, officer, as_user):
    p = officer.post("/patrols", patrol_body()).json()
    bad = officer.post(
        f"/patrols/{p['id']}/track",
        {
            "batch_id": "x",
            "points": [
                {"t": "2026-01-05T09:00:00", "lon": 103.8, "lat": 25.4},
                {"t": "2026-01-05T09:00:05Z", "lon": "e"},
            ],
        },
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"points[0].t", "points[1].lon", "points[1].lat"}
    bad = officer.post(
        f"/patrols/{p['id']}/track",
        {
            "batch_id": "x",
            "points": [{"t": "2026-01-05T09:00:05Z", "lon": 500, "lat": 25.4, "accuracy_m": -1}],
        },
    )
    assert {e["field"] for e in bad.json()["errors"]} == {"points[0].lon", "points[0].accuracy_m"}
    assert officer.post(f"/patrols/{p['id']}/track", {"batch_id": "x", "points": []}).status_code == 422
    assert (
        officer.post(
            "/patrols/999999/track", {"batch_id": "x", "points": drive(store, "X001", 0, 100)}
        ).status_code
        == 404
    )
    assert (
        as_user("manager")
        .post(f"/patrols/{p['id']}/track", {"batch_id": "y", "points": drive(store, "X001", 0, 100)})
        .status_code
        == 403
    )
    assert points(p["id"]) == 0


def test_gpx_upload_feeds_the_same_track_storage(store):
    from patrol_app.services import field, tracks
    from patrol_app.services.users import get_user

    pts = drive(store, "X001", 500, 2500, step_m=100)
    gpx = (
        '<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1"><trk><trkseg>'
        + "".join(f'<trkpt lat="{p["lat"]}" lon="{p["lon"]}"/>' for p in pts)
        + "</trkseg></trk></gpx>"
    ).encode()
    with session_scope() as s:
        user = get_user(s, "officer")
        crew = [x for x in field.last_patrol_defaults(s, user)["crew"]]
        from .conftest import officer_ids

        p = field.start_patrol(
            s,
            user,
            field.PatrolStart(
                date=dt.date(2026, 1, 5),
                start_time="08:00",
                roads=["X001"],
                crew_ids=officer_ids(),
                vehicle_ids=[1],
            ),
        )
        field.end_patrol(s, user, p.id, "10:00", method="gpx", gpx=gpx)
        summary = tracks.summary(s, p.id)
        assert (
            summary is not None and summary.points == len(pts) and summary.km == pytest.approx(2.0, abs=0.05)
        )
        assert [(c.road_code, round(c.from_m), round(c.to_m)) for c in summary.coverage] == [
            ("X001", 500, 2500)
        ]
        assert p.km_method == "gpx" and crew is not None


def test_coverage_on_map_and_report_uses_tracks_where_they_exist(store, officer):
    from patrol_app.reports.rollup import Period, rollup
    from patrol_app.services.mapdata import MapFilter, road_coverage
    from patrol_app.services.users import get_user

    codes = store.network().codes
    declared, driven = codes[1], "X001"
    assert declared != driven
    day = dt.date(2026, 1, 5)
    flt = MapFilter(date_from=day, date_to=day)

    def counts() -> tuple[dict[str, int], dict[str, int]]:
        with read_session() as s:
            cov = {c.code: c.times for c in road_coverage(s, get_user(s, "manager"), store.network(), flt)}
            rep = rollup(s, Period(day, day)).patrols_by_road
        return cov, rep

    cov0, rep0 = counts()
    p = officer.post("/patrols", patrol_body(roads=[declared], started_at="2026-01-05T09:00:00+08:00")).json()
    cov1, rep1 = counts()
    assert cov1[declared] == cov0[declared] + 1 and rep1.get(declared, 0) == rep0.get(declared, 0) + 1
    officer.post(
        f"/patrols/{p['id']}/track", {"batch_id": str(uuid.uuid4()), "points": drive(store, driven, 0, 2000)}
    )
    cov2, rep2 = counts()
    assert cov2[declared] == cov0[declared] and cov2[driven] == cov0[driven] + 1
    assert rep2.get(declared, 0) == rep0.get(declared, 0) and rep2[driven] == rep0.get(driven, 0) + 1
    with read_session() as s:
        assert (
            s.execute(
                select(func.count()).select_from(PatrolCoverage).where(PatrolCoverage.patrol_id == p["id"])
            ).scalar_one()
            == 1
        )
