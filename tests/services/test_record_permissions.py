"""Permissions record by record: an officer changes or closes only their own crew's incidents and ends only their
own crew's patrols; a squad leader may act on any; an incident under a case changes status only through the
case; reopening a closed incident is a leader's act. Refusals are catalog errors in both languages."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from gis.linref import offset_point
from patrol_app.i18n import error_text
from patrol_app.services import cases, field
from patrol_app.services.errors import ServiceError
from patrol_app.services.users import get_user
from patrol_app.storage.db import session_scope
from patrol_app.storage.models import Incident, IncidentEvent, Personnel


def pids(s, *names):
    return [s.execute(select(Personnel.id).where(Personnel.name == n)).scalar_one() for n in names]


def patrol(s, user, names):
    return field.start_patrol(
        s,
        user,
        field.PatrolStart(
            date=dt.date(2026, 3, 2),
            start_time="08:30",
            roads=["X001"],
            crew_ids=pids(s, *names),
            vehicle_ids=[1],
        ),
    )


def incident(s, user, net, patrol_id=None, chainage=1200):
    lon, lat = offset_point(net, "X002", chainage, 6, "left")
    raw = {"found_at": dt.datetime(2026, 3, 2, 9, 0), "type": "stall", "lon": lon, "lat": lat}
    if patrol_id:
        raw["patrol_id"] = patrol_id
    return field.log_incident(s, user, raw)


def refused(key, fn, *args, **kw):
    with pytest.raises(ServiceError) as exc:
        fn(*args, **kw)
    assert exc.value.key == key
    for lang in ("zh", "en"):  # a sentence from the catalog, not the bare key
        assert error_text(exc.value, lang) != key
    return exc.value


def test_officer_cannot_end_another_crews_patrol(store):
    with session_scope() as s:
        # officer2 (王芳) opens a patrol crewed by 赵磊 and 陈静: 李明 (officer) is not on it
        p = patrol(s, get_user(s, "officer2"), ("赵磊", "陈静"))
        e = refused(
            "field.not_your_patrol", field.end_patrol, s, get_user(s, "officer"), p.id, "12:00", km=10
        )
        assert "赵" not in str(e.params)
        assert s.get(type(p), p.id).status == "open"
        # a crew member (through the account's personnel record) may end it, and so may a leader
        q = patrol(s, get_user(s, "officer2"), ("李明", "陈静"))
        assert field.end_patrol(s, get_user(s, "officer"), q.id, "12:00", km=10).status == "closed"
        assert field.end_patrol(s, get_user(s, "leader"), p.id, "12:00", km=12).status == "closed"


def test_officer_cannot_change_or_close_another_crews_incident(store):
    net = store.network()
    with session_scope() as s:
        own = incident(s, get_user(s, "officer2"), net)
        before = s.execute(select(func.count()).select_from(IncidentEvent)).scalar_one()
        refused(
            "field.not_your_incident",
            field.update_status,
            s,
            get_user(s, "officer"),
            own.id,
            "closed",
            note="已处理",
        )
        refused(
            "field.not_your_incident",
            field.update_status,
            s,
            get_user(s, "officer"),
            own.id,
            "open",
            note="复查",
        )
        assert s.execute(select(func.count()).select_from(IncidentEvent)).scalar_one() == before
        assert s.get(Incident, own.id).status == "open"
        # the crew of the patrol it was logged on may close it
        p = patrol(s, get_user(s, "officer2"), ("李明", "王芳"))
        on_patrol = incident(s, get_user(s, "officer2"), net, patrol_id=p.id, chainage=2500)
        assert (
            field.update_status(s, get_user(s, "officer"), on_patrol.id, "closed", note="已拆除").status
            == "closed"
        )
        # a leader may close any crew's incident
        assert (
            field.update_status(s, get_user(s, "leader"), own.id, "closed", note="已拆除").status == "closed"
        )


def test_ledger_incidents_are_changed_by_a_leader_not_by_any_officer(store):
    with session_scope() as s:
        inc = (
            s.execute(
                select(Incident)
                .where(Incident.status == "open", Incident.source != "app")
                .order_by(Incident.id)
            )
            .scalars()
            .first()
        )
        refused(
            "field.not_your_incident",
            field.update_status,
            s,
            get_user(s, "officer"),
            inc.id,
            "closed",
            note="x",
        )


def test_reopening_is_a_leaders_act(store):
    net = store.network()
    with session_scope() as s:
        officer = get_user(s, "officer")
        inc = incident(s, officer, net)
        field.update_status(s, officer, inc.id, "closed", note="已自行拆除")
        refused(
            "field.reopen_leader_only", field.update_status, s, officer, inc.id, "open", note="又搭起来了"
        )
        assert s.get(Incident, inc.id).status == "closed"
        assert (
            field.update_status(s, get_user(s, "leader"), inc.id, "open", note="又搭起来了").status == "open"
        )


def test_incident_under_a_case_changes_status_only_through_the_case(store):
    net = store.network()
    with session_scope() as s:
        officer = get_user(s, "officer")
        inc = incident(s, officer, net)
        cases.open_case(s, officer, inc.id, pids(s, "赵磊", "陈静"))
        for who in ("officer", "leader"):
            refused(
                "field.under_case", field.update_status, s, get_user(s, who), inc.id, "closed", note="结案"
            )
        assert s.get(Incident, inc.id).status == "open"
        # a re-inspection that leaves the status as it is stays possible
        field.update_status(s, officer, inc.id, "open", note="复查：仍在")
