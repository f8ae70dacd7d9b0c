"""Field logging in the app: open and close patrols, log incidents with photos, follow them up, drafts.

Every write takes the acting user, checks permission and rules, and writes the record, its history and its
audit entry in the caller's transaction. Saving twice with the same client token returns the first record
(a double tap creates one record).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session

from gis.gpx import track_length_km
from gis.roads import RoadNetwork
from patrol_app.clock import utc_now as _utcnow  # the one clock; call sites keep their name
from patrol_app.config import get_settings
from patrol_app.domain.rules import Perm, Status, allowed
from patrol_app.services import audit, audit_state
from patrol_app.services.errors import FieldError, ServiceError, ValidationFailed
from patrol_app.services.record_filter import adcode_condition
from patrol_app.services.records import (
    MIN_OFFICERS,
    incident_dict,
    local_now,
    parse_road_list,
    patrol_dict,
    validate_incidents,
)
from patrol_app.services.registry import valid_officers
from patrol_app.services.roads import network as store_network
from patrol_app.services.users import actor_scope, require, require_county, write_county
from patrol_app.services.users import same_person as _same_person
from patrol_app.storage.models import (
    Case,
    Draft,
    Incident,
    IncidentEvent,
    Patrol,
    PatrolCrew,
    PatrolRoad,
    PatrolVehicle,
    Personnel,
    Photo,
    User,
    Vehicle,
)
from patrol_app.storage.spatial import in_box

DUPLICATE_RADIUS_M = 50.0
FLAG_FEW_OFFICERS = "few_officers"
GPS_WARN_ACCURACY_M = 30.0


# --- patrols ------------------------------------------------------------------------------------------


@dataclass
class PatrolStart:
    date: dt.date
    start_time: str
    roads: list[str]
    crew_ids: list[int]
    vehicle_ids: list[int]
    joint: str = ""
    weather: str = ""
    notes: str = ""


def _by_token(session: Session, model: Any, token: str | None) -> Any:
    if not token:
        return None
    return session.execute(select(model).where(model.client_token == token)).scalar_one_or_none()


def by_client_id(session: Session, actor: User, model: Any, client_id: str | None) -> Any:
    """The patrol or incident a device created with this UUID, or None. Someone else's record under the same
    id is a conflict (``error.client_id_taken``), never an answer."""
    require(actor, Perm.VIEW)
    if not client_id:
        return None
    row = session.execute(select(model).where(model.client_id == client_id)).scalar_one_or_none()
    if row is not None and row.created_by != actor.id:
        raise ServiceError("error.client_id_taken", client_id=client_id)
    return row


def start_patrol(
    session: Session,
    actor: User,
    data: PatrolStart,
    client_token: str | None = None,
    client_id: str | None = None,
) -> Patrol:
    """Open a patrol: roads from the network, a crew, vehicles, not in the future.

    Two officers with valid certificates is the bureau's practice for patrols, not a legal condition (《行政处罚法》
    第四十二条 governs penalties): a patrol with fewer is accepted and flagged ``few_officers`` — refusing it would
    lose the record 《公路安全保护条例》第四十七条 requires. :func:`patrol_flags_explained` says why for the page.

    ``client_token`` (a page's form) and ``client_id`` (a device's UUID) make saving twice create one patrol."""
    require(actor, Perm.LOG_PATROL)
    county = write_county(actor)  # a patrol belongs to the officer's county
    existing = _by_token(session, Patrol, client_token) or by_client_id(session, actor, Patrol, client_id)
    if existing is not None:
        require_county(actor, existing.adcode)
        return existing
    net = store_network(session, county)
    errors: list[FieldError] = []
    now = local_now()
    if data.date > now.date():
        errors.append(FieldError("date", "error.future_date", {"value": data.date.isoformat()}))
    try:
        roads = parse_road_list("、".join(data.roads), net)
    except Exception:  # noqa: BLE001 - parse_road_list raises its own _Bad with a key
        roads = []
        bad = [c for c in data.roads if c not in net.routes]
        errors.append(
            FieldError(
                "roads",
                "error.unknown_road" if bad else "error.required",
                {"code": "、".join(bad)} if bad else {},
            )
        )
    people = list(
        session.execute(
            select(Personnel).where(Personnel.id.in_(data.crew_ids), Personnel.adcode == county)
        ).scalars()
    )
    if not people:
        errors.append(FieldError("crew", "error.required"))
    officers, _notes = valid_officers(session, actor, data.crew_ids, data.date)
    flags = FLAG_FEW_OFFICERS if len(officers) < MIN_OFFICERS else ""  # accepted and flagged, never refused
    vehicles = list(
        session.execute(
            select(Vehicle).where(Vehicle.id.in_(data.vehicle_ids), Vehicle.adcode == county)
        ).scalars()
    )
    if not vehicles:
        errors.append(FieldError("vehicles", "error.required"))
    if errors:
        raise ValidationFailed(errors)
    p = Patrol(
        adcode=county,
        date=data.date,
        start_time=data.start_time,
        end_time=None,
        vehicles=len(vehicles),
        personnel=len(people),
        km=None,
        crew="、".join(x.name for x in people),
        joint=data.joint.strip(),
        weather=data.weather.strip(),
        notes=data.notes.strip(),
        status="open",
        source="app",
        client_token=client_token,
        client_id=client_id,
        flags=flags,
        created_by=actor.id,
        created_at=_utcnow(),
    )
    p.roads = [PatrolRoad(seq=i, road_code=c) for i, c in enumerate(roads)]
    session.add(p)
    session.flush()
    session.add_all(PatrolCrew(patrol_id=p.id, personnel_id=x.id, cert_no=x.cert_no) for x in people)
    session.add_all(PatrolVehicle(patrol_id=p.id, vehicle_id=v.id) for v in vehicles)
    session.flush()
    audit.record(
        session,
        actor,
        "patrol.start",
        "patrol",
        p.id,
        after={**patrol_dict(p), "crew_ids": [x.id for x in people], "vehicle_ids": [v.id for v in vehicles]},
    )
    return p


def _in_scope(actor: User) -> Any:
    """Incidents the actor may see: of its county (a city or province account: of its counties)."""
    cond = adcode_condition(Incident.adcode, actor_scope(actor))
    assert cond is not None
    return cond


def get_patrol(session: Session, actor: User, patrol_id: int) -> Patrol:
    require(actor, Perm.VIEW)
    p = session.get(Patrol, patrol_id)
    if p is None:
        raise ServiceError("field.no_such_patrol", id=patrol_id)
    require_county(actor, p.adcode)  # another county's record: refused
    return p


def get_incident(session: Session, actor: User, incident_id: int) -> Incident:
    require(actor, Perm.VIEW)
    inc = session.get(Incident, incident_id)
    if inc is None:
        raise ServiceError("field.no_such_incident", id=incident_id)
    require_county(actor, inc.adcode)  # another county's record: refused
    return inc


def patrol_flags_explained(
    session: Session, actor: User, crew_ids: Sequence[int], day: dt.date
) -> list[FieldError]:
    """Why a crew would be flagged: fewer than two officers with certificates valid on ``day``, and who does not
    count and why (协勤, no or expired certificate). Empty when the crew meets the bureau's practice."""
    require(actor, Perm.LOG_PATROL)
    officers, notes = valid_officers(session, actor, crew_ids, day)
    if len(officers) >= MIN_OFFICERS:
        return []
    return [
        FieldError("crew", "patrol.flag.few_officers", {"count": len(officers)}),
        *(FieldError("crew", n.key, n.params) for n in notes),
    ]


