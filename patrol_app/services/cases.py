"""Enforcement cases (立案查处): open, legal review (法制审核), decision, close — each step one audited write.

The rules enforced on save, and where they come from (``../shared/domain/FACTS.md`` §6):

- at least two investigating officers with enforcement certificates valid on the day; 协勤 never count; each
  officer's certificate number is recorded with the case — 《中华人民共和国行政处罚法》第四十二条;
- a case marked major (重大) is decided only after a legal review that passed — 《行政处罚法》第五十八条
  ("未经法制审核或者审核未通过的，不得作出决定"); a review that returned the case blocks any decision until a
  new review passes;
- investigation, review and decision by three different people — the bureau's own practice (its 2021 report:
  调查、审核、决定三分离; 一律不得独自办案、独自审核、独自决定), not an article of law. "The same person" means the
  same account, or two accounts linked to the same personnel record.

- a major case (重大, one of the four situations of 第五十八条, named when the case is opened) is given a penalty
  only after its collective discussion has been recorded — date, participants, conclusion — 第五十七条第二款
  ("对情节复杂或者重大违法行为给予行政处罚，行政机关负责人应当集体讨论决定").

Statuses: ``investigating`` → (review) ``reviewed`` | ``returned`` → ``decided`` → ``closed``. A returned case
may be reviewed again. Review and decision texts are stored as ``[outcome] text``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from patrol_app.clock import local_today  # the one clock (call sites keep their names)
from patrol_app.clock import utc_now as _utcnow
from patrol_app.domain.adcodes import prefix
from patrol_app.domain.masking import party_fields
from patrol_app.domain.rules import Perm, Status
from patrol_app.services import audit
from patrol_app.services.errors import FieldError, ServiceError
from patrol_app.services.registry import MIN_OFFICERS, valid_officers
from patrol_app.services.users import actor_scope, require, require_county
from patrol_app.services.users import same_person as _same_person
from patrol_app.storage.models import Case, CaseOfficer, Incident, IncidentEvent, Personnel, User

INVESTIGATING = "investigating"
REVIEWED = "reviewed"
RETURNED = "returned"
DECIDED = "decided"
CLOSED = "closed"
STATUSES = (INVESTIGATING, RETURNED, REVIEWED, DECIDED, CLOSED)

REVIEW_OUTCOMES = ("approved", "returned")
#: 《行政处罚法》第五十七条: the four decisions after an investigation
DECISION_OUTCOMES = ("penalty", "no_penalty_minor", "not_established", "transfer")

#: 《行政处罚法》第五十八条第一款: the four situations that require legal review before the decision
MAJOR_GROUNDS = ("public_interest", "hearing", "complex", "statutory")

_TAGGED = re.compile(r"^\[([a-z_]+)\] ?(.*)$", re.DOTALL)
_TEXT_MAX = 4000


class OfficersRefused(ServiceError):
    """The two-officer rule refused the investigators; ``problems`` says why for each person."""

    def __init__(self, key: str, problems: list[FieldError], **params: Any) -> None:
        super().__init__(key, **params)
        self.problems = problems


def split_tagged(text: str) -> tuple[str, str]:
    """``"[penalty] 罚款二千元"`` → ``("penalty", "罚款二千元")``; untagged text → ``("", text)``."""
    m = _TAGGED.match(text or "")
    return (m.group(1), m.group(2)) if m else ("", text or "")


# --- views ----------------------------------------------------------------------------------------------


@dataclass
class OfficerView:
    personnel_id: int
    name: str
    cert_no: str


@dataclass
class CaseView:
    id: int
    incident_id: int
    major: bool
    status: str
    opened_by: str
    opened_at: dt.datetime
    officers: list[OfficerView]
    reviewer: str | None
    review_outcome: str
    review_text: str
    reviewed_at: dt.datetime | None
    decider: str | None
    decision_outcome: str
    decision_text: str
    decided_at: dt.datetime | None
    incident: dict[str, Any] = field(default_factory=dict)
    major_grounds: list[str] = field(default_factory=list)
    collective_at: dt.date | None = None
    collective_participants: str = ""
    collective_conclusion: str = ""


def _incident_summary(inc: Incident | None, actor: User) -> dict[str, Any]:
    if inc is None:
        return {}
    out = {
        "id": inc.id,
        "found_at": inc.found_at,
        "type": inc.type_code,
        "road_code": inc.road_code,
        "stake": inc.stake,
        "side": inc.side,
        "town": inc.town,
        "status": inc.status,
        "measure": inc.measure,
    }
    # parties' personal data in clear only for roles that need it (masked for the others)
    out.update(party_fields(actor, inc.party, inc.party_phone, inc.description))
    return out


def _names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {
        u.id: u.display_name or u.username
        for u in session.execute(select(User).where(User.id.in_(wanted))).scalars()
    }


def _views(session: Session, actor: User, cases: list[Case]) -> list[CaseView]:
    if not cases:
        return []
    ids = [c.id for c in cases]
    officers: dict[int, list[OfficerView]] = {}
    rows = session.execute(
        select(CaseOfficer.case_id, CaseOfficer.personnel_id, CaseOfficer.cert_no, Personnel.name)
        .join(Personnel, Personnel.id == CaseOfficer.personnel_id)
        .where(CaseOfficer.case_id.in_(ids))
        .order_by(CaseOfficer.case_id, Personnel.name)
    )
    for case_id, pid, cert, name in rows:
        officers.setdefault(case_id, []).append(OfficerView(pid, name, cert))
    names = _names(session, [x for c in cases for x in (c.opened_by, c.reviewer_id, c.decider_id)])
    incidents = {
        i.id: i
        for i in session.execute(
            select(Incident).where(Incident.id.in_({c.incident_id for c in cases}))
        ).scalars()
    }
    out = []
    for c in cases:
        r_out, r_text = split_tagged(c.review_result)
        d_out, d_text = split_tagged(c.decision)
        out.append(
            CaseView(
                id=c.id,
                incident_id=c.incident_id,
                major=c.major,
                status=c.status,
                opened_by=names.get(c.opened_by, ""),
                opened_at=c.opened_at,
                officers=officers.get(c.id, []),
                reviewer=names.get(c.reviewer_id) if c.reviewer_id else None,
                review_outcome=r_out,
                review_text=r_text,
                reviewed_at=c.reviewed_at,
                decider=names.get(c.decider_id) if c.decider_id else None,
                decision_outcome=d_out,
                decision_text=d_text,
                decided_at=c.decided_at,
                incident=_incident_summary(incidents.get(c.incident_id), actor),
                major_grounds=[g for g in (c.major_grounds or "").split(",") if g],
                collective_at=c.collective_at,
                collective_participants=c.collective_participants or "",
                collective_conclusion=c.collective_conclusion or "",
            )
        )
    return out


def list_cases(session: Session, actor: User, status: str | None = None, limit: int = 500) -> list[CaseView]:
    """Cases, newest first; ``status`` one of :data:`STATUSES` or None for all."""
    require(actor, Perm.FOLLOW_CASES)
    q = (
        select(Case)
        .join(Incident, Incident.id == Case.incident_id)
        .where(Incident.adcode.startswith(prefix(actor_scope(actor))))  # the actor's county (or counties)
        .order_by(Case.id.desc())
        .limit(limit)
    )
    if status:
        q = q.where(Case.status == status)
    return _views(session, actor, list(session.execute(q).scalars()))


def get_case(session: Session, actor: User, case_id: int) -> CaseView:
    require(actor, Perm.FOLLOW_CASES)
    return _views(session, actor, [_get(session, case_id, actor)])[0]


def _get(session: Session, case_id: int, actor: User) -> Case:
    c = session.get(Case, case_id)
    if c is None:
        raise ServiceError("case.unknown", id=case_id)
    inc = session.get(Incident, c.incident_id)
    require_county(actor, inc.adcode if inc is not None else None)  # another county's case: refused
    return c


def _case_dict(session: Session, c: Case) -> dict[str, Any]:
    officers = session.execute(
        select(CaseOfficer.personnel_id, CaseOfficer.cert_no)
        .where(CaseOfficer.case_id == c.id)
        .order_by(CaseOfficer.personnel_id)
    ).all()
    return {
        "id": c.id,
        "incident_id": c.incident_id,
        "major": c.major,
        "status": c.status,
        "opened_by": c.opened_by,
        "opened_at": c.opened_at.isoformat(timespec="seconds"),
        "officers": [{"personnel_id": pid, "cert_no": cert} for pid, cert in officers],
        "reviewer_id": c.reviewer_id,
        "review_result": c.review_result,
        "reviewed_at": c.reviewed_at.isoformat(timespec="seconds") if c.reviewed_at else None,
        "decider_id": c.decider_id,
        "decision": c.decision,
        "decided_at": c.decided_at.isoformat(timespec="seconds") if c.decided_at else None,
        "major_grounds": c.major_grounds or "",
        "collective_at": c.collective_at.isoformat() if c.collective_at else None,
        "collective_participants": c.collective_participants or "",
        "collective_conclusion": c.collective_conclusion or "",
    }


# --- who may act ----------------------------------------------------------------------------------------


def _is_investigator(session: Session, actor: User, case: Case) -> bool:
    if actor.personnel_id is None:
        return False
    return (
        session.execute(
            select(CaseOfficer.personnel_id).where(
                CaseOfficer.case_id == case.id, CaseOfficer.personnel_id == actor.personnel_id
            )
        ).first()
        is not None
    )


def _text(value: str, key: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ServiceError(key)
    if len(text) > _TEXT_MAX:
        raise ServiceError("case.text_too_long", n=_TEXT_MAX)
    return text


def _state(case: Case, allowed_states: tuple[str, ...], key: str) -> None:
    if case.status not in allowed_states:
        raise ServiceError(key, id=case.id)


def review_blockers(session: Session, actor: User, case: Case) -> list[str]:
    """Catalog keys of the separation rules that keep ``actor`` from reviewing ``case`` (the permission itself
    is checked by :func:`review_case`); for the page to explain before anyone tries."""
    require(actor, Perm.FOLLOW_CASES)
    out = []
    if _is_investigator(session, actor, case):
        out.append("case.investigator_cannot_review")
    if _same_person(session, actor, case.opened_by):
        out.append("case.opener_cannot_review")
    return out


def decide_blockers(session: Session, actor: User, case: Case) -> list[str]:
    """Catalog keys of the rules that keep ``actor`` from deciding ``case`` (permission aside), for the page."""
    require(actor, Perm.FOLLOW_CASES)
    out = []
    if _is_investigator(session, actor, case):
        out.append("case.investigator_cannot_decide")
    if _same_person(session, actor, case.opened_by):
        out.append("case.opener_cannot_decide")
    if _same_person(session, actor, case.reviewer_id):
        out.append("case.reviewer_cannot_decide")
    if case.status == RETURNED:
        out.append("case.review_returned")
    elif case.major and case.status != REVIEWED:
        out.append("case.review_required")
    return out


def record_collective_discussion(
    session: Session,
    actor: User,
    case_id: int,
    on: dt.date,
    participants: str,
    conclusion: str,
) -> Case:
    """集体讨论 (《行政处罚法》第五十七条第二款): the date, who took part and the conclusion, recorded before a major
    case is given a penalty. Recorded by the bureau's responsible persons (the decide permission); kept as typed."""
    require(actor, Perm.DECIDE_CASE)
    case = _get(session, case_id, actor)
    _state(case, (INVESTIGATING, RETURNED, REVIEWED), "case.not_open_for_decision")
    errors = []
    if on is None or on > local_today():
        errors.append("case.collective_bad_date")
    people = [p for p in re.split(r"[、,，;；\s]+", participants or "") if p]
    if len(people) < 2:
        errors.append("case.collective_participants_required")
    if not (conclusion or "").strip():
        errors.append("case.collective_conclusion_required")
    if errors:
        raise ServiceError(errors[0], id=case.id)
    if len(conclusion) > _TEXT_MAX or len(participants) > _TEXT_MAX:
        raise ServiceError("case.text_too_long", n=_TEXT_MAX)
    before = _case_dict(session, case)
    case.collective_at = on
    case.collective_participants = participants.strip()
    case.collective_conclusion = conclusion.strip()
    session.flush()
    audit.record(
        session, actor, "case.collective", "case", case.id, before=before, after=_case_dict(session, case)
    )
    return case


