"""Locust users for the cluster load test (scripts/loadtest.py runs this headless against the proxy on loopback).

FieldUser  signs in through the JSON API (a demo officer's account), starts a patrol and logs incidents on it
           (road + stake), ends it now and then and starts another — like the field page's outbox, it sends the
           same client_id again until the server acknowledges (200/201), and writes every acknowledged client_id
           to $LOAD_ACKS (one ``kind client_id`` a line). Stops after $LOAD_MAX_RECORDS incidents.
Manager    (a fixed number, $LOAD_MANAGERS) loads the year's report (GET /api/v1/report, read from the replica)
           and the incident list, as the report and map pages do.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import threading
import uuid

from locust import HttpUser, between, events, task
from locust.exception import StopUser

PASSWORD = os.environ.get("LOAD_PASSWORD", "patrol-demo")
FIELD_ACCOUNTS = ("officer", "officer2", "leader")
MANAGER_ACCOUNTS = ("manager", "admin")
MAX_RECORDS = int(os.environ.get("LOAD_MAX_RECORDS") or 1000)
WAIT = tuple(float(x) for x in (os.environ.get("LOAD_WAIT") or "0.1,0.5").split(","))
RETRIES = 20
TYPES = ("materials", "stall", "dumping", "digging", "building", "trees", "over_limit")

_acks_lock = threading.Lock()
_acks_file = None
_account = itertools.count()


@events.test_start.add_listener
def _open_acks(environment, **_kw):  # type: ignore[no-untyped-def]
    global _acks_file
    path = os.environ.get("LOAD_ACKS")
    if path:
        _acks_file = open(path, "a", buffering=1)  # noqa: SIM115 - open for the whole run


@events.quitting.add_listener
def _close_acks(environment, **_kw):  # type: ignore[no-untyped-def]
    if _acks_file is not None:
        _acks_file.flush()


def acknowledged(kind: str, client_id: str) -> None:
    if _acks_file is not None:
        with _acks_lock:
            _acks_file.write(f"{kind} {client_id}\n")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class ApiUser(HttpUser):
    abstract = True
    accounts: tuple[str, ...] = ()
    csrf = ""

    def sign_in(self) -> None:
        name = self.accounts[next(_account) % len(self.accounts)]
        for _ in range(RETRIES):
            with self.client.post(
                "/api/v1/session",
                json={"username": name, "password": PASSWORD},
                name="POST /session",
                catch_response=True,
            ) as r:
                if r.status_code == 200:
                    self.csrf = r.json()["csrf_token"]
                    return
                r.failure(f"sign-in {r.status_code}")
            self.wait()
        raise StopUser()

    def send(self, path: str, body: dict, name: str) -> dict | None:
        """POST until the server acknowledges it (the body's client_id makes a repeat harmless)."""
        for _ in range(RETRIES):
            with self.client.post(
                path, json=body, headers={"X-CSRF-Token": self.csrf}, name=name, catch_response=True
            ) as r:
                if r.status_code in (200, 201):
                    return r.json()
                if r.status_code == 401:
                    r.failure("signed out")
                    self.sign_in()
                else:
                    r.failure(f"{r.status_code} {r.text[:120]}")
            self.wait()
        return None


class FieldUser(ApiUser):
    accounts = FIELD_ACCOUNTS
    wait_time = between(*WAIT)

    def on_start(self) -> None:
        self.sign_in()
        cat = self.client.get("/api/v1/catalog", name="GET /catalog").json()
        roads = self.client.get("/api/v1/roads", name="GET /roads").json()
        self.people = [p["id"] for p in cat["personnel"]]
        self.vehicles = [v["id"] for v in cat["vehicles"]]
        self.pieces = [
            (f["properties"]["code"], f["properties"]["m"][0], f["properties"]["m"][-1])
            for f in roads["features"]
            if f["properties"]["m"]
        ]
        self.patrol: str | None = None
        self.road = ""
        self.logged = 0

    def start_patrol(self) -> None:
        code = random.choice(self.pieces)[0]
        cid = str(uuid.uuid4())
        body = {
            "client_id": cid,
            "roads": [code],
            "crew": random.sample(self.people, 2),
            "vehicles": [random.choice(self.vehicles)],
            "started_at": now_iso(),
        }
        if self.send("/api/v1/patrols", body, "POST /patrols") is not None:
            acknowledged("patrol", cid)
            self.patrol, self.road = cid, code

    @task
    def log_incident(self) -> None:
        if self.logged >= MAX_RECORDS:
            raise StopUser()
        if self.patrol is None or random.random() < 0.05:
            if self.patrol is not None:
                self.send(
                    f"/api/v1/patrols/{self.patrol}/end",
                    {"ended_at": now_iso(), "km": 12.5},
                    "POST /patrols/{id}/end",
                )
            self.start_patrol()
            if self.patrol is None:
                return
        code, m0, m1 = random.choice([p for p in self.pieces if p[0] == self.road])
        cid = str(uuid.uuid4())
        body = {
            "client_id": cid,
            "type": random.choice(TYPES),
            "found_at": now_iso(),
            "road": code,
            "stake": round(random.uniform(m0, m1), 1),
            "side": random.choice(("left", "right")),
            "offset_m": round(random.uniform(1, 30), 1),
            "patrol_client_id": self.patrol,
            "description": "负载测试 load test",
        }
        if self.send("/api/v1/incidents", body, "POST /incidents") is not None:
            acknowledged("incident", cid)
            self.logged += 1


class Manager(ApiUser):
    accounts = MANAGER_ACCOUNTS
    fixed_count = max(1, int(os.environ.get("LOAD_MANAGERS") or 4))  # 0 managers: loadtest.py leaves them out
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.sign_in()

    @task(2)
    def report(self) -> None:
        year = dt.date.today().year - random.choice((0, 1))
        self.client.get(f"/api/v1/report?year={year}", name="GET /report")

    @task(1)
    def incidents(self) -> None:
        self.client.get("/api/v1/incidents?limit=200", name="GET /incidents")