def km_from_roads(net: RoadNetwork, codes: Sequence[str]) -> float:
    """Mileage of the declared roads, once each way (a patrol drives out and back)."""
    return round(2 * sum(net.routes[c].length_m for c in codes if c in net.routes) / 1000.0, 1)


# --- who may change a record -------------------------------------------------------------------------


def _on_patrol(session: Session, actor: User, patrol_id: int | None) -> bool:
    """The actor (through its personnel record) rode on that patrol."""
    if patrol_id is None or actor.personnel_id is None:
        return False
    return (
        session.execute(
            select(PatrolCrew.patrol_id).where(
                PatrolCrew.patrol_id == patrol_id, PatrolCrew.personnel_id == actor.personnel_id
            )
        ).first()
        is not None
    )


def _is_patrol_crew(session: Session, actor: User, p: Patrol) -> bool:
    """Whoever opened the patrol, or an officer on its crew."""
    return _same_person(session, actor, p.created_by) or _on_patrol(session, actor, p.id)


def _is_incident_crew(session: Session, actor: User, inc: Incident) -> bool:
    """The incident's reporting crew: whoever logged it, or an officer on the patrol it was logged on."""
    return _same_person(session, actor, inc.created_by) or _on_patrol(session, actor, inc.patrol_id)


def _require_patrol_crew(session: Session, actor: User, p: Patrol) -> None:
    if not allowed(actor.role, Perm.SUPERVISE) and not _is_patrol_crew(session, actor, p):
        raise ServiceError("field.not_your_patrol", id=p.id)


