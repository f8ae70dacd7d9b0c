"""Personnel (执法人员 and 协勤) and vehicles, and the two-officer rule every patrol and case is checked against.

Writes need ``Perm.MANAGE_REGISTRY`` and are audited in the caller's transaction. Records are deactivated,
never deleted: patrols and cases keep pointing at the people and vehicles they had.

:func:`valid_officers` is the one place that decides who counts as an enforcement officer on a given day
(《中华人民共和国行政处罚法》第四十二条: 执法人员不得少于两人, with enforcement qualification).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patrol_app.clock import BadDate, parse_date
from patrol_app.domain.adcodes import prefix
from patrol_app.domain.rules import Perm
from patrol_app.services import audit
from patrol_app.services.errors import FieldError, ServiceError
from patrol_app.services.users import actor_scope, require, require_county, write_county
from patrol_app.storage.models import Personnel, User, Vehicle

#: how many officers with a valid certificate a patrol or a case needs (行政处罚法 第四十二条)
MIN_OFFICERS = 2
#: certificates expiring within this many days are flagged on the administrator's page
EXPIRY_WARNING_DAYS = 30

_NAME_MAX = 64


# --- the two-officer rule -----------------------------------------------------------------------------


def officer_problem(
    p: Personnel | None, on_date: dt.date, personnel_id: int | None = None
) -> FieldError | None:
    """Why this person does not count as an enforcement officer on ``on_date`` (None: they count)."""
    if p is None:
        return FieldError("", "registry.officer_unknown", {"id": personnel_id})
    if not p.active:
        return FieldError("", "registry.officer_inactive", {"id": p.id, "name": p.name})
    if p.auxiliary:
        return FieldError("", "registry.officer_auxiliary", {"id": p.id, "name": p.name})
    if not p.cert_no:
        return FieldError("", "registry.officer_no_cert", {"id": p.id, "name": p.name})
    if p.cert_expiry is None:
        return FieldError("", "registry.officer_no_expiry", {"id": p.id, "name": p.name, "cert": p.cert_no})
    if p.cert_expiry < on_date:
        return FieldError(
            "",
            "registry.officer_cert_expired",
            {"id": p.id, "name": p.name, "cert": p.cert_no, "date": p.cert_expiry.isoformat()},
        )
    return None


def valid_officers(
    session: Session, actor: User, personnel_ids: Iterable[int], on_date: dt.date
) -> tuple[list[int], list[FieldError]]:
    """Split ``personnel_ids`` into those who count as enforcement officers on ``on_date`` and the problems of
    the others.

    Counts: an active, non-auxiliary person with a certificate number whose expiry date is on or after
    ``on_date``. Does not count (one :class:`FieldError` each, in the order given, ``params`` holding ``id``
    and ``name``): unknown id, deactivated, 协勤 (auxiliary staff never count), no certificate, no expiry date
    on record, expired. Duplicates are ignored. ``ok_ids`` keeps the order given.

    The caller decides what to do with the problems (a case refuses any; a patrol may carry 协勤 along) and
    checks ``len(ok_ids) >= MIN_OFFICERS``. Reads only; any role that may view records may ask.
    """
    require(actor, Perm.VIEW)
    ids: list[int] = []
    for pid in personnel_ids:
        pid = int(pid)
        if pid not in ids:
            ids.append(pid)
    people = (
        {
            p.id: p
            for p in session.execute(
                select(Personnel).where(Personnel.id.in_(ids), _in_scope(Personnel.adcode, actor))
            ).scalars()
        }
        if ids
        else {}
    )
    ok: list[int] = []
    problems: list[FieldError] = []
    for pid in ids:
        problem = officer_problem(people.get(pid), on_date, pid)
        if problem is None:
            ok.append(pid)
        else:
            problems.append(problem)
    return ok, problems


def cert_state(p: Personnel, today: dt.date) -> str:
    """``valid`` | ``expiring`` (within 30 days) | ``expired`` | ``none`` (no certificate or no expiry) |
    ``auxiliary`` — for highlighting in the registry."""
    if p.auxiliary:
        return "auxiliary"
    if not p.cert_no or p.cert_expiry is None:
        return "none"
    if p.cert_expiry < today:
        return "expired"
    if p.cert_expiry <= today + dt.timedelta(days=EXPIRY_WARNING_DAYS):
        return "expiring"
    return "valid"


# --- reading --------------------------------------------------------------------------------------------


def _in_scope(column: Any, actor: User) -> Any:
    """People and vehicles of the actor's county (a city or province account: of its counties)."""
    return column.startswith(prefix(actor_scope(actor)))


def list_personnel(session: Session, actor: User, include_inactive: bool = False) -> list[Personnel]:
    require(actor, Perm.VIEW)
    q = (
        select(Personnel)
        .where(_in_scope(Personnel.adcode, actor))
        .order_by(Personnel.auxiliary, Personnel.name, Personnel.id)
    )
    if not include_inactive:
        q = q.where(Personnel.active.is_(True))
    return list(session.execute(q).scalars())


