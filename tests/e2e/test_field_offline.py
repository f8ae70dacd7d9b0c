"""外业模式 (/field/) in Debian's Chromium: a whole patrol logged with the network cut, the browser closed and
reopened offline, then everything sent once — also when the server is killed in the middle of sending.

The browser runs on a profile folder of its own (a persistent context), so closing it and launching it again is
what an officer closing and reopening the browser does: IndexedDB and the service worker's caches survive.
Counts are checked in the SQLite store itself.
"""

from __future__ import annotations

import io
import random
import re
import time
from pathlib import Path

import pytest

from gis.stakes import format_stake
from tests.e2e.helpers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, DEMO_PASSWORD, db, demo_network

pytestmark = pytest.mark.e2e

ROAD = "X001"


@pytest.fixture(scope="module")
def demo_net():
    return demo_network()


def launch(browser, profile: Path, offline: bool = False, viewport=(768, 1024)):  # type: ignore[no-untyped-def]
    return browser.browser_type.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        viewport={"width": viewport[0], "height": viewport[1]},
        locale="zh-CN",
        permissions=["geolocation"],
        geolocation={"longitude": 103.8, "latitude": 25.5, "accuracy": 5},
        offline=offline,
        service_workers="allow",
    )


def photo_bytes(seed: int, size=(2000, 1500)) -> bytes:
    """A JPEG of about 1–2 MB (noise does not compress), different for every seed."""
    from PIL import Image

    rnd = random.Random(seed)
    img = Image.frombytes("RGB", size, rnd.randbytes(size[0] * size[1] * 3))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def sign_in_field(pg, username: str = "leader") -> None:  # type: ignore[no-untyped-def]
    pg.get_by_label("用户名").fill(username)
    pg.get_by_label("密码").fill(DEMO_PASSWORD)
    pg.get_by_role("button", name="登录").click()
    pg.wait_for_selector("#patrol-form", timeout=30_000)


def outbox(pg) -> list[dict]:  # type: ignore[no-untyped-def]
    return pg.evaluate(
        "FieldOutbox.all().then(l => l.map(r => ({kind: r.kind, state: r.state, reason: r.reason,"
        " client_id: r.client_id, result: r.result || null})))"
    )


def wait_all_sent(pg, timeout_s: float = 120) -> list[dict]:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout_s
    while True:
        recs = outbox(pg)
        if recs and all(r["state"] == "sent" for r in recs):
            return recs
        refused = [r for r in recs if r["state"] == "refused"]
        assert not refused, refused
        if time.time() > deadline:
            pytest.fail(f"not all sent: {[(r['kind'], r['state']) for r in recs]}")
        time.sleep(0.5)