def _require_incident_crew(session: Session, actor: User, inc: Incident) -> None:
    if not allowed(actor.role, Perm.SUPERVISE) and not _is_incident_crew(session, actor, inc):
        raise ServiceError("field.not_your_incident", id=inc.id)


def end_patrol(
    session: Session,
    actor: User,
    patrol_id: int,
    end_time: str,
    km: float | None = None,
    method: str = "typed",
    gpx: bytes | None = None,
) -> Patrol:
    """Close an open patrol with its mileage: typed, from the declared roads, from a GPX track (stored as the
    patrol's track) or from the track the field page recorded."""
    from patrol_app.services import tracks

    require(actor, Perm.LOG_PATROL)
    p = session.get(Patrol, patrol_id)
    if p is None:
        raise ServiceError("field.no_such_patrol", id=patrol_id)
    require_county(actor, p.adcode)  # another county's record: refused
    _require_patrol_crew(session, actor, p)
    if p.status != "open":
        return p  # closing twice (double tap) changes nothing
    if method == "roads":
        km = km_from_roads(store_network(session, p.adcode), p.road_codes)
    elif method == "gpx":
        if not gpx:
            raise ValidationFailed([FieldError("gpx", "error.required")])
        try:
            km = round(track_length_km(gpx), 1)
            tracks.store_gpx(session, actor, p, gpx)
        except ValueError as exc:
            raise ValidationFailed([FieldError("gpx", "error.gpx", {"detail": str(exc)})]) from None
    elif method == "track":
        km = tracks.track_km(session, p.id)
        if km is None:
            raise ValidationFailed([FieldError("km", "track.none")])
    if km is None or not math.isfinite(km) or km < 0:
        raise ValidationFailed(
            [FieldError("km", "error.negative" if km is not None else "error.required", {"value": km})]
        )
    before = patrol_dict(p)
    p.km, p.end_time, p.status, p.km_method = float(km), end_time, "closed", method
    session.flush()
    audit.record(
        session,
        actor,
        "patrol.end",
        "patrol",
        p.id,
        before=before,
        after={**patrol_dict(p), "km_method": method},
    )
    return p