# --- the steps ------------------------------------------------------------------------------------------


def open_case(
    session: Session,
    actor: User,
    incident_id: int,
    officer_ids: Iterable[int],
    major: bool = False,
    on_date: dt.date | None = None,
    major_grounds: Iterable[str] = (),
) -> Case:
    """立案: open a case on an incident with its investigating officers.

    Every officer must hold an enforcement certificate valid on ``on_date`` (default: today, local time), and
    there must be at least two of them (协勤 cannot be investigators). Their certificate numbers are recorded.
    The incident's measure becomes ``case``. One open case per incident.
    """
    require(actor, Perm.OPEN_CASE)
    grounds = [g for g in MAJOR_GROUNDS if g in set(major_grounds)]
    unknown = set(major_grounds) - set(MAJOR_GROUNDS)
    if unknown:
        raise ServiceError("case.bad_major_ground", value="、".join(sorted(unknown)))
    if major and not grounds:
        raise ServiceError("case.major_grounds_required")
    if grounds and not major:
        major = True
    inc = session.get(Incident, incident_id)
    if inc is None:
        raise ServiceError("case.unknown_incident", id=incident_id)
    require_county(actor, inc.adcode)  # another county's record: refused
    running = (
        session.execute(select(Case.id).where(Case.incident_id == inc.id, Case.status != CLOSED))
        .scalars()
        .first()
    )
    if running is not None:
        raise ServiceError("case.already_open", incident=inc.id, id=running)
    day = on_date or local_today()
    ok_ids, problems = valid_officers(session, actor, officer_ids, day)
    if len(ok_ids) < MIN_OFFICERS:
        raise OfficersRefused(
            "case.two_officers", problems, count=len(ok_ids), n=MIN_OFFICERS, names=_problem_names(problems)
        )
    if problems:
        raise OfficersRefused("case.officers_not_certified", problems, names=_problem_names(problems))
    now = _utcnow()
    case = Case(
        incident_id=inc.id,
        major=bool(major),
        status=INVESTIGATING,
        opened_by=actor.id,
        opened_at=now,
        review_result="",
        decision="",
        major_grounds=",".join(grounds),
    )
    session.add(case)
    session.flush()
    certs = dict(
        session.execute(select(Personnel.id, Personnel.cert_no).where(Personnel.id.in_(ok_ids))).all()
    )
    session.add_all(CaseOfficer(case_id=case.id, personnel_id=pid, cert_no=certs[pid]) for pid in ok_ids)
    incident_before = {"measure": inc.measure, "status": inc.status}
    inc.measure = "case"
    inc.updated_at = now
    session.flush()
    audit.record(
        session,
        actor,
        "case.open",
        "case",
        case.id,
        after={
            **_case_dict(session, case),
            "certificates_checked_on": day.isoformat(),
            "incident_before": incident_before,
        },
    )
    audit.record_rows(
        session, actor, "case.incident_update", "incident", [inc.id]
    )  # its measure changed with the case
    return case


