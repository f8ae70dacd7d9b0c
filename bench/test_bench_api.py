"""Issue 11 targets for the JSON API:

- 200 queued incidents with one 3 MB photo each sync in < 60 s against a local ``patrol serve`` (incident POST,
  then its photo as multipart with its SHA-256; three records in flight at once, as an outbox may send them);
- the road network for the device ≤ 1 MB for 5,000 segments (``GET /api/v1/roads``'s document; figures printed
  raw and gzipped).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from gis.roads import RoadNetwork, device_geojson

ROOT = Path(__file__).resolve().parents[1]
N_RECORDS = 200


def three_mb_jpeg() -> bytes:
    """A 12-megapixel camera-like JPEG of about 3 MB."""
    h, w = 3000, 4000
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(0)
    img = np.stack([x / w * 255, y / h * 255, (x + y) / (w + h) * 255], -1) + rng.normal(0, 12, (h, w, 3))
    buf = io.BytesIO()
    Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def distinct(base: bytes, i: int) -> bytes:
    """The same picture with a JPEG comment of its own: another file, the same decoding cost."""
    tag = f"photo {i:06d}".encode()
    return base[:2] + b"\xff\xfe" + (len(tag) + 2).to_bytes(2, "big") + tag + base[2:]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    sys.path.insert(0, str(ROOT))
    from tests.e2e.conftest import Server

    data = tmp_path_factory.mktemp("api-bench")
    env = {**os.environ, "PATROL_DATA_DIR": str(data)}
    env.pop("PATROL_DB_URL", None)
    subprocess.run(
        [sys.executable, "-m", "patrol_app.cli", "demo"], env=env, check=True, cwd=ROOT, capture_output=True
    )
    srv = Server(data).start()
    yield srv
    srv.stop()
    shutil.rmtree(data, ignore_errors=True)


def test_sync_200_incidents_with_3mb_photos(benchmark, server):
    base = three_mb_jpeg()
    photos = [distinct(base, i) for i in range(N_RECORDS)]
    with httpx.Client(base_url=server.url + "/api/v1", timeout=120) as c:
        r = c.post("/session", json={"username": "officer", "password": "patrol-demo"})
        csrf = r.json()["csrf_token"]
        cookies = dict(c.cookies)
        roads = c.get("/roads").json()
    x001 = [f for f in roads["features"] if f["properties"]["code"] == "X001"][0]
    lon0, lat0 = x001["geometry"]["coordinates"][3]
    found = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()

    def send(i: int) -> tuple[int, int]:
        with httpx.Client(
            base_url=server.url + "/api/v1", timeout=120, cookies=cookies, headers={"X-CSRF-Token": csrf}
        ) as c:
            body = {
                "client_id": str(uuid.uuid4()),
                "type": "materials",
                "found_at": found,
                "lon": lon0 + 0.0001,
                "lat": lat0,
                "accuracy_m": 5.0,
                "description": f"记录 {i}",
            }
            a = c.post("/incidents", json=body)
            data = photos[i]
            b = c.post(
                f"/incidents/{a.json()['id']}/photos",
                files={"file": (f"p{i}.jpg", data, "image/jpeg")},
                data={"sha256": hashlib.sha256(data).hexdigest()},
            )
            return a.status_code, b.status_code

    def sync() -> list[tuple[int, int]]:
        with ThreadPoolExecutor(3) as pool:
            return list(pool.map(send, range(N_RECORDS)))

    cpu0 = server_cpu_seconds(server.proc.pid)
    results = benchmark.pedantic(sync, rounds=1, iterations=1)
    cpu = server_cpu_seconds(server.proc.pid) - cpu0
    assert results == [(201, 201)] * N_RECORDS
    mb = sum(map(len, photos)) / 1e6
    print(
        f"\n{N_RECORDS} incidents + photos ({mb:.0f} MB) synced in {benchmark.stats.stats.max:.1f} s; "
        f"the server used {cpu:.1f} CPU seconds ({cpu / N_RECORDS * 1000:.0f} ms a record), "
        f"load average {os.getloadavg()[0]:.1f}"
    )


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server process and its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_roads_document_for_5000_segments(benchmark, big_network: RoadNetwork):
    doc = benchmark(device_geojson, big_network)
    raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    packed = gzip.compress(raw, 6)
    print(
        f"\nroads for {big_network.segment_count} segments: {len(raw) / 1e6:.3f} MB, "
        f"gzipped {len(packed) / 1e6:.3f} MB"
    )
    assert len(raw) <= 1_000_000
    # the device's chainage at each vertex is the server's
    f = doc["features"][0]
    lon, lat = f["geometry"]["coordinates"][5]
    from gis.linref import locate

    assert abs(locate(big_network, lon, lat).chainage_m - f["properties"]["m"][5]) < 0.5
