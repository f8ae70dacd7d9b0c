"""The pages show the new legal texts and make documents (AppTest, real store). Browser checks are the lead's."""

from __future__ import annotations

from sqlalchemy import select

from patrol_app.storage.db import read_session
from patrol_app.storage.models import AuditEntry, DocumentNumber, Incident
from tests.app.test_field_pages import FOLLOWUP, INCIDENT, PATROL, personnel_ids
from tests.apptest_helpers import button, run_page


def test_patrol_with_one_officer_is_saved_and_flagged_then_its_record_is_made(store):
    at = run_page(PATROL)
    at.multiselect[0].set_value(["X001"])
    at.multiselect[1].set_value(personnel_ids("李明", "吴刚"))  # one officer and one 协勤
    at.multiselect[2].set_value([1])
    button(at, "开始巡查").click()
    at.run()
    assert not at.exception
    assert (
        "巡查已开始" in at.success[0].value and "少于两名" in at.success[0].value
    )  # accepted, flagged, explained
    assert any("执法人员少于两名" in w.value for w in at.warning)
    assert "第四十二条" not in " ".join(e.value for e in at.success)
    button(at, "生成巡查记录（Word）").click()
    at.run()
    assert not at.exception
    dl = at.get("download_button")
    assert dl and "巡查记录" in dl[0].proto.label
    with read_session() as s:
        assert s.execute(select(AuditEntry).where(AuditEntry.action == "document.issue")).scalars().first()


def test_incident_page_shows_violated_and_penalty_articles_and_the_side_rule(store):
    at = run_page(INCIDENT)
    captions = " ".join(c.value for c in at.caption)
    assert "违反条款：" in captions and "处罚依据：" in captions and "法律依据" not in captions
    assert "第七十七条" in captions  # the default type's penalty article, with its condition
    # the side rule is explained where the side is chosen (road + stake)
    at.button_group(key="inc_loc_method").set_value("stake")
    at.run()
    assert "面向桩号增加方向" in " ".join(c.value for c in at.caption)


def test_followup_makes_inspection_record_and_numbered_notice(store):
    with read_session() as s:
        inc = (
            s.execute(
                select(Incident)
                .where(Incident.status == "open", Incident.party != "", Incident.type_code == "building")
                .order_by(Incident.id)
            )
            .scalars()
            .first()
        )
    at = run_page(FOLLOWUP)
    at.selectbox(key="fu_pick").set_value(inc.id)
    at.run()
    assert "违反条款：" in " ".join(c.value for c in at.caption)
    button(at, "生成现场检查（勘验）笔录（Word）").click()
    at.run()
    assert not at.exception and "现场检查（勘验）笔录" in at.success[0].value
    button(at, "生成通知书并编号（Word）").click()
    at.run()
    assert not at.exception, at.exception
    assert "责令限期改正通知书" in at.success[-1].value and "责改〔" in at.success[-1].value
    with read_session() as s:
        (num,) = s.execute(select(DocumentNumber)).scalars().all()
    assert num.entity_id == inc.id
