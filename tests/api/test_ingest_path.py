"""The incident create path of the JSON API (the load test's hot path): how many statements it costs, the
duplicates it reports, and that its audit entry records the same state as one read back from the store."""

from __future__ import annotations

import json

from sqlalchemy import Engine, event

from patrol_app.services import audit_state
from patrol_app.storage.canonical import canonical_json
from patrol_app.storage.db import read_session
from tests.api.conftest import incident_body, patrol_body

#: session + user (one query), the client_id, the patrol by its client_id, the network's version, the incident,
#: its history row, the possible duplicates, the chain's head (locked), the entry, the head's move
MAX_STATEMENTS = 10


class Statements:
    """The SQL statements a store's engine runs (BEGIN/COMMIT and SQLite's pragmas not counted)."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def _seen(self, conn, cursor, statement, params, context, executemany):  # type: ignore[no-untyped-def]
        if statement.split(None, 1)[0].upper() in ("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
            self.sql.append(statement)

    def __enter__(self) -> Statements:
        event.listen(
            Engine, "before_cursor_execute", self._seen
        )  # every engine: the app's store's, however built
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Engine, "before_cursor_execute", self._seen)


def test_incident_create_costs_at_most_ten_statements(store, officer):
    pid = officer.post("/patrols", json=patrol_body()).json()["client_id"]
    body = incident_body(store, patrol_client_id=pid)
    del body["lon"], body["lat"]
    body.update(road="X001", stake="K1+200", side="left", offset_m=5)
    officer.post("/incidents", json=incident_body(store))  # the network cached, the session fresh
    with Statements() as seen:
        r = officer.post("/incidents", json=body)
    assert r.status_code == 201, r.text
    assert len(seen.sql) <= MAX_STATEMENTS, "\n".join(s.split("\n")[0] for s in seen.sql)
    # nothing read back of what the request has just written
    assert not [
        s for s in seen.sql if s.lstrip().upper().startswith("SELECT") and "photos" in s.split("WHERE")[0]
    ]


def test_possible_duplicates_name_the_earlier_record_not_the_new_one(store, officer):
    first = officer.post("/incidents", json=incident_body(store)).json()
    again = officer.post("/incidents", json=incident_body(store))
    assert again.status_code == 201
    assert again.json()["possible_duplicates"] == [first["id"]]
    other = officer.post("/incidents", json=incident_body(store, type="stall")).json()
    assert first["id"] not in other["possible_duplicates"] and other["id"] not in other["possible_duplicates"]
    assert first["possible_duplicates"] == []


def test_created_incidents_record_the_state_read_back(store, officer):
    """The state built from the values in hand (``audit_state.state_in_hand``) is what ``states`` reads."""
    pid = officer.post("/patrols", json=patrol_body()).json()["client_id"]
    ids = []
    for kw in (
        {},
        {"accuracy_m": 12, "description": " 两个空格  and\ttab ", "party_phone": "13800000000"},
        {"measure": "order_correct", "deadline": "2099-01-31", "patrol_client_id": pid},
        {"lon": None, "lat": None, "road": "X001", "stake": 1200, "side": "right", "offset_m": 7},
        {"lon": None, "lat": None, "road": "x001", "stake": "K0+450.5", "side": "left", "offset_m": 0.25},
    ):
        r = officer.post("/incidents", json=incident_body(store, **kw))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    with read_session() as s:
        read = audit_state.states(s.connection(), "incident", ids)
        recorded = audit_state.recorded_states(s.connection())
        for i in ids:
            text = recorded[("incident", str(i))]
            assert json.loads(text) == read[str(i)]
            assert text == canonical_json(read[str(i)])
