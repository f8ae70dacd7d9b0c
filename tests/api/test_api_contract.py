"""Contract tests of /api/v1 over the real app routes and a real SQLite store: status codes, the error shape,
idempotency, permissions per role, CSRF, the caller's language, one transaction per request."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

import pytest
from sqlalchemy import func, select

from patrol_app.storage.db import read_session
from patrol_app.storage.models import AuditEntry, Incident, Patrol, Photo

from .conftest import incident_body, jpeg, now_iso, officer_ids, patrol_body


def count(model, *where) -> int:  # type: ignore[no-untyped-def]
    with read_session() as s:
        return s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def assert_error(r, status: int, code: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"status", "code", "message", "errors"}
    assert body["status"] == status and body["message"] and "Traceback" not in r.text
    for e in body["errors"]:
        assert set(e) == {"field", "code", "message"}
    if code:
        assert body["code"] == code
    return body


# --- session -------------------------------------------------------------------------------------------


def test_sign_in_sets_httponly_cookie_and_is_audited(store, as_user):
    api = as_user(None)
    r = api.http.post("/api/v1/session", json={"username": "officer", "password": "patrol-demo"})
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == "officer" and body["role"] == "officer" and len(body["csrf_token"]) >= 20
    cookie = r.headers["set-cookie"]
    assert "patrol_session=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert count(AuditEntry, AuditEntry.action == "user.sign_in", AuditEntry.actor == "officer") == 1
    me = api.get("/me").json()
    assert (
        me["user"] == "officer"
        and me["csrf_token"] == body["csrf_token"]
        and "log_incident" in me["permissions"]
    )


def test_sign_in_refusals(store, as_user):
    api = as_user(None)
    bad = assert_error(
        api.http.post("/api/v1/session", json={"username": "officer", "password": "wrong-one"}),
        401,
        "auth.bad_credentials",
    )
    assert "密码" in bad["message"] or "用户" in bad["message"]  # Chinese by default
    body = assert_error(api.http.post("/api/v1/session?lang=en", json={}), 422)
    assert [e["field"] for e in body["errors"]] == ["username", "password"]
    assert body["errors"][0]["message"] == "required"
    assert_error(
        api.http.post("/api/v1/session", content=b"{not json", headers={"content-type": "application/json"}),
        422,
    )
    assert_error(api.http.post("/api/v1/session", json=["officer"]), 422)


def test_signed_out_answers_401_everywhere(store, as_user):
    anon = as_user(None)
    for path in ("/me", "/roads", "/catalog", "/incidents", "/patrols/1", "/incidents/1"):
        assert_error(anon.get(path), 401, "api.signed_out")
    for path in ("/patrols", "/patrols/1/end", "/patrols/1/track", "/incidents"):
        assert_error(anon.post(path, json={}), 401)


def test_sign_out_needs_csrf_then_ends_the_session(store, as_user):
    api = as_user("officer")
    assert_error(api.delete("/session", csrf=False), 403, "api.csrf")
    assert api.get("/me").status_code == 200
    r = api.delete("/session")
    assert r.status_code == 200 and r.json() == {"signed_out": True}
    assert_error(api.get("/me"), 401)
    assert api.delete("/session").status_code == 200  # signed out already: still fine


def test_csrf_header_required_for_writes(store, officer):
    before = count(Patrol)
    assert_error(officer.post("/patrols", patrol_body(), csrf=False), 403, "api.csrf")
    assert_error(officer.post("/patrols", patrol_body(), headers={"X-CSRF-Token": "forged"}, csrf=False), 403)
    assert count(Patrol) == before


# --- reference data ------------------------------------------------------------------------------------


def test_roads_geojson_with_etag(store, officer):
    r = officer.get("/roads")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    assert "no-cache" in r.headers["cache-control"] and r.headers["etag"]
    doc = r.json()
    assert doc["type"] == "FeatureCollection" and doc["zones"]["control_zone_min_m"]["county"] == 10.0
    props = {f["properties"]["code"]: f["properties"] for f in doc["features"]}
    assert set(props) == set(store.network().codes)
    x = [f for f in doc["features"] if f["properties"]["code"] == "X001"]
    assert len(x) == 2  # two pieces, each in the direction of increasing chainage
    for f in x:
        p = f["properties"]
        assert p["class"] == "county" and p["start_stake"].startswith("K") and "half_road_land_m" in p
        assert len(p["m"]) == len(f["geometry"]["coordinates"]) and p["m"] == sorted(p["m"])
    again = officer.get("/roads", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and not again.content


def test_catalog_in_the_callers_language(store, officer):
    zh = officer.get("/catalog").json()
    en = officer.get("/catalog", headers={"Accept-Language": "en-GB,en;q=0.9"}).json()
    assert zh["lang"] == "zh" and en["lang"] == "en"
    mat_zh = next(v for v in zh["types"] if v["code"] == "materials")
    mat_en = next(v for v in en["types"] if v["code"] == "materials")
    from patrol_app.domain.catalog import BY_CODE

    assert mat_zh["name"] == BY_CODE["materials"].name("zh") and mat_en["name"] == BY_CODE["materials"].name(
        "en"
    )
    assert "第四十六条" in mat_zh["legal_basis"] and mat_zh["penalty"]
    assert {m["code"] for m in zh["measures"]} == {"persuasion", "order_correct", "case", "transfer"}
    assert {x["code"] for x in zh["statuses"]} == {"open", "closed"}
    assert zh["personnel"] and zh["vehicles"] and "crew" in zh["defaults"]
    assert officer.get("/catalog?lang=en").json()["lang"] == "en"


# --- patrols -------------------------------------------------------------------------------------------


def test_patrol_create_is_idempotent_by_client_id(store, officer):
    body = patrol_body(started_at="2026-01-05T00:30:00Z")
    r = officer.post("/patrols", body)
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["client_id"] == body["client_id"] and p["status"] == "open" and p["roads"] == ["X001"]
    assert (p["date"], p["start_time"]) == ("2026-01-05", "08:30")  # UTC → the bureau's local time
    assert sorted(p["crew_ids"]) == sorted(officer_ids()) and p["track"] is None
    n = count(Patrol)
    again = officer.post("/patrols", body)
    assert again.status_code == 200 and again.json()["id"] == p["id"] and count(Patrol) == n
    assert count(AuditEntry, AuditEntry.action == "patrol.start") >= 1
    assert officer.get(f"/patrols/{body['client_id']}").json()["id"] == p["id"]


def test_patrol_rules_from_the_service(store, officer):
    body = assert_error(
        officer.post("/patrols?lang=en", patrol_body(crew=officer_ids(("李明",)), roads=["X999"])),
        422,
        "error.validation_failed",
    )
    fields = {e["field"]: e for e in body["errors"]}
    assert fields["roads"]["code"] == "error.unknown_road" and "X999" in fields["roads"]["message"]
    assert "crew" not in fields  # one officer is accepted and flagged (bureau practice), never refused
    body = assert_error(
        officer.post("/patrols", {"client_id": "nope", "roads": "X001", "crew": [1, "a"]}), 422
    )
    assert {e["field"] for e in body["errors"]} == {"client_id", "roads", "crew", "vehicles"}
    assert_error(officer.post("/patrols", patrol_body(started_at="2026-01-05T08:30")), 422)  # no offset


@pytest.mark.parametrize("role", ["reviewer", "manager", "admin"])
def test_roles_that_do_not_patrol_are_refused(store, as_user, role):
    api = as_user(role)
    n = count(Patrol), count(Incident)
    assert_error(api.post("/patrols", patrol_body()), 403, "error.permission_denied")
    assert_error(api.post("/incidents", incident_body(store)), 403, "error.permission_denied")
    assert (count(Patrol), count(Incident)) == n
    assert api.get("/incidents?limit=1").status_code == 200  # everyone may look


def test_client_id_of_another_users_record_is_a_conflict(store, as_user):
    body = patrol_body()
    assert as_user("officer").post("/patrols", body).status_code == 201
    assert_error(as_user("officer2").post("/patrols", body), 409, "error.client_id_taken")
    inc = incident_body(store)
    assert as_user("officer").post("/incidents", inc).status_code == 201
    assert_error(as_user("officer2").post("/incidents", inc), 409, "error.client_id_taken")


def test_end_patrol_twice_changes_nothing(store, officer):
    p = officer.post("/patrols", patrol_body()).json()
    r = officer.post(f"/patrols/{p['id']}/end", {"ended_at": now_iso(), "km": 42.5})
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["km"] == 42.5
    assert r.json()["km_method"] == "typed"
    again = officer.post(f"/patrols/{p['id']}/end", {"km": 99})
    assert again.status_code == 200 and again.json()["km"] == 42.5
    assert_error(officer.post("/patrols/999999/end", {}), 404)
    assert_error(officer.post(f"/patrols/{uuid.uuid4()}/end", {}), 404)
    q = officer.post("/patrols", patrol_body()).json()
    assert officer.post(f"/patrols/{q['id']}/end", {}).json()["km_method"] == "roads"  # no track, no km
    assert_error(officer.post(f"/patrols/{q['id']}/end", {"km": "ten"}), 422)


# --- incidents -----------------------------------------------------------------------------------------


def test_incident_by_gps_answers_the_stored_record(store, officer):
    patrol = officer.post("/patrols", patrol_body()).json()
    body = incident_body(store, patrol_client_id=patrol["client_id"], found_at="2026-01-05T01:15:00Z")
    r = officer.post("/incidents", body)
    assert r.status_code == 201, r.text
    inc = r.json()
    assert inc["client_id"] == body["client_id"] and inc["patrol_id"] == patrol["id"]
    assert (inc["road_code"], inc["stake"], inc["side"]) == ("X001", "K3+250", "right")
    assert inc["offset_m"] == pytest.approx(18.0, abs=0.2) and inc["zone"] == "control_zone"
    assert inc["in_control_zone"] is True and inc["location_method"] == "gps" and inc["accuracy_m"] == 6.0
    assert inc["found_at"] == "2026-01-05T09:15:00+08:00"
    assert inc["relocated"] is None and inc["description"] == "路肩堆放砂石"
    n = count(Incident)
    again = officer.post("/incidents", body)
    assert again.status_code == 200 and again.json()["id"] == inc["id"] and count(Incident) == n
    assert (
        count(AuditEntry, AuditEntry.action == "incident.create", AuditEntry.entity_id == str(inc["id"])) == 1
    )


def test_incident_by_road_and_stake_with_side_and_offset(store, officer):
    body = incident_body(
        store,
        lon=None,
        lat=None,
        accuracy_m=None,
        road="x1",
        stake="K2+100",
        side="left",
        offset_m=9.0,
        type="在建筑控制区内修建建筑物、地面构筑物",
    )
    inc = officer.post("/incidents", body).json()
    assert (inc["type"], inc["road_code"], inc["stake"], inc["side"]) == (
        "building",
        "X001",
        "K2+100",
        "left",
    )
    assert inc["offset_m"] == pytest.approx(9.0, abs=0.2) and inc["zone"] in ("road_land", "control_zone")
    on_road = officer.post(
        "/incidents", incident_body(store, lon=None, lat=None, road="X001", stake="K2+300", type="over_limit")
    ).json()
    assert (on_road["stake"], on_road["offset_m"], on_road["zone"]) == ("K2+300", None, "unknown")


def test_server_keeps_its_own_stake_and_says_so(store, officer):
    near = officer.post("/incidents", incident_body(store, device_road_code="X001", device_chainage_m=3250.4))
    assert near.status_code == 201 and near.json()["relocated"] is None
    far = officer.post("/incidents", incident_body(store, device_road_code="X001", device_stake="K3+240"))
    rel = far.json()["relocated"]
    assert rel["device"]["stake"] == "K3+240" and rel["server"]["stake"] == "K3+250"
    assert far.json()["stake"] == "K3+250"


def test_incident_refusals_write_nothing(store, officer):
    n, audits = count(Incident), count(AuditEntry)
    body = assert_error(
        officer.post("/incidents?lang=en", incident_body(store, type="飞碟", lon=150.0, lat=10.0)),
        422,
        "error.validation_failed",
    )
    fields = {e["field"]: e["code"] for e in body["errors"]}
    assert fields == {"type": "error.unknown_type", "lon": "error.out_of_area"}
    assert "unknown violation type" in body["errors"][0]["message"]
    assert_error(officer.post("/incidents", incident_body(store, found_at="2026-01-05 09:00")), 422)
    assert_error(
        officer.post("/incidents", incident_body(store, patrol_client_id=str(uuid.uuid4()))),
        409,
        "api.patrol_not_received",
    )
    assert_error(officer.post("/incidents", incident_body(store, patrol_id=999999)), 422)
    assert_error(officer.post("/incidents", incident_body(store, measure="order_correct")), 422)
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    assert_error(officer.post("/incidents", incident_body(store, found_at=future)), 422)
    assert_error(officer.post("/incidents", incident_body(store, description=["x"])), 422)
    assert (count(Incident), count(AuditEntry)) == (n, audits)


def test_incident_list_keyset_pagination(store, officer, as_user):
    start = now_iso()
    mine = [officer.post("/incidents", incident_body(store)).json()["id"] for _ in range(5)]
    as_user("officer2").post("/incidents", incident_body(store))
    seen, url, pages = [], f"/incidents?mine=1&since={start.replace('+', '%2B')}&limit=2", 0
    while url:
        r = officer.http.get(url if url.startswith("/api") else "/api/v1" + url)
        assert r.status_code == 200, r.text
        page = r.json()
        seen += [i["id"] for i in page["items"]]
        url, pages = page["next"], pages + 1
    assert seen == mine and pages == 3
    assert_error(officer.get("/incidents?limit=0"), 422)
    assert_error(officer.get("/incidents?since=yesterday"), 422)
    assert officer.get("/incidents?mine=1&since=2999-01-01T00:00:00Z").json() == {"items": [], "next": None}


def test_parties_masked_for_roles_without_view_party(store, officer, as_user):
    inc = officer.post("/incidents", incident_body(store, party="王大明", party_phone="13812345678")).json()
    assert inc["party"] == "王大明"
    seen = as_user("manager").get(f"/incidents/{inc['id']}").json()
    assert seen["party"] == "王**" and seen["party_phone"] == "138****5678"


# --- photos --------------------------------------------------------------------------------------------


def test_photo_upload_checked_and_stored_once(store, officer):
    inc = officer.post("/incidents", incident_body(store)).json()
    data = jpeg()
    sha = hashlib.sha256(data).hexdigest()
    files = {"file": ("p1.jpg", data, "image/jpeg")}
    r = officer.post(f"/incidents/{inc['id']}/photos", files=files, data={"sha256": sha})
    assert r.status_code == 201, r.text
    assert r.json()["photo"]["sha256"] == sha and len(r.json()["incident"]["photos"]) == 1
    assert (store.data_dir / "photos" / "originals" / sha[:2] / f"{sha}.jpg").read_bytes() == data
    again = officer.post(f"/incidents/{inc['client_id']}/photos", files=files)
    assert again.status_code == 200 and count(Photo, Photo.incident_id == inc["id"]) == 1
    assert count(AuditEntry, AuditEntry.action == "incident.photo") == 1


def test_photo_refusals(store, officer, as_user):
    inc = officer.post("/incidents", incident_body(store)).json()
    data = jpeg(seed=1)
    wrong = hashlib.sha256(b"other").hexdigest()
    body = assert_error(
        officer.post(
            f"/incidents/{inc['id']}/photos", files={"file": ("a.jpg", data)}, data={"sha256": wrong}
        ),
        422,
    )
    assert body["errors"][0]["field"] == "sha256" and body["errors"][0]["code"] == "api.sha256_mismatch"
    assert_error(
        officer.post(f"/incidents/{inc['id']}/photos", files={"file": ("a.txt", b"hello")}),
        422,
        "photo.unsupported",
    )
    assert_error(officer.post(f"/incidents/{inc['id']}/photos", json={"file": "x"}), 422)
    assert_error(officer.post("/incidents/999999/photos", files={"file": ("a.jpg", data)}), 404)
    assert_error(
        officer.post(f"/incidents/{inc['id']}/photos", files={"file": ("a.jpg", data)}, csrf=False), 403
    )
    assert_error(
        as_user("manager").post(f"/incidents/{inc['id']}/photos", files={"file": ("a.jpg", data)}), 403
    )
    big = officer.post(
        f"/incidents/{inc['id']}/photos",
        content=b"x",
        headers={"content-type": "multipart/form-data; boundary=x", "content-length": str(40 * 1024 * 1024)},
    )
    assert_error(big, 413)
    assert count(Photo, Photo.incident_id == inc["id"]) == 0


# --- errors --------------------------------------------------------------------------------------------


def test_unknown_paths_and_methods_answer_json(store, officer):
    assert_error(officer.get("/nothing-here"), 404, "api.not_found")
    assert_error(officer.http.put("/api/v1/incidents"), 405, "api.method_not_allowed")
    assert_error(
        officer.post(
            "/incidents", content=b"x" * (3 * 1024 * 1024), headers={"content-type": "application/json"}
        ),
        413,
        "api.too_large",
    )


def test_openapi_lists_every_route(store):
    from patrol_app.web.api import ROUTES

    from .conftest import client

    doc = client().get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    documented = {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops}
    served = {(r.path.replace("{ref}", "{ref}"), m) for r in ROUTES for m in r.methods - {"HEAD"}}
    assert served - {("/openapi.json", "GET")} == documented
