"""The cases and administration pages through AppTest: what each role sees, refusals in the user's language,
and the administrator's audit check catching a record changed behind the app's back."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from patrol_app.domain.masking import mask_name, mask_phone
from patrol_app.services import cases
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import Case, Incident, Personnel, User
from patrol_app.ui.common import md_escape
from tests.apptest_helpers import button, run_page
from tests.tamper import tamper

CASES = "patrol_app/ui/pages/cases.py"
ADMIN = "patrol_app/ui/pages/admin.py"


def pid(name: str) -> int:
    with read_session() as s:
        return s.execute(select(Personnel.id).where(Personnel.name == name)).scalar_one()


def an_open_incident() -> int:
    with read_session() as s:
        return (
            s.execute(select(Incident.id).where(Incident.status == "open").order_by(Incident.id))
            .scalars()
            .first()
        )


def make_case(major: bool = False) -> int:
    incident, officers = an_open_incident(), [pid("李明"), pid("王芳")]  # read first: a write session locks
    with session_scope() as s:
        officer = s.execute(select(User).where(User.username == "officer")).scalar_one()
        return cases.open_case(
            s, officer, incident, officers, major=major, major_grounds=("public_interest",) if major else ()
        ).id


# --- cases ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("username", ["officer", "leader", "reviewer", "manager", "admin"])
def test_cases_page_renders_for_every_role_that_follows_cases(store, username, lang):
    make_case()
    at = run_page(CASES, as_user=username, lang=lang)
    assert at.title[0].value == ("案件办理" if lang == "zh" else "Enforcement cases")
    assert len(at.dataframe[0].value) == 1
    labels = {b.label for b in at.button}
    can_open = username in ("officer", "leader")
    assert (("立案" if lang == "zh" else "Open the case") in labels) == can_open


def test_officer_opens_a_case_and_a_refusal_is_shown_in_chinese_then_english(store):
    inc = an_open_incident()
    at = run_page(CASES, as_user="officer")
    at.number_input(key="case_incident").set_value(inc)
    at.multiselect(key="case_officers").set_value([pid("李明"), pid("吴刚")])
    button(at, "立案").click()
    at.run()
    assert not at.exception
    assert "第四十二条" in at.error[0].value and "吴刚" in at.error[0].value
    assert "吴刚 是协勤，不计入执法人员" in " ".join(m.value for m in at.markdown)

    at = run_page(CASES, as_user="officer", lang="en")
    at.number_input(key="case_incident").set_value(inc)
    at.multiselect(key="case_officers").set_value([pid("李明"), pid("吴刚")])
    button(at, "Open the case").click()
    at.run()
    assert "art. 42" in at.error[0].value

    at.multiselect(key="case_officers").set_value([pid("李明"), pid("王芳")])
    at.checkbox(key="case_major").check()
    at.run()
    at.multiselect(key="case_grounds").set_value(["complex"])  # which situation of art. 58
    button(at, "Open the case").click()
    at.run()
    assert not at.exception
    assert at.success[0].value.startswith("Case ") and at.success[0].value.endswith(" opened")
    with read_session() as s:
        case = s.execute(select(Case)).scalar_one()
        assert case.major and case.incident_id == inc


def test_a_refusal_stays_on_screen_until_the_form_changes(store):
    """A rerun that changes nothing in the form (another widget, a reconnect) keeps the refusal and its reason;
    changing the officers clears it."""
    inc = an_open_incident()
    at = run_page(CASES, as_user="officer")
    at.number_input(key="case_incident").set_value(inc)
    at.multiselect(key="case_officers").set_value([pid("李明"), pid("吴刚")])
    button(at, "立案").click()
    at.run()
    assert "第四十二条" in at.error[0].value
    at.run()  # the button is not pressed on this run
    assert at.error and "第四十二条" in at.error[0].value
    at.multiselect(key="case_officers").set_value([pid("李明")])
    at.run()
    assert not at.error


def test_incident_link_prefills_the_form(store):
    inc = an_open_incident()
    at = run_page(CASES, "leader", query={"incident": str(inc)})
    assert at.number_input(key="case_incident").value == inc


def test_major_case_review_then_decision_then_close_through_the_page(store):
    case_id = make_case(major=True)
    # the manager may not decide before the legal review: the page says why, citing article 58
    at = run_page(CASES, as_user="manager")
    assert "第五十八条" in at.warning[0].value
    assert "作出决定" not in {b.label for b in at.button}

    at = run_page(CASES, as_user="reviewer")
    at.text_area(key=f"case_opinion_{case_id}").input("事实清楚，证据充分，同意")
    button(at, "审核通过").click()
    at.run()
    assert not at.exception and "法制审核意见" in at.success[0].value

    at = run_page(CASES, as_user="manager")
    assert "第五十七条第二款" in " ".join(c.value for c in at.caption)
    at.text_area(key=f"case_decision_{case_id}").input("罚款二千元")
    button(at, "作出决定").click()
    at.run()  # a penalty in a major case: the collective discussion must be recorded first
    assert not at.exception and "集体讨论" in at.error[0].value
    at.text_input(key=f"case_coll_people_{case_id}").input("张局长、李副局长")
    at.text_area(key=f"case_coll_text_{case_id}").input("同意给予罚款")
    button(at, "记录集体讨论").click()
    at.run()
    assert not at.exception and "集体讨论" in at.success[0].value
    at.text_area(key=f"case_decision_{case_id}").input("罚款二千元")
    button(at, "作出决定").click()
    at.run()
    assert not at.exception and "决定" in at.success[0].value
    at.text_area(key=f"case_close_note_{case_id}").input("已缴纳")
    button(at, "结案").click()
    at.run()
    assert not at.exception and "已结案" in at.success[0].value
    with read_session() as s:
        case = s.get(Case, case_id)
        assert case.status == "closed" and s.get(Incident, case.incident_id).status == "closed"


def test_an_investigator_with_a_reviewer_account_is_told_why_they_cannot_review(store):
    case_id = make_case()
    limin = pid("李明")
    with session_scope() as s:
        from patrol_app.services import auth

        admin = s.execute(select(User).where(User.username == "admin")).scalar_one()
        auth.add_user(
            s, admin, "limin_review", "reviewer", "long-enough-pw", "李明（审核）", personnel_id=limin
        )
    at = run_page(CASES, as_user="limin_review")
    warning = at.warning[0].value
    assert "调查人员" in warning and "三分离" in warning
    assert "审核通过" not in {b.label for b in at.button}
    assert f"case_opinion_{case_id}" not in {t.key for t in at.text_area}


def test_manager_sees_party_details_masked(store):
    case_id = make_case()
    with read_session() as s:
        inc = s.get(Incident, s.get(Case, case_id).incident_id)
        party, phone = inc.party, inc.party_phone
    assert party and phone
    at = run_page(CASES, as_user="manager")
    shown = " ".join(m.value for m in at.markdown)
    assert party not in shown and phone not in shown
    # the masks are escaped so that their asterisks show as asterisks, not as bold text
    assert md_escape(mask_name(party)) in shown and md_escape(mask_phone(phone)) in shown
    at = run_page(CASES, as_user="reviewer")
    shown = " ".join(m.value for m in at.markdown)
    assert party in shown and phone in shown


# --- administration ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_admin_page_renders(store, lang):
    at = run_page(ADMIN, as_user="admin", lang=lang)
    assert at.title[0].value == ("系统管理" if lang == "zh" else "Administration")
    assert len(at.tabs) == 4
    users = at.dataframe[0].value
    assert {"officer", "manager", "admin"} <= set(users.iloc[:, 0])


def test_only_the_administrator_has_the_admin_page(store):
    from patrol_app.domain.rules import allowed
    from patrol_app.ui.nav import PAGES

    admin_page = next(p for p in PAGES if p.url_path == "admin")
    cases_page = next(p for p in PAGES if p.url_path == "cases")
    assert [
        r for r in ("officer", "squad_leader", "reviewer", "manager", "admin") if allowed(r, admin_page.perm)
    ] == ["admin"]
    # everyone follows cases; the administrator only reads the list (no enforcement permission)
    assert [
        r for r in ("officer", "squad_leader", "reviewer", "manager", "admin") if allowed(r, cases_page.perm)
    ] == ["officer", "squad_leader", "reviewer", "manager", "admin"]


def test_certificates_expired_or_expiring_are_highlighted(store):
    today = cases.local_today()
    with session_scope() as s:
        s.execute(select(Personnel).where(Personnel.name == "王芳")).scalar_one().cert_expiry = (
            today - dt.timedelta(days=1)
        )
        s.execute(select(Personnel).where(Personnel.name == "赵磊")).scalar_one().cert_expiry = (
            today + dt.timedelta(days=10)
        )
    at = run_page(ADMIN, as_user="admin")
    assert "1 人执法证已过期，1 人 30 天内到期" in " ".join(c.value for c in at.caption)
    styled = at.dataframe[1].value  # AppTest gives the underlying frame
    states = dict(zip(styled.iloc[:, 0], styled.iloc[:, 4]))
    assert states["王芳"] == "已过期" and states["赵磊"] == "30 天内到期" and states["李明"] == "有效"


def test_admin_adds_an_account_and_a_person_and_refusals_are_explained(store):
    at = run_page(ADMIN, as_user="admin")
    at.text_input(key="au_username").input("zhou")
    at.text_input(key="au_display").input("周强")
    at.selectbox(key="au_role").set_value("reviewer")
    at.text_input(key="au_pw").input("long-enough-pw")
    at.text_input(key="au_pw2").input("long-enough-pw")
    button(at, "创建账号").click()
    at.run()
    assert not at.exception and at.success[0].value == "已创建账号 zhou"

    at.text_input(key="rp_name").input("钱进")
    at.text_input(key="rp_cert").input("53030201002")  # 李明's number
    at.date_input(key="rp_expiry").set_value(dt.date(2030, 1, 1))
    button(at, "新增").click()
    at.run()
    assert "已登记给 李明" in at.error[0].value


def test_admin_resets_a_locked_password(store):
    from patrol_app.services import auth
    from patrol_app.services.errors import ServiceError

    for _ in range(5):
        with pytest.raises(ServiceError), session_scope() as s:
            auth.sign_in(s, "officer", "wrong-password")
    at = run_page(ADMIN, as_user="admin")
    assert "是" in set(at.dataframe[0].value.iloc[:, 5])  # locked
    at.selectbox(key="au_pick").set_value("officer")
    at.run()
    at.text_input(key="au_npw").input("a-new-password")
    at.text_input(key="au_npw2").input("a-new-password")
    button(at, "重置密码").click()
    at.run()
    assert at.success[0].value == "officer 的密码已重置，锁定已解除"
    with session_scope() as s:
        assert auth.sign_in(s, "officer", "a-new-password").username == "officer"


def test_audit_check_on_the_admin_page_names_the_changed_entry(store):
    at = run_page(ADMIN, as_user="admin")
    button(at, "开始核查").click()
    at.run()
    assert at.success[0].value.startswith("审计链完整")
    db = tamper(store.db_path)
    db.execute("update audit_log set actor = 'nobody' where id = 2")
    db.commit()
    db.close()
    button(at, "开始核查").click()
    at.run()
    assert at.error[0].value == "审计链在第 2 条记录处断开：该条记录在系统之外被修改"
    assert "nobody" in " ".join(c.value for c in at.caption)


def test_audit_check_names_altered_and_missing_photos(store):
    import hashlib

    from patrol_app.storage.models import Photo

    original = b"\xff\xd8 evidence photo bytes"
    sha = hashlib.sha256(original).hexdigest()
    kept = store.data_dir / "photos" / "originals" / sha[:2] / f"{sha}.jpg"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(original + b" and then edited")  # altered behind the app's back
    now = dt.datetime(2026, 1, 1)
    with session_scope() as s:
        admin = s.execute(select(User).where(User.username == "admin")).scalar_one()
        inc = s.execute(select(Incident.id).order_by(Incident.id)).scalars().first()
        for path in (kept, kept.with_name("gone.jpg")):
            s.add(
                Photo(
                    incident_id=inc,
                    sha256=sha,
                    path=str(path.relative_to(store.data_dir)),
                    display_path="",
                    filename=path.name,
                    content_type="image/jpeg",
                    size=len(original),
                    created_by=admin.id,
                    created_at=now,
                )
            )
        from patrol_app.services import audit

        audit.record_rows(
            s, admin, "incident.follow_up", "incident", [inc]
        )  # the rows as the app records them
    at = run_page(ADMIN, as_user="admin")
    button(at, "开始核查").click()
    at.run()
    assert at.success[0].value.startswith("审计链完整")
    assert at.error[0].value == "2 张证据照片有问题："
    rows = " ".join(m.value for m in at.markdown)
    assert "文件被修改" in rows and "文件缺失" in rows and "gone.jpg" in rows