def _problem_names(problems: list[FieldError]) -> str:
    names = [str(p.params.get("name") or "#" + str(p.params.get("id"))) for p in problems]
    return "、".join(names) if names else "—"


def review_case(session: Session, actor: User, case_id: int, approve: bool, opinion: str) -> Case:
    """法制审核: the reviewer's opinion, passed (``approve``) or returned for more investigation.

    Refused for the case's investigators and for whoever opened it (三分离, the bureau's practice).
    """
    require(actor, Perm.REVIEW_CASE)
    case = _get(session, case_id, actor)
    _state(case, (INVESTIGATING, RETURNED, REVIEWED), "case.not_open_for_review")
    if _is_investigator(session, actor, case):
        raise ServiceError("case.investigator_cannot_review", id=case.id)
    if _same_person(session, actor, case.opened_by):
        raise ServiceError("case.opener_cannot_review", id=case.id)
    text = _text(opinion, "case.opinion_required")
    before = _case_dict(session, case)
    outcome = "approved" if approve else "returned"
    case.reviewer_id = actor.id
    case.review_result = f"[{outcome}] {text}"
    case.reviewed_at = _utcnow()
    case.status = REVIEWED if approve else RETURNED
    session.flush()
    audit.record(
        session,
        actor,
        "case.review",
        "case",
        case.id,
        before=before,
        after={**_case_dict(session, case), "outcome": outcome},
    )
    return case


