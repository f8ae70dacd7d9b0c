"""The (patrol, road) pairs that road coverage counts, as a subquery: here, not in ``services.tracks``, so that the
report and the map can use it without loading the geometry libraries that the track service needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, union_all

from patrol_app.storage.models import PatrolCoverage, PatrolRoad, PatrolTrack


def patrol_road_pairs() -> Any:
    """(patrol_id, road_code) of every patrol's roads for coverage: what its track covered where it has one
    (a track of some length), else the roads it declared. A subquery for the map and the report."""
    tracked = select(PatrolTrack.patrol_id).where(PatrolTrack.km > 0)
    declared = select(PatrolRoad.patrol_id.label("patrol_id"), PatrolRoad.road_code.label("road_code")).where(
        PatrolRoad.patrol_id.not_in(tracked)
    )
    driven = select(
        PatrolCoverage.patrol_id.label("patrol_id"), PatrolCoverage.road_code.label("road_code")
    ).where(PatrolCoverage.patrol_id.in_(tracked))
    return union_all(declared, driven).subquery("patrol_road_pairs")
