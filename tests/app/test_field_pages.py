"""The field pages through AppTest, submitting into the real store: patrol, incident (map tap and GPS
injected through session state), duplicates, drafts, follow-up."""

import io

from PIL import Image
from sqlalchemy import func, select

from gis.linref import offset_point
from patrol_app.storage.db import read_session
from patrol_app.storage.models import Draft, Incident, IncidentEvent, Patrol, Personnel
from tests.apptest_helpers import button, run_page

PATROL = "patrol_app/ui/pages/patrol.py"
INCIDENT = "patrol_app/ui/pages/incident.py"
FOLLOWUP = "patrol_app/ui/pages/followup.py"


def count(model, *where):
    with read_session() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def personnel_ids(*names):
    with read_session() as s:
        return [s.execute(select(Personnel.id).where(Personnel.name == n)).scalar_one() for n in names]


def test_start_and_end_a_patrol_with_two_officers(store):
    at = run_page(PATROL)
    at.multiselect[0].set_value(["X001", "Y003"])
    at.multiselect[1].set_value(personnel_ids("李明", "王芳", "吴刚"))  # two officers and one 协勤
    at.multiselect[2].set_value([1])
    button(at, "开始巡查").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    with read_session() as s:
        p = s.execute(select(Patrol).where(Patrol.status == "open")).scalar_one()
        assert (p.personnel, p.vehicles, p.road_codes) == (3, 1, ["X001", "Y003"])
    assert "巡查进行中" in at.info[0].value
    at.radio[0].set_value("roads")
    at.run()
    button(at, "结束巡查").click()
    at.run()
    with read_session() as s:  # one tap only asks
        assert s.get(Patrol, p.id).status == "open"
    assert any("确定结束本次巡查吗" in w.value for w in at.warning)
    button(at, "确认结束巡查").click()
    at.run()
    assert not at.error, [e.value for e in at.error]
    with read_session() as s:
        p = s.get(Patrol, p.id)
        assert p.status == "closed" and p.km > 0


def test_one_officer_and_an_auxiliary_are_saved_and_flagged_with_the_reason(store):
    """A patrol is not a penalty: fewer than two officers is flagged (the bureau's practice), never refused."""
    at = run_page(PATROL)
    before = count(Patrol)
    at.multiselect[0].set_value(["X001"])
    at.multiselect[1].set_value(personnel_ids("李明", "吴刚"))
    at.multiselect[2].set_value([1])
    button(at, "开始巡查").click()
    at.run()
    assert not at.error
    assert "少于两名" in at.success[0].value and "吴刚 是协勤，不计入执法人员" in at.success[0].value
    assert count(Patrol) == before + 1 and count(Patrol, Patrol.flags == "few_officers") == 1