def decide_case(session: Session, actor: User, case_id: int, outcome: str, text: str) -> Case:
    """决定 (《行政处罚法》第五十七条): ``outcome`` one of :data:`DECISION_OUTCOMES`, with the decision's text.

    Refused for investigators, the opener and the reviewer (三分离); for a major case before a passed legal
    review (第五十八条); for any case whose last review returned it.
    """
    require(actor, Perm.DECIDE_CASE)
    case = _get(session, case_id, actor)
    _state(case, (INVESTIGATING, RETURNED, REVIEWED), "case.not_open_for_decision")
    if outcome not in DECISION_OUTCOMES:
        raise ServiceError("case.bad_outcome", value=outcome)
    if _is_investigator(session, actor, case):
        raise ServiceError("case.investigator_cannot_decide", id=case.id)
    if _same_person(session, actor, case.opened_by):
        raise ServiceError("case.opener_cannot_decide", id=case.id)
    if _same_person(session, actor, case.reviewer_id):
        raise ServiceError("case.reviewer_cannot_decide", id=case.id)
    if case.status == RETURNED:
        raise ServiceError("case.review_returned", id=case.id)
    if case.major and case.status != REVIEWED:
        raise ServiceError("case.review_required", id=case.id)
    if case.major and outcome == "penalty" and case.collective_at is None:
        raise ServiceError("case.collective_required", id=case.id)
    body = _text(text, "case.decision_required")
    before = _case_dict(session, case)
    now = _utcnow()
    case.decider_id = actor.id
    case.decision = f"[{outcome}] {body}"
    case.decided_at = now
    case.status = DECIDED
    inc = session.get(Incident, case.incident_id)
    if inc is not None:
        inc.measure = "case"
        inc.updated_at = now
    session.flush()
    audit.record(
        session,
        actor,
        "case.decide",
        "case",
        case.id,
        before=before,
        after={**_case_dict(session, case), "outcome": outcome},
    )
    if inc is not None:
        audit.record_rows(session, actor, "case.incident_update", "incident", [inc.id])
    return case


