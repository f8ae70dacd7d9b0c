"""Personnel and vehicle registries, and ``valid_officers`` — the two-officer rule patrols and cases share."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from patrol_app.services import audit, registry
from patrol_app.services.errors import PermissionDenied, ServiceError
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import AuditEntry, Personnel, User

DAY = dt.date(2026, 6, 1)


def user(s, username: str) -> User:
    return s.execute(select(User).where(User.username == username)).scalar_one()


def pid(s, name: str) -> int:
    return s.execute(select(Personnel.id).where(Personnel.name == name)).scalar_one()


def test_valid_officers_counts_only_certified_active_staff_on_the_day(store):
    with session_scope() as s:
        admin = user(s, "admin")
        new = registry.add_personnel(s, admin, "钱进", "路政员", "53030201099", dt.date(2026, 5, 31))
        nocert = registry.add_personnel(s, admin, "冯新", "路政员")
        gone = registry.add_personnel(s, admin, "郑退", "路政员", "53030201098", "2030-01-01")
        registry.set_personnel_active(s, admin, gone.id, False)
        ids = [
            pid(s, "李明"),
            pid(s, "吴刚"),
            new.id,
            nocert.id,
            gone.id,
            999_999,
            pid(s, "李明"),
            pid(s, "王芳"),
        ]
        ok, problems = registry.valid_officers(s, user(s, "officer"), ids, DAY)
        assert ok == [pid(s, "李明"), pid(s, "王芳")]  # order kept, duplicates dropped
        assert [p.key for p in problems] == [
            "registry.officer_auxiliary",
            "registry.officer_cert_expired",
            "registry.officer_no_cert",
            "registry.officer_inactive",
            "registry.officer_unknown",
        ]
        assert problems[1].params == {
            "id": new.id,
            "name": "钱进",
            "cert": "53030201099",
            "date": "2026-05-31",
        }
        assert problems[1].render("en") == "钱进's certificate 53030201099 expired on 2026-05-31"
        # the day before expiry it still counts
        ok, _ = registry.valid_officers(s, user(s, "officer"), [new.id], dt.date(2026, 5, 31))
        assert ok == [new.id]


def test_personnel_validation(store):
    with session_scope() as s:
        admin = user(s, "admin")
        cases = [
            ({"name": " "}, "registry.name_required"),
            ({"name": "甲", "cert_no": "53030201001", "cert_expiry": "2030-01-01"}, "registry.cert_exists"),
            ({"name": "甲", "cert_no": "X1"}, "registry.expiry_required"),
            ({"name": "甲", "cert_no": "X1", "cert_expiry": "明年"}, "registry.bad_expiry"),
            ({"name": "甲", "cert_no": "X1", "cert_expiry": "2030-02-30"}, "registry.bad_expiry"),
            ({"name": "甲", "cert_expiry": "2030-01-01"}, "registry.cert_required"),
        ]
        for kwargs, key in cases:
            with pytest.raises(ServiceError) as e:
                registry.add_personnel(s, admin, **kwargs)
            assert e.value.key == key, kwargs
        p = registry.add_personnel(s, admin, "甲", cert_no=" 5303 0201 077 ", cert_expiry="2030年1月2日")
        assert (p.cert_no, p.cert_expiry) == ("53030201077", dt.date(2030, 1, 2))
        with pytest.raises(ServiceError) as e:
            registry.update_personnel(s, admin, p.id, cert_no="53030201002")
        assert e.value.key == "registry.cert_exists" and "李明" in str(e.value.params)
        with pytest.raises(ServiceError):
            registry.update_personnel(s, admin, p.id, active=False)  # not through update


def test_personnel_edits_are_audited_with_before_and_after(store):
    with session_scope() as s:
        admin = user(s, "admin")
        registry.update_personnel(s, admin, pid(s, "王芳"), cert_expiry=dt.date(2031, 3, 1), title="副中队长")
        registry.set_personnel_active(s, admin, pid(s, "吴刚"), False)
    with read_session() as s:
        rows = (
            s.execute(
                select(AuditEntry)
                .where(AuditEntry.entity == "personnel", AuditEntry.action.like("registry.%"))
                .order_by(AuditEntry.id)
            )
            .scalars()
            .all()
        )
        assert [r.action for r in rows] == ["registry.personnel.update", "registry.personnel.deactivate"]
        assert rows[0].before["title"] == "路政员" and rows[0].after["cert_expiry"] == "2031-03-01"
        assert rows[1].after["active"] is False
        assert audit.verify(s).ok


def test_vehicles_add_edit_deactivate_with_unique_plates(store):
    with session_scope() as s:
        admin = user(s, "admin")
        v = registry.add_vehicle(s, admin, " 云ｄ l0309 ", "皮卡")
        assert v.plate == "云DL0309"
        for plate in ("云D·L0301", "云DL0301", "云d·l0301"):
            with pytest.raises(ServiceError) as e:
                registry.add_vehicle(s, admin, plate)
            assert e.value.key == "registry.plate_exists", plate
        with pytest.raises(ServiceError) as e:
            registry.add_vehicle(s, admin, "  ")
        assert e.value.key == "registry.plate_required"
        registry.update_vehicle(s, admin, v.id, kind="执法车")
        registry.set_vehicle_active(s, admin, v.id, False)
        assert [x.plate for x in registry.list_vehicles(s, admin)].count("云DL0309") == 0
        assert "云DL0309" in [x.plate for x in registry.list_vehicles(s, admin, include_inactive=True)]
        actions = (
            s.execute(
                select(AuditEntry.action).where(
                    AuditEntry.entity == "vehicle", AuditEntry.action.like("registry.%")
                )
            )
            .scalars()
            .all()
        )
        assert actions == [
            "registry.vehicle.create",
            "registry.vehicle.update",
            "registry.vehicle.deactivate",
        ]


@pytest.mark.parametrize("username", ["officer", "leader", "reviewer", "manager"])
def test_only_administrators_edit_the_registries(store, username):
    with session_scope() as s:
        actor = user(s, username)
        with pytest.raises(PermissionDenied):
            registry.add_personnel(s, actor, "某人", cert_no="1", cert_expiry="2030-01-01")
        with pytest.raises(PermissionDenied):
            registry.set_vehicle_active(s, actor, 1, False)
        assert registry.list_personnel(s, actor)  # everyone may read the registry (officer pickers)


def test_cert_state_for_highlighting():
    p = Personnel(name="x", cert_no="1", cert_expiry=dt.date(2026, 6, 30), auxiliary=False, active=True)
    assert registry.cert_state(p, dt.date(2026, 5, 1)) == "valid"
    assert registry.cert_state(p, dt.date(2026, 6, 1)) == "expiring"
    assert registry.cert_state(p, dt.date(2026, 6, 30)) == "expiring"
    assert registry.cert_state(p, dt.date(2026, 7, 1)) == "expired"
    assert registry.cert_state(Personnel(name="y", auxiliary=True), dt.date(2026, 1, 1)) == "auxiliary"
    assert registry.cert_state(Personnel(name="z", auxiliary=False), dt.date(2026, 1, 1)) == "none"
