"""Patrol tracks: positions recorded on the field page (sent in batches) or read from a GPX file, stored as the
patrol's track; from them the line driven, the kilometres and the stretches of road covered (``gis.tracks``).

Road coverage on the map and in the report counts, for a patrol with a track, the roads its track covered,
and for any other patrol the roads it declared (:func:`patrol_road_pairs`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gis.gpx import track_points
from gis.tracks import Fix, Stretch, coverage, length_km, pieces, simplified_line
from patrol_app.clock import to_local, utc_now
from patrol_app.domain.rules import Perm
from patrol_app.services import audit
from patrol_app.services.errors import FieldError, ServiceError, ValidationFailed
from patrol_app.services.roads import network as store_network
from patrol_app.services.users import require
from patrol_app.storage.coverage import patrol_road_pairs  # noqa: F401  (re-exported: its old home)
from patrol_app.storage.models import (
    Patrol,
    PatrolCoverage,
    PatrolTrack,
    TrackBatch,
    TrackPoint,
    User,
)

#: Positions less accurate than this are kept but not drawn or counted (the field pages' GPS warning threshold).
MAX_ACCURACY_M = 30.0
MAX_POINTS_PER_BATCH = 5000
GPX_SEG_BASE = 1000  # GPX pieces are numbered from here; the field page's points are piece 0


@dataclass
class TrackSummary:
    patrol_id: int
    points: int = 0
    km: float = 0.0
    coverage: list[Stretch] = field(default_factory=list)
    line: list[Any] | None = None

    def as_dict(self, with_line: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "points": self.points,
            "km": round(self.km, 2),
            "coverage": [c.as_dict() for c in self.coverage],
            "covered_km": round(sum(c.km for c in self.coverage), 2),
        }
        if with_line:
            out["line"] = self.line or []
        return out


def _patrol(session: Session, patrol_id: int) -> Patrol:
    p = session.get(Patrol, patrol_id)
    if p is None:
        raise ServiceError("field.no_such_patrol", id=patrol_id)
    return p


def _local(t: dt.datetime | None) -> dt.datetime | None:
    if t is None or t.tzinfo is None:
        return t
    return to_local(t)


def _check_points(points: Sequence[dict[str, Any]]) -> list[FieldError]:
    errors: list[FieldError] = []
    if not points:
        errors.append(FieldError("points", "error.required"))
    if len(points) > MAX_POINTS_PER_BATCH:
        errors.append(FieldError("points", "track.too_many_points", {"max": MAX_POINTS_PER_BATCH}))
        return errors
    for i, p in enumerate(points):
        lon, lat, acc = p.get("lon"), p.get("lat"), p.get("accuracy_m")
        if not isinstance(lon, (int, float)) or not math.isfinite(lon) or not -180 <= lon <= 180:
            errors.append(FieldError(f"points[{i}].lon", "error.bad_number", {"value": lon}))
        if not isinstance(lat, (int, float)) or not math.isfinite(lat) or not -90 <= lat <= 90:
            errors.append(FieldError(f"points[{i}].lat", "error.bad_number", {"value": lat}))
        if acc is not None and (not isinstance(acc, (int, float)) or not math.isfinite(acc) or acc < 0):
            errors.append(FieldError(f"points[{i}].accuracy_m", "error.negative", {"value": acc}))
        if not isinstance(p.get("t"), dt.datetime):
            errors.append(FieldError(f"points[{i}].t", "error.required"))
    return errors


def batch_summary(session: Session, actor: User, patrol_id: int, batch_id: str) -> TrackSummary | None:
    """The track as it is, if this batch was already received (None otherwise)."""
    require(actor, Perm.VIEW)
    hit = session.execute(
        select(TrackBatch.id).where(TrackBatch.patrol_id == patrol_id, TrackBatch.batch_id == batch_id)
    ).first()
    return None if hit is None else summary(session, patrol_id)


def add_points(
    session: Session, actor: User, patrol_id: int, batch_id: str, points: Sequence[dict[str, Any]]
) -> tuple[TrackSummary, bool]:
    """Store one batch of the field page's positions (``t`` aware datetimes, ``lon``, ``lat``, ``accuracy_m``).

    The same ``batch_id`` twice stores nothing the second time; returns (the track now, whether stored)."""
    require(actor, Perm.LOG_PATROL)
    p = _patrol(session, patrol_id)
    if not batch_id or len(batch_id) > 64:
        raise ValidationFailed([FieldError("batch_id", "error.required")])
    done = batch_summary(session, actor, p.id, batch_id)
    if done is not None:
        return done, False
    errors = _check_points(points)
    if errors:
        raise ValidationFailed(errors)
    session.add(
        TrackBatch(
            patrol_id=p.id, batch_id=batch_id, points=len(points), created_by=actor.id, received_at=utc_now()
        )
    )
    session.add_all(
        TrackPoint(
            patrol_id=p.id,
            seg=0,
            t=_local(pt["t"]),
            lon=float(pt["lon"]),
            lat=float(pt["lat"]),
            source="device",
            accuracy_m=None if pt.get("accuracy_m") is None else float(pt["accuracy_m"]),
        )
        for pt in points
    )
    session.flush()
    s = rebuild(session, p)
    audit.record(
        session,
        actor,
        "patrol.track",
        "patrol",
        p.id,
        after={"batch_id": batch_id, "points": len(points), "track_points": s.points, "km": round(s.km, 2)},
    )
    return s, True


def store_gpx(session: Session, actor: User, patrol: Patrol, data: bytes) -> TrackSummary:
    """A GPX track from another device becomes the patrol's GPX points (replacing an earlier GPX upload).
    Raises ``gis.gpx.GpxError`` for a file that is not a usable track."""
    require(actor, Perm.LOG_PATROL)
    segs = track_points(data)
    session.execute(delete(TrackPoint).where(TrackPoint.patrol_id == patrol.id, TrackPoint.source == "gpx"))
    session.add_all(
        TrackPoint(
            patrol_id=patrol.id,
            seg=GPX_SEG_BASE + k,
            t=None,
            lon=float(x),
            lat=float(y),
            accuracy_m=None,
            source="gpx",
        )
        for k, xy in enumerate(segs)
        for x, y in xy
    )
    session.flush()
    return rebuild(session, patrol)


def rebuild(session: Session, patrol: Patrol) -> TrackSummary:
    """Derive the line, kilometres and coverage from every stored position of the patrol."""
    rows = session.execute(
        select(TrackPoint.lon, TrackPoint.lat, TrackPoint.t, TrackPoint.accuracy_m, TrackPoint.seg)
        .where(TrackPoint.patrol_id == patrol.id)
        .order_by(TrackPoint.seg, TrackPoint.t, TrackPoint.id)
    ).all()
    fixes = [Fix(lon=r[0], lat=r[1], t=r[2], accuracy_m=r[3], seg=r[4]) for r in rows]
    track = pieces(fixes, MAX_ACCURACY_M)
    km = length_km(track)
    try:
        stretches = coverage(store_network(session, patrol.adcode), track) if track else []
    except ServiceError:  # no road network yet: a track, but no coverage
        stretches = []
    row = session.get(PatrolTrack, patrol.id)
    line = simplified_line(track)
    if row is None:
        session.add(
            PatrolTrack(patrol_id=patrol.id, points=len(rows), km=km, line=line, updated_at=utc_now())
        )
    else:
        row.points, row.km, row.line, row.updated_at = len(rows), km, line, utc_now()
    session.execute(delete(PatrolCoverage).where(PatrolCoverage.patrol_id == patrol.id))
    session.add_all(
        PatrolCoverage(
            patrol_id=patrol.id, road_code=c.road_code, from_m=round(c.from_m, 1), to_m=round(c.to_m, 1)
        )
        for c in stretches
    )
    if patrol.status == "closed" and patrol.km_method == "track":
        patrol.km = round(km, 1)  # positions that arrive after the end still count
    session.flush()
    return TrackSummary(patrol.id, len(rows), km, stretches, line)


def summary(session: Session, patrol_id: int) -> TrackSummary | None:
    """The patrol's track as stored, or None when it has none."""
    row = session.get(PatrolTrack, patrol_id)
    if row is None:
        return None
    cov = session.execute(
        select(PatrolCoverage)
        .where(PatrolCoverage.patrol_id == patrol_id)
        .order_by(PatrolCoverage.road_code, PatrolCoverage.from_m)
    ).scalars()
    return TrackSummary(
        patrol_id, row.points, row.km, [Stretch(c.road_code, c.from_m, c.to_m) for c in cov], row.line
    )


def track_km(session: Session, patrol_id: int) -> float | None:
    row = session.get(PatrolTrack, patrol_id)
    return None if row is None or row.km <= 0 else round(row.km, 1)