def close_case(session: Session, actor: User, case_id: int, note: str = "") -> Case:
    """结案 after the decision has been carried out: the case and its incident are closed (办结)."""
    require(actor, Perm.DECIDE_CASE)
    case = _get(session, case_id, actor)
    _state(case, (DECIDED,), "case.not_decided")
    before = _case_dict(session, case)
    now = _utcnow()
    case.status = CLOSED
    inc = session.get(Incident, case.incident_id)
    incident_before = None
    if inc is not None:
        incident_before = {
            "status": inc.status,
            "measure": inc.measure,
            "closed_at": inc.closed_at.isoformat() if inc.closed_at else None,
        }
        if inc.status != Status.CLOSED.value:
            session.add(
                IncidentEvent(
                    incident_id=inc.id,
                    at=now,
                    actor_id=actor.id,
                    action="closed",
                    status_before=inc.status,
                    status_after=Status.CLOSED.value,
                    note=(f"结案（案件 {case.id}）" + (f"：{note.strip()}" if note.strip() else "")),
                )
            )
            inc.status = Status.CLOSED.value
            inc.closed_at = local_today()
        inc.measure = "case"
        inc.updated_at = now
    session.flush()
    audit.record(
        session,
        actor,
        "case.close",
        "case",
        case.id,
        before=before,
        after={**_case_dict(session, case), "note": note.strip(), "incident_before": incident_before},
    )
    if inc is not None:
        audit.record_rows(session, actor, "case.incident_update", "incident", [inc.id])
    return case