def jpeg_bytes():
    buf = io.BytesIO()
    Image.new("RGB", (2400, 1800), (120, 160, 90)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_log_incident_by_map_tap_with_preview_and_save(store):
    net = store.network()
    lon, lat = offset_point(net, "X002", 3250.0, 15.0, "right")
    at = run_page(INCIDENT, inc_loc=(lon, lat, "map", None))
    preview = at.success[0].value
    assert "X002" in preview and "K3+250 右侧" in preview and "在建筑控制区内" in preview
    at.selectbox(key="inc_type_0").set_value("building")
    at.text_area(key="inc_description_0").input("建筑控制区内新建砖房")
    at.text_input(key="inc_party_0").input("王某某")
    at.run()
    assert "第八十一条" in " ".join(c.value for c in at.caption)  # penalty article of the type
    before = count(Incident)
    button(at, "保存问题").click()
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert count(Incident) == before + 1
    with read_session() as s:
        inc = s.execute(select(Incident).order_by(Incident.id.desc()).limit(1)).scalar_one()
        assert (inc.road_code, inc.stake, inc.side, inc.location_method) == ("X002", "K3+250", "right", "map")
        assert inc.party == "王某某" and inc.in_control_zone is True and inc.source == "app"
        assert s.execute(select(func.count()).select_from(Draft)).scalar_one() == 0  # the draft is gone
    assert "已保存" in at.success[0].value


def test_gps_fix_with_poor_accuracy_warns(store):
    net = store.network()
    lon, lat = offset_point(net, "Y003", 1000.0, 4.0, "left")
    at = run_page(INCIDENT, inc_loc=(lon, lat, "gps", 45.0))
    assert any("精度较差" in w.value for w in at.warning)
    assert "Y003" in at.success[0].value


def test_draft_survives_a_new_session(store):
    net = store.network()
    lon, lat = offset_point(net, "X003", 500.0, 6.0, "left")
    at = run_page(INCIDENT, inc_loc=(lon, lat, "map", None))
    at.text_area(key="inc_description_0").input("路肩堆放砂石，约10立方米")
    at.run()
    assert count(Draft) == 1
    again = run_page(INCIDENT)  # a reload: a new session of the same user
    assert again.text_area(key="inc_description_0").value == "路肩堆放砂石，约10立方米"
    assert "已恢复" in again.info[0].value
    assert "X003" in again.success[0].value


def test_duplicate_within_50m_offers_follow_up(store):
    net = store.network()
    lon, lat = offset_point(net, "X004", 2000.0, 5.0, "right")
    at = run_page(INCIDENT, inc_loc=(lon, lat, "map", None))
    at.selectbox(key="inc_type_0").set_value("materials")
    at.run()
    button(at, "保存问题").click()
    at.run()
    first = count(Incident)
    lon2, lat2 = offset_point(net, "X004", 2030.0, 8.0, "right")
    at = run_page(INCIDENT, inc_loc=(lon2, lat2, "map", None))
    at.selectbox(key="inc_type_0").set_value("materials")
    at.run()
    button(at, "保存问题").click()
    at.run()
    assert "附近 50 米内已有同类未办结问题" in at.warning[-1].value
    attach = next(b for b in at.button if b.label.startswith("作为编号"))
    attach.click()
    at.run()
    assert count(Incident) == first  # no second record
    assert count(IncidentEvent, IncidentEvent.action == "follow_up") == 1


def test_follow_up_of_another_crews_incident_is_refused_for_an_officer(store):
    at = run_page(FOLLOWUP)
    iid = at.selectbox(key="fu_pick").value  # a ledger incident: not this officer's crew
    at.segmented_control(key=f"fu_status_{iid}_0").set_value("closed")
    at.text_area[0].input("已清除")
    button(at, "保存").click()
    at.run()
    assert any("不是本组上报的" in e.value for e in at.error), [e.value for e in at.error]
    with read_session() as s:
        assert s.get(Incident, iid).status == "open"


def test_follow_up_close_needs_outcome_then_closes(store):
    at = run_page(FOLLOWUP, "leader")  # a squad leader may close any crew's incident
    assert at.selectbox(key="fu_pick").value is not None
    iid = at.selectbox(key="fu_pick").value
    at.segmented_control(key=f"fu_status_{iid}_0").set_value("closed")
    button(at, "保存").click()
    at.run()
    assert any("办结时须填写处理结果" in e.value for e in at.error)
    at.text_area[0].input("当事人已自行清除，复查无遗留")
    button(at, "保存").click()
    at.run()
    assert not at.error, [e.value for e in at.error]
    with read_session() as s:
        assert s.get(Incident, iid).status == "closed"
        assert s.execute(
            select(IncidentEvent).where(IncidentEvent.incident_id == iid, IncidentEvent.action == "closed")
        ).scalar_one()
    # the page moves on to the next open incident, and its form shows that incident's own status
    nxt = at.selectbox(key="fu_pick").value
    assert nxt != iid
    status = [w for w in at.segmented_control if w.key.startswith(f"fu_status_{nxt}_")]
    assert len(status) == 1 and status[0].value == "open"
    assert any(f"#{iid}" in m.value for m in at.success)  # what was saved, named


def test_stake_only_location_and_form_starts_afresh_after_saving(store):
    at = run_page(INCIDENT)
    at.segmented_control(key="inc_loc_method").set_value("stake")
    at.run()
    at.selectbox(key="inc_loc_road").set_value("X003")
    at.text_input(key="inc_loc_stake").input("K1+200")
    button(at, "定位桩号").click()
    at.run()
    assert (
        "X003" in at.success[0].value and "K1+200" in at.success[0].value and "未判定" in at.success[0].value
    )
    at.selectbox(key="inc_type_0").set_value("over_limit")
    at.text_area(key="inc_description_0").input("三轴货车超限")
    at.run()
    button(at, "保存问题").click()
    at.run()
    assert not at.error, [e.value for e in at.error]
    with read_session() as s:
        inc = s.execute(select(Incident).order_by(Incident.id.desc()).limit(1)).scalar_one()
        assert (inc.road_code, inc.stake, inc.location_method, inc.zone, inc.offset_m) == (
            "X003",
            "K1+200",
            "stake",
            "unknown",
            None,
        )
    assert at.text_area(key="inc_description_1").value == ""  # a fresh form


def test_stake_with_side_and_offset_gives_the_zone_verdict(store):
    at = run_page(INCIDENT)
    at.segmented_control(key="inc_loc_method").set_value("stake")
    at.run()
    at.selectbox(key="inc_loc_road").set_value("Y004")
    at.text_input(key="inc_loc_stake").input("K0+800")
    at.segmented_control(key="inc_loc_side").set_value("right")
    at.number_input(key="inc_loc_offset").set_value(10.0)
    button(at, "定位桩号").click()
    at.run()
    text = at.success[0].value
    assert "Y004" in text and "K0+800 右侧" in text and "距中线 10.0 米" in text and "在建筑控制区内" in text