def log_incident(
    pg,
    ctx,
    net,
    chainage: float,
    offset: float,
    side: str,
    photo: bytes,
    how: str,  # type: ignore[no-untyped-def]
    description: str,
) -> dict:
    from gis.linref import locate, offset_point

    lon, lat = offset_point(net, ROAD, chainage, offset, side)
    lon, lat = round(lon, 7), round(lat, 7)
    expected = locate(net, lon, lat)
    pg.get_by_role("button", name="登记问题", exact=True).first.click()
    pg.wait_for_selector("#incident-form")
    pg.select_option("select[name=type]", "materials")
    pg.fill("textarea[name=description]", description)
    pg.fill("input[name=party]", "张三")
    pg.select_option("select[name=measure]", "persuasion")
    if how == "gps":
        ctx.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 6})
        pg.click("#gps")
    else:  # a tap on the cached road map, as an officer would with no GPS fix
        pg.click("#show-map")
        pg.wait_for_function("() => window.fieldMap !== undefined")
        pg.evaluate("([lat, lon]) => window.fieldMap.setView([lat, lon], 18, {animate: false})", [lat, lon])
        pg.wait_for_timeout(300)
        x, y = pg.evaluate(
            "([lat, lon]) => { const p = window.fieldMap.latLngToContainerPoint([lat, lon]);"
            " const r = window.fieldMap.getContainer().getBoundingClientRect();"
            " return [r.left + p.x, r.top + p.y]; }",
            [lat, lon],
        )
        pg.mouse.click(x, y)
    stake_text = pg.locator("#stake-text")
    stake_text.wait_for(timeout=20_000)
    pg.set_input_files(
        "#photo-input", files=[{"name": f"现场{chainage:.0f}.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    pg.wait_for_selector("#thumbs img")
    text = stake_text.inner_text()
    pg.click("#save-incident")
    pg.wait_for_selector(".msg.ok")
    return {"lon": lon, "lat": lat, "expected": expected, "shown": text, "description": description}


def test_offline_patrol_arrives_once(browser, server, demo_net, tmp_path):
    profile = tmp_path / "profile"
    con = db(server)
    before_incidents = con.execute("select count(*) from incidents").fetchone()[0]
    before_patrols = con.execute("select count(*) from patrols").fetchone()[0]
    con.close()

    # 1. first visit with signal: sign in; the service worker caches the page, the roads and the catalog
    ctx = launch(browser, profile)
    pg = ctx.new_page()
    pg.goto(server.url + "/field/")
    sign_in_field(pg)
    pg.wait_for_function("navigator.serviceWorker.controller !== null", timeout=30_000)
    pg.wait_for_function(
        "caches.open('patrol-field-data').then(c => c.keys()).then(k => k.length >= 2)", timeout=30_000
    )
    cached = pg.evaluate("caches.open('patrol-field-data').then(c => c.keys()).then(k => k.map(r => r.url))")
    assert {server.url + "/api/v1/roads", server.url + "/api/v1/catalog"} <= set(cached)

    # 2. the signal goes: reload from the device, start a patrol on X001 with two officers and a vehicle
    ctx.set_offline(True)
    pg.reload()
    pg.wait_for_selector("#patrol-form", timeout=30_000)
    assert pg.locator("#net").inner_text() == "离线"
    pg.locator(".chip", has_text=ROAD).click()
    for name in ("李明",):  # the signed-in officer (张建华) is already ticked
        pg.locator(".chip", has_text=name).click()
    pg.locator(".chip", has_text="云D·L0301").click()
    pg.get_by_role("button", name="开始巡查", exact=True).last.click()
    pg.wait_for_selector("#patrol-running")

    # a simulated drive along X001 at about 140 km/h (faster would be a wild fix to the server); the track
    # records a point every 25 m or 15 s
    from gis.linref import offset_point

    for ch in range(500, 1700, 40):
        lon, lat = offset_point(demo_net, ROAD, float(ch), 2.0, "right")
        ctx.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 8})
        pg.wait_for_timeout(1000)
    pg.wait_for_function("FieldOutbox.getMeta('track').then(t => t && t.count >= 25)", timeout=20_000)

    # 3. three incidents with photos: two by GPS, one by a tap on the map; the stake is shown before saving
    logged = [
        log_incident(pg, ctx, demo_net, 800.0, 9.0, "left", photo_bytes(1), "gps", "路肩堆放砂石"),
        log_incident(pg, ctx, demo_net, 1500.0, 14.0, "right", photo_bytes(2), "map", "公路用地外侧堆放建材"),
        log_incident(pg, ctx, demo_net, 2300.0, 4.0, "right", photo_bytes(3), "gps", "路面堆放杂物"),
    ]
    for item in logged:
        e = item["expected"]
        side = "左侧" if e.side == "left" else "右侧"
        assert f"{e.road_code}" in item["shown"] and side in item["shown"]
        shown_ch = re.search(r"K(\d+)\+(\d{3})", item["shown"])
        assert shown_ch and abs(int(shown_ch[1]) * 1000 + int(shown_ch[2]) - e.chainage_m) <= 1.0, item

    # end the patrol, still offline
    pg.once("dialog", lambda d: d.accept("17:30"))
    pg.get_by_role("button", name="巡查", exact=True).click()
    pg.click("#end-patrol")
    pg.wait_for_selector("#patrol-form")
    recs = outbox(pg)
    kinds = [r["kind"] for r in recs]
    assert kinds.count("incident") == 3 and kinds.count("photo") == 3
    assert kinds.count("patrol_start") == 1 and kinds.count("patrol_end") == 1 and kinds.count("track") >= 1
    assert all(r["state"] == "waiting" for r in recs)
    assert pg.locator("#badge").inner_text() == f"{len(recs)} 条待上传"
    ctx.close()  # the browser is closed

    # 4. reopened later, still without signal: the page comes from the device, everything still queued
    ctx = launch(browser, profile, offline=True)
    pg = ctx.new_page()
    pg.goto(server.url + "/field/")
    pg.wait_for_selector("#patrol-form", timeout=30_000)
    assert pg.locator("#badge").inner_text() == f"{len(recs)} 条待上传"
    pg.get_by_role("button", name="待上传", exact=True).last.click()
    pg.wait_for_selector("#outbox-list li.rec")
    assert pg.locator("#outbox-list li[data-kind=incident][data-state=waiting]").count() == 3
    ARTIFACTS.mkdir(exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "field-outbox-offline.png"), full_page=True)
    con = db(server)
    assert con.execute("select count(*) from incidents").fetchone()[0] == before_incidents
    con.close()

    # 5. signal again: sending starts by itself; the server is killed in the middle and started again
    ctx.set_offline(False)
    pg.wait_for_function(
        "FieldOutbox.all().then(l => l.some(r => r.kind === 'photo' && r.state === 'sending'))",
        timeout=60_000,
        polling=20,
    )
    server.stop(kill=True)
    mid = outbox(pg)
    assert any(r["state"] != "sent" for r in mid)
    time.sleep(1)
    server.start()
    recs = wait_all_sent(pg, timeout_s=150)
    assert pg.locator("#badge").inner_text() == "全部已上传"
    pg.screenshot(path=str(ARTIFACTS / "field-outbox-sent.png"), full_page=True)

    # 6. in the store: everything exactly once, with stakes, photos, and the patrol's track and km
    con = db(server)
    ids = {r["client_id"] for r in recs if r["kind"] == "incident"}
    rows = con.execute(
        f"select id, client_id, road_code, stake, chainage_m, side, description, patrol_id from incidents "
        f"where client_id in ({','.join('?' * len(ids))})",
        sorted(ids),
    ).fetchall()
    assert len(rows) == 3
    assert con.execute("select count(*) from incidents").fetchone()[0] == before_incidents + 3
    by_desc = {r[6]: r for r in rows}
    for item in logged:
        e = item["expected"]
        row = by_desc[item["description"]]
        # a map tap lands within a pixel (~0.6 m at zoom 18) of the point aimed at
        assert row[2] == e.road_code and row[5] == e.side and abs(row[4] - e.chainage_m) <= 1.5
        assert row[3] == format_stake(row[4])
        shown = re.search(r"K(\d+)\+(\d{3})", item["shown"])
        assert (
            abs(int(shown[1]) * 1000 + int(shown[2]) - row[4]) <= 1.0
        )  # the device showed the server's stake
    assert {r[7] for r in rows} != {None}
    photos = con.execute(
        f"select incident_id, count(*) from photos where incident_id in ({','.join(str(r[0]) for r in rows)})"
        " group by incident_id"
    ).fetchall()
    assert sorted(n for _, n in photos) == [1, 1, 1]
    patrol_cid = next(r["client_id"] for r in recs if r["kind"] == "patrol_start")
    patrols = con.execute(
        "select id, status, km, km_method from patrols where client_id = ?", (patrol_cid,)
    ).fetchall()
    assert len(patrols) == 1
    pid, status, km, method = patrols[0]
    assert con.execute("select count(*) from patrols").fetchone()[0] == before_patrols + 1
    assert {r[7] for r in rows} == {pid}
    track = con.execute("select points, km from patrol_tracks where patrol_id = ?", (pid,)).fetchone()
    # 1.16 km driven, then on to the incidents (the GPS fixes taken for them are track points too)
    assert track and track[0] >= 25 and 1.0 < track[1] < 4.0, track
    assert status == "closed" and method == "track" and km == pytest.approx(track[1], abs=0.1)
    batches = sum(1 for r in recs if r["kind"] == "track")
    assert (
        con.execute("select count(*) from patrol_track_batches where patrol_id = ?", (pid,)).fetchone()[0]
        == batches
    )
    con.close()
    ctx.close()
