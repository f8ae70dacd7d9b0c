"""The JSON API under the real `patrol serve` (Streamlit's ASGI app + our routes): the API answers before the
pages' catch-all, gzip applies, the cookie works across requests. No browser needed."""

import httpx


def test_api_under_patrol_serve(server):
    with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as c:
        assert c.get("/me").status_code == 401 and c.get("/me").json()["code"] == "api.signed_out"
        r = c.post("/session", json={"username": "officer", "password": "patrol-demo"})
        assert r.status_code == 200 and "HttpOnly" in r.headers["set-cookie"]
        csrf = r.json()["csrf_token"]
        roads = c.get("/roads", headers={"Accept-Encoding": "gzip"})
        assert roads.status_code == 200 and roads.headers.get("content-encoding") == "gzip"
        assert roads.json()["type"] == "FeatureCollection"
        assert c.get("/nothing").json()["code"] == "api.not_found"
        assert c.get("/openapi.json").json()["openapi"].startswith("3.")
        assert c.delete("/session", headers={"X-CSRF-Token": csrf}).status_code == 200
        assert c.get("/me").status_code == 401
    assert httpx.get(server.url + "/_stcore/health").text == "ok"  # the pages' server still answers