def list_vehicles(session: Session, actor: User, include_inactive: bool = False) -> list[Vehicle]:
    require(actor, Perm.VIEW)
    q = select(Vehicle).where(_in_scope(Vehicle.adcode, actor)).order_by(Vehicle.plate)
    if not include_inactive:
        q = q.where(Vehicle.active.is_(True))
    return list(session.execute(q).scalars())


# --- validation -----------------------------------------------------------------------------------------


def _clean(v: Any) -> str:
    """Codes (certificate numbers, plates): full-width forms folded."""
    return "" if v is None else unicodedata.normalize("NFKC", str(v)).strip()


def _name(v: Any) -> str:
    """Names and titles exactly as typed (only the surrounding white space trimmed)."""
    return "" if v is None else str(v).strip()


def parse_expiry(v: Any) -> dt.date | None:
    """A date, or text such as 2027-12-31, 2027/12/31, 2027年12月31日; blank is None."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    s = _clean(v)
    try:
        return parse_date(s)
    except BadDate:
        raise ServiceError("registry.bad_expiry", value=s) from None


def _personnel_fields(
    name: Any, title: Any, cert_no: Any, cert_expiry: Any, auxiliary: bool
) -> dict[str, Any]:
    name_, title_ = _name(name), _name(title)
    if not name_:
        raise ServiceError("registry.name_required")
    if len(name_) > _NAME_MAX or len(title_) > _NAME_MAX:
        raise ServiceError("registry.too_long", n=_NAME_MAX)
    cert = re.sub(r"\s+", "", _clean(cert_no)).upper() or None
    if cert is not None and len(cert) > 64:
        raise ServiceError("registry.too_long", n=64)
    expiry = parse_expiry(cert_expiry)
    if cert and expiry is None and not auxiliary:
        raise ServiceError("registry.expiry_required", cert=cert)
    if expiry is not None and not cert:
        raise ServiceError("registry.cert_required")
    return {
        "name": name_,
        "title": title_,
        "cert_no": cert,
        "cert_expiry": expiry,
        "auxiliary": bool(auxiliary),
    }


def _check_cert_unique(session: Session, cert: str | None, own_id: int | None = None) -> None:
    if not cert:
        return
    q = select(Personnel).where(Personnel.cert_no == cert)
    if own_id is not None:
        q = q.where(Personnel.id != own_id)
    other = session.execute(q).scalars().first()
    if other is not None:
        raise ServiceError("registry.cert_exists", cert=cert, name=other.name)


def personnel_dict(p: Personnel) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "title": p.title,
        "cert_no": p.cert_no,
        "cert_expiry": p.cert_expiry.isoformat() if p.cert_expiry else None,
        "auxiliary": p.auxiliary,
        "active": p.active,
    }


def vehicle_dict(v: Vehicle) -> dict[str, Any]:
    return {"id": v.id, "plate": v.plate, "kind": v.kind, "active": v.active}


# --- personnel ------------------------------------------------------------------------------------------


def add_personnel(
    session: Session,
    actor: User,
    name: str,
    title: str = "",
    cert_no: str | None = None,
    cert_expiry: dt.date | str | None = None,
    auxiliary: bool = False,
) -> Personnel:
    """Add an officer (with 执法证号 and its expiry) or a 协勤 (auxiliary: never counts as an officer)."""
    require(actor, Perm.MANAGE_REGISTRY)
    fields = _personnel_fields(name, title, cert_no, cert_expiry, auxiliary)
    _check_cert_unique(session, fields["cert_no"])
    p = Personnel(**fields, adcode=write_county(actor), active=True)
    session.add(p)
    session.flush()
    audit.record(session, actor, "registry.personnel.create", "personnel", p.id, after=personnel_dict(p))
    return p


def _get_personnel(session: Session, personnel_id: int, actor: User) -> Personnel:
    p = session.get(Personnel, personnel_id)
    if p is None:
        raise ServiceError("registry.unknown_personnel", id=personnel_id)
    require_county(actor, p.adcode)  # another county's record: refused
    return p


def update_personnel(session: Session, actor: User, personnel_id: int, **changes: Any) -> Personnel:
    """Change any of ``name``, ``title``, ``cert_no``, ``cert_expiry``, ``auxiliary`` (e.g. a renewed
    certificate). Patrols and cases keep the certificate number shown on their day."""
    require(actor, Perm.MANAGE_REGISTRY)
    allowed = {"name", "title", "cert_no", "cert_expiry", "auxiliary"}
    unknown = set(changes) - allowed
    if unknown:
        raise ServiceError("registry.bad_field", field=", ".join(sorted(unknown)))
    p = _get_personnel(session, personnel_id, actor)
    before = personnel_dict(p)
    merged = {
        "name": p.name,
        "title": p.title,
        "cert_no": p.cert_no,
        "cert_expiry": p.cert_expiry,
        "auxiliary": p.auxiliary,
        **changes,
    }
    fields = _personnel_fields(**merged)
    _check_cert_unique(session, fields["cert_no"], p.id)
    for k, v in fields.items():
        setattr(p, k, v)
    session.flush()
    audit.record(
        session, actor, "registry.personnel.update", "personnel", p.id, before=before, after=personnel_dict(p)
    )
    return p


def set_personnel_active(session: Session, actor: User, personnel_id: int, active: bool) -> Personnel:
    """Deactivate (left the unit) or reactivate a person; deactivated people no longer count as officers."""
    require(actor, Perm.MANAGE_REGISTRY)
    p = _get_personnel(session, personnel_id, actor)
    before = personnel_dict(p)
    p.active = bool(active)
    session.flush()
    audit.record(
        session,
        actor,
        "registry.personnel.activate" if active else "registry.personnel.deactivate",
        "personnel",
        p.id,
        before=before,
        after=personnel_dict(p),
    )
    return p


# --- vehicles -------------------------------------------------------------------------------------------


def normalise_plate(plate: Any) -> str:
    """NFKC (full-width letters and digits become ASCII), upper case, no spaces: ``云d l0301`` → ``云DL0301``."""
    return re.sub(r"\s+", "", _clean(plate)).upper()


def _vehicle_fields(plate: Any, kind: Any) -> dict[str, str]:
    plate_ = normalise_plate(plate)
    if not plate_:
        raise ServiceError("registry.plate_required")
    kind_ = _name(kind)
    if len(plate_) > 32 or len(kind_) > 32:
        raise ServiceError("registry.too_long", n=32)
    return {"plate": plate_, "kind": kind_}


def _check_plate_unique(session: Session, plate: str, own_id: int | None = None) -> None:
    # the same plate with or without the separator dot is the same vehicle
    key = plate.replace("·", "").replace(".", "")
    q = select(Vehicle).where(func.replace(func.replace(Vehicle.plate, "·", ""), ".", "") == key)
    if own_id is not None:
        q = q.where(Vehicle.id != own_id)
    if session.execute(q).scalars().first() is not None:
        raise ServiceError("registry.plate_exists", plate=plate)


def add_vehicle(session: Session, actor: User, plate: str, kind: str = "") -> Vehicle:
    require(actor, Perm.MANAGE_REGISTRY)
    fields = _vehicle_fields(plate, kind)
    _check_plate_unique(session, fields["plate"])
    v = Vehicle(**fields, adcode=write_county(actor), active=True)
    session.add(v)
    session.flush()
    audit.record(session, actor, "registry.vehicle.create", "vehicle", v.id, after=vehicle_dict(v))
    return v


def _get_vehicle(session: Session, vehicle_id: int, actor: User) -> Vehicle:
    v = session.get(Vehicle, vehicle_id)
    if v is None:
        raise ServiceError("registry.unknown_vehicle", id=vehicle_id)
    require_county(actor, v.adcode)  # another county's record: refused
    return v


def update_vehicle(
    session: Session, actor: User, vehicle_id: int, plate: str | None = None, kind: str | None = None
) -> Vehicle:
    require(actor, Perm.MANAGE_REGISTRY)
    v = _get_vehicle(session, vehicle_id, actor)
    before = vehicle_dict(v)
    fields = _vehicle_fields(v.plate if plate is None else plate, v.kind if kind is None else kind)
    _check_plate_unique(session, fields["plate"], v.id)
    v.plate, v.kind = fields["plate"], fields["kind"]
    session.flush()
    audit.record(
        session, actor, "registry.vehicle.update", "vehicle", v.id, before=before, after=vehicle_dict(v)
    )
    return v


def set_vehicle_active(session: Session, actor: User, vehicle_id: int, active: bool) -> Vehicle:
    require(actor, Perm.MANAGE_REGISTRY)
    v = _get_vehicle(session, vehicle_id, actor)
    before = vehicle_dict(v)
    v.active = bool(active)
    session.flush()
    audit.record(
        session,
        actor,
        "registry.vehicle.activate" if active else "registry.vehicle.deactivate",
        "vehicle",
        v.id,
        before=before,
        after=vehicle_dict(v),
    )
    return v


@dataclass(frozen=True)
class OfficerOption:
    """A person as a picker shows them: whether they count today and why not."""

    id: int
    name: str
    cert_no: str | None
    cert_expiry: dt.date | None
    problem: FieldError | None


def officer_options(session: Session, actor: User, on_date: dt.date) -> list[OfficerOption]:
    """Active personnel for an officer picker, those who count first."""
    people = list_personnel(session, actor)
    opts = [
        OfficerOption(p.id, p.name, p.cert_no, p.cert_expiry, officer_problem(p, on_date)) for p in people
    ]
    return sorted(opts, key=lambda o: (o.problem is not None, o.name))
