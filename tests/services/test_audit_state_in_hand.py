"""An incident's audit state built from the values in hand (``audit_state.state_in_hand``, used when an incident
is logged without photos) is the very state ``audit_state.states`` reads back — on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from sqlalchemy import select

from gis.linref import offset_point
from patrol_app.services import audit, audit_state, field
from patrol_app.services.roads import network
from patrol_app.services.users import get_user
from patrol_app.storage import db
from patrol_app.storage.canonical import canonical_json
from patrol_app.storage.models import Incident, IncidentEvent
from tests.conftest import postgres_demo_store


def _raws(net) -> list[dict]:  # type: ignore[no-untyped-def]
    lon, lat = offset_point(net, "X001", 3250.0, 18.0, "right")
    when = dt.datetime(2026, 3, 2, 9, 30, 15, 123456)
    return [
        {
            "found_at": when,
            "type": "materials",
            "lon": lon,
            "lat": lat,
            "gps_accuracy_m": 6,
            "patrol_id": None,
        },
        {
            "found_at": when,
            "type": "stall",
            "road": "X001",
            "stake": 1200,  # a whole number: stored and read back as a float
            "side": "left",
            "offset_m": 5,
            "description": " 两个空格  and\ttab ",
            "party": "王某某",
            "party_phone": "13800000000",
            "measure": "order_correct",
            "deadline": dt.date(2099, 1, 31),
            "patrol_id": None,
        },
        {
            "found_at": when,
            "type": "dumping",
            "road": "x001",
            "stake": "K0+450.5",
            "side": "right",
            "patrol_id": None,
        },
        # no patrol_id at all (a page's form): NULL in hand as in the store
        {"found_at": when, "type": "dumping", "road": "X001", "stake": "K0+900", "side": "right"},
    ]


def _check_store(url: str) -> None:
    with db.session_scope(url) as s:
        user = get_user(s, "officer")
        net = network(s, field.write_county(user))
        made = []
        for raw in _raws(net):
            inc = field.log_incident(s, user, raw)
            made.append(inc.id)
            ev = s.execute(select(IncidentEvent).where(IncidentEvent.incident_id == inc.id)).scalar_one()
            read = audit_state.states(s.connection(), "incident", [inc.id])[str(inc.id)]
            in_hand = audit_state.state_in_hand("incident", inc, {"events": [ev], "photos": []})
            assert canonical_json(in_hand) == canonical_json(read)
        inc, dups = field.log_device_incident(s, user, _raws(net)[0], client_id=str(uuid.uuid4()))
        assert made[0] in [d.id for d in dups] and inc.id not in [d.id for d in dups]
        made.append(inc.id)
    with db.read_session(url) as s:
        read = audit_state.states(s.connection(), "incident", made)
        recorded = audit_state.recorded_states(s.connection())
        for i in made:
            text = recorded[("incident", str(i))]
            assert text == canonical_json(read[str(i)]), json.loads(text)
        assert audit.verify(s).ok


def test_state_in_hand_is_the_state_read_back_on_sqlite(store):
    _check_store(store.url)


@pytest.mark.postgres
def test_state_in_hand_is_the_state_read_back_on_postgres(tmp_path, monkeypatch):
    monkeypatch.setenv("PATROL_DATA_DIR", str(tmp_path))
    with postgres_demo_store("inhand", dt.date(2026, 11, 1)) as url:
        monkeypatch.setenv("PATROL_DB_URL", url)
        _check_store(url)


def test_values_the_read_could_change_are_refused(store):
    """An aware time, a value of another type or an unloaded column: not built in hand (the caller reads)."""
    with db.session_scope() as s:
        inc = s.execute(select(Incident).limit(1)).scalar_one()
        inc.found_at = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
        with pytest.raises(ValueError, match="found_at"):
            audit_state.state_in_hand("incident", inc, {})
        inc.found_at = dt.datetime(2026, 3, 2, 9, 0)
        inc.chainage_m = "12"  # type: ignore[assignment]
        with pytest.raises(ValueError, match="chainage_m"):
            audit_state.state_in_hand("incident", inc, {})
        inc.chainage_m = 12.0
        s.expire(inc, ["stake"])
        with pytest.raises(ValueError, match="stake"):
            audit_state.state_in_hand("incident", inc, {})
        s.rollback()