def open_patrol_of(session: Session, actor: User) -> Patrol | None:
    require(actor, Perm.LOG_PATROL)
    return session.execute(
        select(Patrol)
        .where(Patrol.created_by == actor.id, Patrol.status == "open")
        .order_by(Patrol.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def last_patrol_defaults(session: Session, actor: User) -> dict[str, list[Any]]:
    """My crew, vehicles and roads of my last patrol — the defaults of the next one."""
    require(actor, Perm.LOG_PATROL)
    last = session.execute(
        select(Patrol)
        .where(Patrol.created_by == actor.id, Patrol.source == "app")
        .order_by(Patrol.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    crew: list[int] = []
    vehicles: list[int] = []
    roads: list[str] = []
    if last is not None:
        crew = list(
            session.execute(select(PatrolCrew.personnel_id).where(PatrolCrew.patrol_id == last.id)).scalars()
        )
        vehicles = list(
            session.execute(
                select(PatrolVehicle.vehicle_id).where(PatrolVehicle.patrol_id == last.id)
            ).scalars()
        )
        roads = last.road_codes
    if actor.personnel_id and actor.personnel_id not in crew:
        crew.insert(0, actor.personnel_id)
    return {"crew": crew, "vehicles": vehicles, "roads": roads}


# --- incidents ----------------------------------------------------------------------------------------


def find_duplicates(
    session: Session,
    actor: User,
    type_code: str,
    road_code: str,
    chainage_m: float,
    lon: float,
    lat: float,
    radius_m: float = DUPLICATE_RADIUS_M,
) -> list[Incident]:
    """Open incidents of the same type on the same road within ``radius_m`` (along the road and on the ground)."""
    require(actor, Perm.VIEW)
    rows = session.execute(
        select(Incident)
        .where(
            _in_scope(actor),
            Incident.status == Status.OPEN.value,
            Incident.type_code == type_code,
            Incident.road_code == road_code,
            Incident.chainage_m.between(chainage_m - radius_m, chainage_m + radius_m),
            Incident.follow_up_of.is_(None),
        )
        .order_by(Incident.found_at.desc())
        .limit(20)
    ).scalars()
    out = []
    for r in rows:
        d = _ground_m(lon, lat, r.lon, r.lat)
        if d <= radius_m:
            out.append(r)
    return out


def _ground_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    k = 111_320.0
    return math.hypot((lon2 - lon1) * k * math.cos(math.radians((lat1 + lat2) / 2)), (lat2 - lat1) * k)


#: the incident's columns that are NULL unless written (no default anywhere): set so, the new row's every value
#: is in hand for its audit state instead of unknown to the ORM
_UNSET_NULLS = {
    c.key: None
    for c in Incident.__table__.columns
    if c.nullable
    and not c.primary_key
    and c.default is None
    and c.server_default is None
    and c.key not in ("client_token", "client_id", "updated_at")  # written by ``_new_incident`` itself
}


def log_incident(
    session: Session,
    actor: User,
    raw: dict[str, Any],
    photos: Sequence[Any] = (),
    client_token: str | None = None,
    client_id: str | None = None,
) -> Incident:
    """Save an incident entered in the app, with its photos (``photos.StoredPhoto``), in one transaction.

    ``client_token`` (a page's form) and ``client_id`` (a device's UUID) make saving twice create one record."""
    require(actor, Perm.LOG_INCIDENT)
    county = write_county(actor)  # an incident belongs to the officer's county, located on its roads
    existing = _by_token(session, Incident, client_token) or by_client_id(session, actor, Incident, client_id)
    if existing is not None:
        require_county(actor, existing.adcode)
        return existing
    return _new_incident(session, actor, county, raw, photos, client_token, client_id)[0]


def log_device_incident(
    session: Session, actor: User, raw: dict[str, Any], client_id: str | None
) -> tuple[Incident, list[Incident]]:
    """A device's new incident (the JSON API): :func:`log_incident` without photos, for a ``client_id`` the
    caller has just looked up in this transaction (:func:`by_client_id`, not asked again: a record made
    meanwhile under the same id fails the unique constraint, and the transaction rolls back), with the open
    incidents it may duplicate (:func:`find_duplicates`). Those are read before the audit entry, so that the
    chain's head — which every writer of every app server waits for — is locked only for the entry and the
    commit."""
    require(actor, Perm.LOG_INCIDENT)
    county = write_county(actor)
    inc, dups = _new_incident(session, actor, county, raw, (), None, client_id, duplicates=True)
    return inc, dups


def _new_incident(
    session: Session,
    actor: User,
    county: str,
    raw: dict[str, Any],
    photos: Sequence[Any],
    client_token: str | None,
    client_id: str | None,
    duplicates: bool = False,
) -> tuple[Incident, list[Incident]]:
    net = store_network(session, county)
    errors: list[FieldError] = []
    if raw.get("measure") in ("order_correct", "责令限期改正") and not raw.get("deadline"):
        errors.append(FieldError("deadline", "field.deadline_required"))
    # a GPS fix beyond the usual reach, which the officer chose to put on the nearest road (the offset records
    # how far it was): allowed up to the distance accepted, never beyond 2 km
    reach = get_settings().max_distance_m
    if raw.get("accept_distance_m"):
        reach = max(reach, min(float(raw["accept_distance_m"]), 2000.0))
    clean, verrs = validate_incidents([(None, raw)], net, local_now(), reach)
    pid = raw.get("patrol_id")
    on_patrol = session.get(Patrol, pid) if pid is not None else None
    if pid is not None and (on_patrol is None or on_patrol.adcode != county):
        errors.append(FieldError("patrol_id", "field.no_such_patrol", {"id": pid}))
    errors = verrs + errors
    if clean and clean[0].get("type_code") == "other" and not clean[0].get("basis_note"):
        errors.append(
            FieldError("basis_note", "field.basis_required")
        )  # never invent a basis: the officer states it
    if errors:
        raise ValidationFailed(errors)
    rec = {**_UNSET_NULLS, **clean[0]}  # every column in hand (NULL, as the database would make it)
    now = _utcnow()
    inc = Incident(
        **rec,
        adcode=county,
        source="app",
        client_token=client_token,
        client_id=client_id,
        created_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(inc)
    session.flush()
    ev = IncidentEvent(
        incident_id=inc.id,
        at=now,
        actor_id=actor.id,
        action="created",
        status_before=None,
        status_after=inc.status,
        note="",
    )
    session.add(ev)
    session.flush()
    ids = _attach_photos(session, actor, inc.id, ev.id, photos)
    dups = (
        [
            d
            for d in find_duplicates(
                session, actor, inc.type_code, inc.road_code, inc.chainage_m, inc.lon, inc.lat
            )
            if d.id != inc.id
        ]
        if duplicates
        else []
    )
    state = None
    if not photos:  # the rows just written are the whole state: not read back (the same value, see the test)
        try:
            state = audit_state.state_in_hand("incident", inc, {"events": [ev], "photos": []})
        except ValueError:
            state = None
    audit.record(
        session,
        actor,
        "incident.create",
        "incident",
        inc.id,
        after={**incident_dict(inc), "photos": ids},
        state=state,
    )
    return inc, dups


def _attach_photos(
    session: Session, actor: User, incident_id: int, event_id: int | None, photos: Sequence[Any]
) -> list[str]:
    shas = []
    for sp in photos:
        session.add(
            Photo(
                incident_id=incident_id,
                event_id=event_id,
                sha256=sp.sha256,
                path=sp.path,
                display_path=sp.display_path,
                filename=sp.filename,
                content_type=sp.content_type,
                size=sp.size,
                width=sp.width,
                height=sp.height,
                taken_at=sp.taken_at,
                created_by=actor.id,
                created_at=_utcnow(),
            )
        )
        shas.append(sp.sha256)
    session.flush()
    return shas


def attach_photo(session: Session, actor: User, incident_id: int, photo: Any) -> tuple[Photo, bool]:
    """Add one stored evidence photo (``photos.StoredPhoto``) to an incident. The same picture (SHA-256) sent
    again for the same incident is kept once: returns (the photo row, whether it is new)."""
    require(actor, Perm.UPDATE_INCIDENT)
    inc = session.get(Incident, incident_id)
    if inc is None:
        raise ServiceError("field.no_such_incident", id=incident_id)
    require_county(actor, inc.adcode)  # another county's record: refused
    prior = session.execute(
        select(Photo)
        .where(Photo.incident_id == inc.id, Photo.sha256 == photo.sha256)
        .order_by(Photo.id)
        .limit(1)
    ).scalar_one_or_none()
    if prior is not None:
        return prior, False
    ev = session.execute(
        select(IncidentEvent.id).where(IncidentEvent.incident_id == inc.id, IncidentEvent.action == "created")
    ).scalar()
    _attach_photos(session, actor, inc.id, ev, [photo])
    row = session.execute(
        select(Photo).where(Photo.incident_id == inc.id, Photo.sha256 == photo.sha256)
    ).scalar_one()
    inc.updated_at = _utcnow()
    audit.record(
        session,
        actor,
        "incident.photo",
        "incident",
        inc.id,
        after={"photo": photo.sha256, "size": photo.size, "filename": photo.filename},
    )
    return row, True


def incidents_page(
    session: Session,
    actor: User,
    mine: bool = False,
    since: dt.datetime | None = None,
    after_id: int = 0,
    limit: int = 100,
    bbox: tuple[float, float, float, float] | None = None,
) -> list[Incident]:
    """Incidents by id (keyset: those after ``after_id``), optionally only mine, only those created or
    changed since ``since`` (naive UTC) and only those within ``bbox`` (west, south, east, north; WGS-84)."""
    from sqlalchemy import func

    require(actor, Perm.VIEW)
    q = select(Incident).where(Incident.id > after_id, _in_scope(actor))
    if mine:
        q = q.where(Incident.created_by == actor.id)
    if since is not None:
        q = q.where(func.coalesce(Incident.updated_at, Incident.created_at) >= since)
    if bbox is not None:
        q = q.where(in_box(Incident.lon, Incident.lat, bbox))
    return list(session.execute(q.order_by(Incident.id).limit(limit)).scalars())


def add_follow_up(
    session: Session,
    actor: User,
    incident_id: int,
    note: str,
    photos: Sequence[Any] = (),
    client_token: str | None = None,
) -> IncidentEvent:
    """Attach a new sighting to an open incident (instead of a duplicate record)."""
    require(actor, Perm.UPDATE_INCIDENT)
    inc = session.get(Incident, incident_id)
    if inc is None:
        raise ServiceError("field.no_such_incident", id=incident_id)
    require_county(actor, inc.adcode)  # another county's record: refused
    if client_token:
        prior = session.execute(
            select(IncidentEvent).where(
                IncidentEvent.incident_id == incident_id, IncidentEvent.note.like(f"%[{client_token}]")
            )
        ).scalar_one_or_none()
        if prior is not None:
            return prior
    now = _utcnow()
    text = note.strip() + (f" [{client_token}]" if client_token else "")
    ev = IncidentEvent(
        incident_id=inc.id,
        at=now,
        actor_id=actor.id,
        action="follow_up",
        status_before=inc.status,
        status_after=inc.status,
        note=text,
    )
    session.add(ev)
    session.flush()
    ids = _attach_photos(session, actor, inc.id, ev.id, photos)
    inc.updated_at = now
    audit.record(
        session, actor, "incident.follow_up", "incident", inc.id, after={"note": note, "photos": ids}
    )
    return ev


def update_status(
    session: Session,
    actor: User,
    incident_id: int,
    status: str,
    note: str = "",
    photos: Sequence[Any] = (),
    measure: str | None = None,
    deadline: dt.date | None = None,
) -> Incident:
    """Re-inspect or change an incident's status. Closing asks for the outcome (``note``).

    Only the incident's reporting crew or a squad leader (``Perm.SUPERVISE``) may change it; reopening a closed
    incident is a leader's act; an incident under a case changes status only through the case.
    """
    require(actor, Perm.UPDATE_INCIDENT)
    inc = session.get(Incident, incident_id)
    if inc is None:
        raise ServiceError("field.no_such_incident", id=incident_id)
    require_county(actor, inc.adcode)  # another county's record: refused
    try:
        new = Status(status).value
    except ValueError:
        raise ValidationFailed([FieldError("status", "error.bad_status", {"value": status})]) from None
    _require_incident_crew(session, actor, inc)
    if new != inc.status:
        case_id = (
            session.execute(select(Case.id).where(Case.incident_id == inc.id).order_by(Case.id.desc()))
            .scalars()
            .first()
        )
        if case_id is not None:
            raise ServiceError("field.under_case", id=inc.id, case=case_id)
        if inc.status == Status.CLOSED.value and not allowed(actor.role, Perm.SUPERVISE):
            raise ServiceError("field.reopen_leader_only", id=inc.id)
    errors = []
    if new == Status.CLOSED.value and not note.strip():
        errors.append(FieldError("note", "field.outcome_required"))
    if measure == "order_correct" and not (deadline or inc.deadline):
        errors.append(FieldError("deadline", "field.deadline_required"))
    if errors:
        raise ValidationFailed(errors)
    before = incident_dict(inc)
    now = _utcnow()
    action = (
        "closed"
        if new == Status.CLOSED.value and inc.status != new
        else ("reopened" if new == Status.OPEN.value and inc.status != new else "reinspected")
    )
    ev = IncidentEvent(
        incident_id=inc.id,
        at=now,
        actor_id=actor.id,
        action=action,
        status_before=inc.status,
        status_after=new,
        note=note.strip(),
    )
    session.add(ev)
    session.flush()
    inc.status = new
    if measure:
        inc.measure = measure
    if deadline:
        inc.deadline = deadline
    inc.closed_at = local_now().date() if new == Status.CLOSED.value else None
    inc.updated_at = now
    ids = _attach_photos(session, actor, inc.id, ev.id, photos)
    session.flush()
    audit.record(
        session,
        actor,
        f"incident.{action}",
        "incident",
        inc.id,
        before=before,
        after={**incident_dict(inc), "note": note.strip(), "photos": ids},
    )
    return inc


def history(session: Session, actor: User, incident_id: int) -> list[tuple[IncidentEvent, str, list[Photo]]]:
    """The incident's events, oldest first, with who did it and the photos of each step."""
    require(actor, Perm.VIEW)
    rows = session.execute(
        select(IncidentEvent, User.display_name)
        .join(User, User.id == IncidentEvent.actor_id)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(IncidentEvent.at, IncidentEvent.id)
    ).all()
    photos = list(
        session.execute(select(Photo).where(Photo.incident_id == incident_id).order_by(Photo.id)).scalars()
    )
    by_event: dict[int | None, list[Photo]] = {}
    for ph in photos:
        by_event.setdefault(ph.event_id, []).append(ph)
    return [(ev, name, by_event.get(ev.id, [])) for ev, name in rows]


def open_incidents(
    session: Session,
    actor: User,
    order: str = "road",
    near: tuple[float, float] | None = None,
    road: str | None = None,
    today: dt.date | None = None,
    limit: int = 200,
) -> list[tuple[Incident, float | None]]:
    """Open incidents for follow-up: by road and stake, by distance from ``near``, or overdue first."""
    require(actor, Perm.VIEW)
    today = today or local_now().date()
    q = select(Incident).where(
        Incident.status == Status.OPEN.value, Incident.follow_up_of.is_(None), _in_scope(actor)
    )
    if road:
        q = q.where(Incident.road_code == road)
    if order == "overdue":
        q = q.where(and_(Incident.deadline.is_not(None), Incident.deadline < today)).order_by(
            Incident.deadline
        )
    elif order == "distance" and near is not None:
        lon, lat = near
        for span in (0.02, 0.1, 0.5, 5.0):  # widen the box until enough are found; sort the few by distance
            rows = list(
                session.execute(
                    # PostGIS: geom && the box (its GiST index); elsewhere lon/lat BETWEEN
                    q.where(
                        in_box(Incident.lon, Incident.lat, (lon - span, lat - span, lon + span, lat + span))
                    )
                ).scalars()
            )
            if len(rows) >= min(limit, 20) or span == 5.0:
                break
        ranked = sorted(((r, _ground_m(lon, lat, r.lon, r.lat)) for r in rows), key=lambda x: x[1])
        return list(ranked[:limit])  # typed as the result: a list of (incident, distance or None)
    else:
        q = q.order_by(Incident.road_code, Incident.chainage_m)
    return [(r, None) for r in session.execute(q.limit(limit)).scalars()]


def recent_incidents(session: Session, actor: User, limit: int = 10) -> list[Incident]:
    """The incidents this user logged, newest first."""
    require(actor, Perm.VIEW)
    return list(
        session.execute(
            select(Incident).where(Incident.created_by == actor.id).order_by(Incident.id.desc()).limit(limit)
        ).scalars()
    )


# --- drafts -------------------------------------------------------------------------------------------


def save_draft(session: Session, actor: User, form: str, payload: dict[str, Any]) -> None:
    """Keep what the user has typed, server-side (no permission beyond being an active account: it is their own)."""
    require(actor, Perm.VIEW)
    row = session.execute(
        select(Draft).where(Draft.user_id == actor.id, Draft.form == form)
    ).scalar_one_or_none()
    if row is None:
        session.add(Draft(user_id=actor.id, form=form, payload=payload, updated_at=_utcnow()))
    else:
        row.payload = payload
        row.updated_at = _utcnow()


def load_draft(session: Session, actor: User, form: str) -> dict[str, Any] | None:
    require(actor, Perm.VIEW)
    row = session.execute(
        select(Draft).where(Draft.user_id == actor.id, Draft.form == form)
    ).scalar_one_or_none()
    return None if row is None else dict(row.payload)


def discard_draft(session: Session, actor: User, form: str) -> None:
    require(actor, Perm.VIEW)
    session.execute(delete(Draft).where(Draft.user_id == actor.id, Draft.form == form))
