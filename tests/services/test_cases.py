"""Enforcement cases: the two-officer rule, separate investigation / review / decision, legal review before a
major decision, every step audited — against a copy of the demo store."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from patrol_app.domain.masking import mask_name, mask_phone
from patrol_app.i18n import error_text, t
from patrol_app.services import audit, auth, cases, registry
from patrol_app.services.errors import PermissionDenied, ServiceError
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import AuditEntry, Case, CaseOfficer, Incident, IncidentEvent, Personnel, User


def user(s, username: str) -> User:
    return s.execute(select(User).where(User.username == username)).scalar_one()


def person(s, name: str) -> Personnel:
    return s.execute(select(Personnel).where(Personnel.name == name)).scalar_one()


def open_incident(s) -> Incident:
    return (
        s.execute(select(Incident).where(Incident.status == "open").order_by(Incident.id)).scalars().first()
    )


def account(s, username: str, role: str, personnel_name: str | None = None) -> User:
    """A further account (made by the demo administrator), optionally linked to a person of the registry."""
    pid = person(s, personnel_name).id if personnel_name else None
    return auth.add_user(s, user(s, "admin"), username, role, "long-enough-pw", username, personnel_id=pid)


def audit_actions(s, entity_id) -> list[str]:
    return list(
        s.execute(
            select(AuditEntry.action)
            .where(AuditEntry.entity == "case", AuditEntry.entity_id == str(entity_id))
            .order_by(AuditEntry.id)
        ).scalars()
    )


def new_case(s, opener: str = "officer", officers=("李明", "王芳"), major: bool = False) -> Case:
    inc = open_incident(s)
    return cases.open_case(
        s,
        user(s, opener),
        inc.id,
        [person(s, n).id for n in officers],
        major=major,
        major_grounds=("complex",) if major else (),
    )


# --- the two-officer rule ------------------------------------------------------------------------------


def test_one_officer_and_one_auxiliary_is_refused_citing_article_42(store):
    with session_scope() as s:
        inc = open_incident(s)
        n_audit = s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        with pytest.raises(cases.OfficersRefused) as e:
            cases.open_case(s, user(s, "officer"), inc.id, [person(s, "李明").id, person(s, "吴刚").id])
        assert e.value.key == "case.two_officers"
        assert [p.key for p in e.value.problems] == ["registry.officer_auxiliary"]
        msg = error_text(e.value, "zh")
        assert "第四十二条" in msg and "协勤不计入" in msg and "吴刚" in msg
        assert "art. 42" in error_text(e.value, "en")
        assert e.value.problems[0].render("zh") == "吴刚 是协勤，不计入执法人员"
        s.rollback()
        assert s.execute(select(func.count()).select_from(Case)).scalar_one() == 0
        assert s.execute(select(func.count()).select_from(AuditEntry)).scalar_one() == n_audit


def test_an_expired_certificate_is_refused(store):
    yesterday = cases.local_today() - dt.timedelta(days=1)
    with session_scope() as s:
        registry.update_personnel(s, user(s, "admin"), person(s, "王芳").id, cert_expiry=yesterday)
    with session_scope() as s:
        with pytest.raises(cases.OfficersRefused) as e:
            new_case(s)
        assert e.value.key == "case.two_officers" and e.value.params["count"] == 1
        assert e.value.problems[0].key == "registry.officer_cert_expired"
        assert f"已于 {yesterday.isoformat()} 过期" in e.value.problems[0].render("zh")


def test_a_third_uncertified_investigator_is_refused_too(store):
    """Investigators are recorded with their certificate numbers: 协勤 cannot be listed as one."""
    with session_scope() as s:
        with pytest.raises(cases.OfficersRefused) as e:
            new_case(s, officers=("李明", "王芳", "孙丽"))
        assert e.value.key == "case.officers_not_certified" and "孙丽" in error_text(e.value)


def test_a_certificate_expiring_today_still_counts_today(store):
    today = cases.local_today()
    with session_scope() as s:
        registry.update_personnel(s, user(s, "admin"), person(s, "王芳").id, cert_expiry=today)
    with session_scope() as s:
        assert new_case(s).id


def test_two_valid_officers_open_the_case_with_their_certificate_numbers(store):
    with session_scope() as s:
        case = new_case(s)
        case_id, incident_id = case.id, case.incident_id
    with session_scope() as s:
        rows = s.execute(
            select(CaseOfficer.personnel_id, CaseOfficer.cert_no).where(CaseOfficer.case_id == case_id)
        ).all()
        assert sorted(cert for _, cert in rows) == ["53030201002", "53030201003"]
        inc = s.get(Incident, incident_id)
        assert inc.measure == "case" and inc.status == "open"
        assert audit_actions(s, case_id) == ["case.open"]
        # a renewed certificate later does not rewrite the number shown on the day
        registry.update_personnel(s, user(s, "admin"), person(s, "李明").id, cert_no="53030209999")
    with read_session() as s:
        certs = set(s.execute(select(CaseOfficer.cert_no).where(CaseOfficer.case_id == case_id)).scalars())
        assert "53030201002" in certs and "53030209999" not in certs


def test_one_running_case_per_incident(store):
    with session_scope() as s:
        case = new_case(s)
        with pytest.raises(ServiceError) as e:
            cases.open_case(
                s, user(s, "leader"), case.incident_id, [person(s, "赵磊").id, person(s, "陈静").id]
            )
        assert e.value.key == "case.already_open"


# --- separation of investigation, review and decision -----------------------------------------------


def test_an_investigator_cannot_review_or_decide_their_own_case(store):
    with session_scope() as s:
        case = new_case(s)  # 李明 and 王芳 investigate
        reviewer_limin = account(s, "limin_review", "reviewer", "李明")
        manager_wangfang = account(s, "wangfang_lead", "manager", "王芳")
        with pytest.raises(ServiceError) as e:
            cases.review_case(s, reviewer_limin, case.id, True, "同意")
        assert e.value.key == "case.investigator_cannot_review"
        assert "三分离" in error_text(e.value) and "非法律条文" in error_text(e.value)
        with pytest.raises(ServiceError) as e:
            cases.decide_case(s, manager_wangfang, case.id, "penalty", "罚款二千元")
        assert e.value.key == "case.investigator_cannot_decide"
        # 李明's own account opened the case too: the same person, whichever account
        assert cases.review_blockers(s, reviewer_limin, case) == [
            "case.investigator_cannot_review",
            "case.opener_cannot_review",
        ]


def test_an_officer_cannot_decide_their_own_case_at_all(store):
    with session_scope() as s:
        case = new_case(s)
        with pytest.raises(PermissionDenied):
            cases.decide_case(s, user(s, "officer"), case.id, "penalty", "罚款")
        with pytest.raises(PermissionDenied):
            cases.review_case(s, user(s, "officer"), case.id, True, "同意")


def test_whoever_opened_the_case_cannot_review_or_decide_it(store):
    with session_scope() as s:
        case = new_case(s, opener="leader", officers=("赵磊", "陈静"))  # 张建华 opens, does not investigate
        zhang_review = account(s, "zhang_review", "reviewer", "张建华")
        zhang_manage = account(s, "zhang_manage", "manager", "张建华")
        with pytest.raises(ServiceError) as e:
            cases.review_case(s, zhang_review, case.id, True, "同意")
        assert e.value.key == "case.opener_cannot_review"
        with pytest.raises(ServiceError) as e:
            cases.decide_case(s, zhang_manage, case.id, "penalty", "罚款")
        assert e.value.key == "case.opener_cannot_decide"


def test_the_reviewer_cannot_also_decide(store):
    with session_scope() as s:
        case = new_case(s, major=True)
        reviewer = user(s, "reviewer")
        cases.review_case(s, reviewer, case.id, True, "事实清楚，证据充分，同意")
        # the same person with a second account, and the same account after a change of role
        shen = account(s, "shen_review", "reviewer", "周强")
        cases.review_case(s, shen, case.id, True, "复核同意")  # now 周强 is the reviewer of record
        shen_manager = account(s, "shen_manage", "manager", "周强")
        with pytest.raises(ServiceError) as e:
            cases.decide_case(s, shen_manager, case.id, "penalty", "罚款")
        assert e.value.key == "case.reviewer_cannot_decide"
        shen.role = "manager"
        s.flush()
        with pytest.raises(ServiceError) as e:
            cases.decide_case(s, shen, case.id, "penalty", "罚款")
        assert e.value.key == "case.reviewer_cannot_decide"
        assert cases.decide_blockers(s, shen, case) == ["case.reviewer_cannot_decide"]
        cases.record_collective_discussion(
            s, user(s, "manager"), case.id, cases.local_today(), "张局长、李副局长", "同意"
        )
        cases.decide_case(s, user(s, "manager"), case.id, "penalty", "罚款二千元")  # a third person decides


# --- legal review before a major decision -------------------------------------------------------------


def test_a_major_case_cannot_be_decided_before_its_legal_review(store):
    with session_scope() as s:
        case = new_case(s, major=True)
        with pytest.raises(ServiceError) as e:
            cases.decide_case(s, user(s, "manager"), case.id, "penalty", "罚款二千元")
        assert e.value.key == "case.review_required"
        assert "第五十八条" in error_text(e.value) and "art. 58" in error_text(e.value, "en")
        cases.review_case(s, user(s, "reviewer"), case.id, True, "同意")
        cases.record_collective_discussion(
            s, user(s, "manager"), case.id, cases.local_today(), "张局长、李副局长", "同意给予罚款"
        )
        decided = cases.decide_case(s, user(s, "manager"), case.id, "penalty", "罚款二千元")
        assert decided.status == "decided" and decided.decision == "[penalty] 罚款二千元"


def test_a_major_case_names_its_article_58_situation(store):
    with session_scope() as s:
        inc = open_incident(s)
        ids = [person(s, n).id for n in ("李明", "王芳")]
        with pytest.raises(ServiceError) as e:
            cases.open_case(s, user(s, "officer"), inc.id, ids, major=True)
        assert e.value.key == "case.major_grounds_required" and "第五十八条" in error_text(e.value)
        case = cases.open_case(
            s, user(s, "officer"), inc.id, ids, major=True, major_grounds=["hearing", "complex"]
        )
        assert case.major_grounds == "hearing,complex"
        assert "经过听证程序" in t("case.ground.hearing") and "第五十八条" in t("case.major")


def test_a_major_penalty_needs_the_collective_discussion_recorded_first(store):
    """《行政处罚法》第五十七条第二款: date, participants and conclusion of the collective discussion."""
    with session_scope() as s:
        case = new_case(s, major=True)
        cases.review_case(s, user(s, "reviewer"), case.id, True, "同意")
        with pytest.raises(ServiceError) as e:
            cases.decide_case(s, user(s, "manager"), case.id, "penalty", "罚款二千元")
        assert e.value.key == "case.collective_required" and "第五十七条第二款" in error_text(e.value)
        for people, text, key in [
            ("张局长", "同意", "case.collective_participants_required"),
            ("张局长、李副局长", " ", "case.collective_conclusion_required"),
        ]:
            with pytest.raises(ServiceError) as e:
                cases.record_collective_discussion(
                    s, user(s, "manager"), case.id, cases.local_today(), people, text
                )
            assert e.value.key == key
        with pytest.raises(PermissionDenied):
            cases.record_collective_discussion(
                s, user(s, "officer"), case.id, cases.local_today(), "甲、乙", "同意"
            )
        on = cases.local_today() - dt.timedelta(days=1)
        cases.record_collective_discussion(
            s, user(s, "manager"), case.id, on, "张局长、李副局长、王科长", "同意罚款"
        )
        assert cases.decide_case(s, user(s, "manager"), case.id, "penalty", "罚款二千元").status == "decided"
        v = cases.get_case(s, user(s, "manager"), case.id)
        assert (v.collective_at, v.collective_participants, v.collective_conclusion) == (
            on,
            "张局长、李副局长、王科长",
            "同意罚款",
        )
        assert "case.collective" in audit_actions(s, case.id)


def test_a_returned_review_blocks_the_decision_until_a_new_review_passes(store):
    with session_scope() as s:
        case = new_case(s)
        cases.review_case(s, user(s, "reviewer"), case.id, False, "证据不足，补充现场照片")
        assert case.status == "returned"
        with pytest.raises(ServiceError) as e:
            cases.decide_case(s, user(s, "manager"), case.id, "penalty", "罚款")
        assert e.value.key == "case.review_returned"
        cases.review_case(s, user(s, "reviewer"), case.id, True, "已补充，同意")
        assert cases.decide_case(s, user(s, "manager"), case.id, "penalty", "罚款").status == "decided"


def test_a_minor_case_may_be_decided_without_review(store):
    with session_scope() as s:
        case = new_case(s)
        cases.decide_case(s, user(s, "manager"), case.id, "no_penalty_minor", "当场改正，不予处罚")
        assert case.status == "decided" and case.reviewer_id is None


def test_texts_and_outcomes_are_required(store):
    with session_scope() as s:
        case = new_case(s)
        with pytest.raises(ServiceError) as e:
            cases.review_case(s, user(s, "reviewer"), case.id, True, "  ")
        assert e.value.key == "case.opinion_required"
        with pytest.raises(ServiceError) as e:
            cases.decide_case(s, user(s, "manager"), case.id, "fine", "罚款")
        assert e.value.key == "case.bad_outcome"
        with pytest.raises(ServiceError) as e:
            cases.close_case(s, user(s, "manager"), case.id)
        assert e.value.key == "case.not_decided"


# --- the whole record ------------------------------------------------------------------------------------


def test_every_step_is_audited_with_timestamps_and_the_chain_stays_intact(store):
    with session_scope() as s:
        case = new_case(s, major=True)
        case_id, incident_id = case.id, case.incident_id
    with session_scope() as s:
        cases.review_case(s, user(s, "reviewer"), case_id, True, "同意")
    with session_scope() as s:
        cases.record_collective_discussion(
            s, user(s, "manager"), case_id, cases.local_today(), "张局长、李副局长", "同意"
        )
    with session_scope() as s:
        cases.decide_case(s, user(s, "manager"), case_id, "penalty", "罚款二千元")
    with session_scope() as s:
        cases.close_case(s, user(s, "manager"), case_id, "罚款已缴纳")
    with read_session() as s:
        assert audit_actions(s, case_id) == [
            "case.open",
            "case.review",
            "case.collective",
            "case.decide",
            "case.close",
        ]
        view = cases.get_case(s, user(s, "manager"), case_id)
        assert view.opened_at <= view.reviewed_at <= view.decided_at
        assert (view.review_outcome, view.decision_outcome, view.status) == ("approved", "penalty", "closed")
        assert (
            [o.cert_no for o in view.officers] and view.reviewer == "法制审核员" and view.decider == "局领导"
        )
        inc = s.get(Incident, incident_id)
        # the manager sees parties' personal data masked; the reviewer in clear
        assert (view.incident["party"], view.incident["party_phone"]) == (
            mask_name(inc.party),
            mask_phone(inc.party_phone),
        )
        clear = cases.get_case(s, user(s, "reviewer"), case_id).incident
        assert (clear["party"], clear["party_phone"]) == (inc.party, inc.party_phone)
        assert (inc.status, inc.measure, inc.closed_at) == ("closed", "case", cases.local_today())
        ev = (
            s.execute(
                select(IncidentEvent)
                .where(IncidentEvent.incident_id == incident_id)
                .order_by(IncidentEvent.id.desc())
            )
            .scalars()
            .first()
        )
        assert ev.action == "closed" and ev.status_after == "closed"
        entry = s.execute(select(AuditEntry).where(AuditEntry.action == "case.decide")).scalar_one()
        assert entry.before["status"] == "reviewed" and entry.after["outcome"] == "penalty"
        res = audit.verify(s)
        assert res.ok, res


def test_list_cases_by_status(store):
    with session_scope() as s:
        a = new_case(s)
        cases.decide_case(s, user(s, "manager"), a.id, "not_established", "事实不成立")
    with read_session() as s:
        mgr = user(s, "manager")
        assert [c.id for c in cases.list_cases(s, mgr, "decided")] == [a.id]
        assert cases.list_cases(s, mgr, "investigating") == []
        assert len(cases.list_cases(s, mgr)) == 1


def test_catalog_texts_exist_for_every_status_and_outcome():
    for st in cases.STATUSES:
        assert t("case.status." + st, "zh") and t("case.status." + st, "en")
    for o in cases.DECISION_OUTCOMES:
        assert t("case.outcome." + o, "en")
    for o in cases.REVIEW_OUTCOMES:
        assert t("case.review_outcome." + o, "zh")
