"""我的记录: an officer's own patrols and incidents of the last days, what is still only a draft, and the edits the
rules allow; and the roads a running patrol covers beyond those it declared.

Rules for editing an incident after saving it: the officer who logged it (or a squad leader) may correct its
description, party, phone, measure and deadline while it is open, not taken into a case, and logged within
``EDIT_DAYS``. The location and type are evidence as recorded (a wrong one is closed with a note and logged
again). Every edit is audited with the values before and after.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from patrol_app.clock import local_now, utc_now
from patrol_app.domain.rules import Perm, Role, Status
from patrol_app.services import audit
from patrol_app.services.errors import FieldError, ServiceError, ValidationFailed
from patrol_app.services.records import free_text, incident_dict, patrol_dict
from patrol_app.services.users import require, require_county
from patrol_app.storage.models import Case, Draft, Incident, Patrol, PatrolCrew, PatrolRoad, User

WINDOW_DAYS = 30
EDIT_DAYS = 30
EDITABLE = ("description", "party", "party_phone", "measure", "deadline")


@dataclass(frozen=True)
class MyRecords:
    patrols: list[Patrol]
    incidents: list[Incident]
    drafts: list[Draft]  # typed but not saved yet (kept on the server)
    editable: set[int]  # ids of the incidents the rules still let me edit


def my_records(session: Session, actor: User, days: int = WINDOW_DAYS) -> MyRecords:
    """My patrols (that I started or was crew of) and my incidents of the last ``days`` days, newest first."""
    require(actor, Perm.VIEW)
    since = local_now().date() - dt.timedelta(days=days)
    crew_of = (
        select(PatrolCrew.patrol_id).where(PatrolCrew.personnel_id == actor.personnel_id)
        if actor.personnel_id
        else None
    )
    q = select(Patrol).where(Patrol.date >= since)
    q = (
        q.where(or_(Patrol.created_by == actor.id, Patrol.id.in_(crew_of)))
        if crew_of is not None
        else q.where(Patrol.created_by == actor.id)
    )
    patrols = list(session.execute(q.order_by(Patrol.date.desc(), Patrol.id.desc())).scalars())
    incidents = list(
        session.execute(
            select(Incident)
            .where(
                Incident.created_by == actor.id, Incident.found_at >= dt.datetime.combine(since, dt.time())
            )
            .order_by(Incident.found_at.desc(), Incident.id.desc())
        ).scalars()
    )
    drafts = list(session.execute(select(Draft).where(Draft.user_id == actor.id)).scalars())
    in_case = _in_case(session, [i.id for i in incidents])
    editable = {i.id for i in incidents if _edit_refusal(actor, i, i.id in in_case) is None}
    return MyRecords(patrols, incidents, drafts, editable)


def _in_case(session: Session, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    return set(session.execute(select(Case.incident_id).where(Case.incident_id.in_(ids))).scalars())


def _edit_refusal(actor: User, inc: Incident, in_case: bool) -> str | None:
    if inc.created_by != actor.id and actor.role != Role.SQUAD_LEADER.value:
        return "mine.not_yours"
    if inc.status != Status.OPEN.value:
        return "mine.closed"
    if in_case:
        return "mine.in_case"
    if inc.created_at and utc_now() - inc.created_at > dt.timedelta(days=EDIT_DAYS):
        return "mine.too_old"
    return None


def why_not_editable(session: Session, actor: User, inc: Incident) -> str | None:
    """The catalog key of why ``actor`` may not edit ``inc`` now, or None when they may."""
    require(actor, Perm.VIEW)
    return _edit_refusal(actor, inc, bool(_in_case(session, [inc.id])))


def edit_incident(session: Session, actor: User, incident_id: int, changes: dict[str, Any]) -> Incident:
    """Correct what the rules let an officer correct after saving; audited with before and after."""
    require(actor, Perm.LOG_INCIDENT)
    inc = session.get(Incident, incident_id)
    if inc is None:
        raise ServiceError("field.no_such_incident", id=incident_id)
    require_county(actor, inc.adcode)  # another county's record: refused
    refusal = _edit_refusal(actor, inc, bool(_in_case(session, [inc.id])))
    if refusal:
        raise ServiceError(refusal, id=incident_id)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationFailed([FieldError(k, "mine.not_editable") for k in sorted(unknown)])
    measure = changes.get("measure", inc.measure) or ""
    deadline = changes.get("deadline", inc.deadline)
    if measure == "order_correct" and not deadline:
        raise ValidationFailed([FieldError("deadline", "field.deadline_required")])
    before = incident_dict(inc)
    for k in ("description", "party", "party_phone"):
        if k in changes:
            setattr(inc, k, free_text(changes[k]))
    inc.measure = measure
    inc.deadline = (
        deadline if measure == "order_correct" else inc.deadline if "deadline" not in changes else deadline
    )
    inc.updated_at = utc_now()
    session.flush()
    after = incident_dict(inc)
    if after != before:
        audit.record(session, actor, "incident.edit", "incident", inc.id, before=before, after=after)
    return inc


# --- roads a running patrol did not declare ---------------------------------------------------------------


def _undeclared_road(session: Session, patrol_id: int | None, road_code: str | None) -> bool:
    """True when an incident on ``road_code`` lies off the roads the running patrol declared."""
    if not patrol_id or not road_code:
        return False
    declared = set(
        session.execute(select(PatrolRoad.road_code).where(PatrolRoad.patrol_id == patrol_id)).scalars()
    )
    return road_code not in declared


def declare_road(session: Session, actor: User, patrol_id: int, road_code: str) -> Patrol:
    """Add a road to a running patrol's roads (the officer confirmed the patrol went there too); audited."""
    require(actor, Perm.LOG_PATROL)
    patrol = session.get(Patrol, patrol_id)
    if patrol is None:
        raise ServiceError("field.no_such_patrol", id=patrol_id)
    require_county(actor, patrol.adcode)  # another county's record: refused
    if patrol.status != "open":
        raise ServiceError("mine.patrol_not_running", id=patrol_id)
    if not _undeclared_road(session, patrol_id, road_code):
        return patrol
    before = patrol_dict(patrol)
    seq = max((r.seq for r in patrol.roads), default=-1) + 1
    session.add(PatrolRoad(patrol_id=patrol_id, road_code=road_code, seq=seq))
    session.flush()
    session.refresh(patrol)
    audit.record(
        session, actor, "patrol.add_road", "patrol", patrol_id, before=before, after=patrol_dict(patrol)
    )
    return patrol


def nearby_open_incidents(
    session: Session, actor: User, near: tuple[float, float] | None, limit: int = 300
) -> list[tuple[float, float, str]]:
    """Open incidents to show on the location picker (lon, lat, "#id type stake"): nearest first when the
    officer's position is known — so that a problem already logged is seen before it is logged twice."""
    from patrol_app.domain.catalog import BY_CODE
    from patrol_app.services.field import open_incidents

    require(actor, Perm.VIEW)
    rows = open_incidents(session, actor, order="distance" if near else "road", near=near, limit=limit)
    return [
        (inc.lon, inc.lat, f"#{inc.id} {BY_CODE[inc.type_code].name('zh')} {inc.road_code} {inc.stake}")
        for inc, _ in rows
    ]
