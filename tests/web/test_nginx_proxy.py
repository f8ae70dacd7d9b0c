"""The shipped deploy/nginx.conf, run by Debian's nginx in front of a real `patrol serve`: HTTPS, a routing
cookie for sticky websockets, probes through the proxy."""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import Server
from tests.e2e.helpers import ROOT

pytestmark = pytest.mark.http
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def proxied(tmp_path, demo_db_template):
    if not Path(NGINX).exists():
        pytest.fail("nginx not found: `make system-deps` installs Debian's nginx")
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(demo_db_template, data / "patrol.db")
    app = Server(data, {"PATROL_BEHIND_PROXY": "1"}).start()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            key,
            "-out",
            cert,
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    https, http = _free_port(), _free_port()
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    site = (
        site.replace("/etc/ssl/patrol/fullchain.pem", str(cert))
        .replace("/etc/ssl/patrol/privkey.pem", str(key))
        .replace("127.0.0.1:8501", f"127.0.0.1:{app.port}")
        .replace("listen 443", f"listen 127.0.0.1:{https}")
        .replace("listen 80", f"listen 127.0.0.1:{http}")
    )
    site = re.sub(r"^\s*listen \[::\].*$", "", site, flags=re.M)
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(f"""
daemon off; pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; client_body_temp_path {tmp_path}; proxy_temp_path {tmp_path};
       fastcgi_temp_path {tmp_path}; uwsgi_temp_path {tmp_path}; scgi_temp_path {tmp_path};
       include {tmp_path}/site.conf; }}
""")
    check = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen(
        [NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"https://127.0.0.1:{https}"
    ctx = ssl.create_default_context(cafile=str(cert))
    ctx.check_hostname = False
    deadline = time.time() + 15
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", context=ctx, timeout=2).read()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.2)
    yield url, ctx, app
    proc.terminate()
    proc.wait(10)
    app.stop()


def test_https_proxy_with_a_routing_cookie(proxied):
    url, ctx, _ = proxied
    with urllib.request.urlopen(url + "/healthz", context=ctx) as r:
        assert r.read() == b"ok"
        cookie = r.headers.get("Set-Cookie", "")
        assert r.headers["Strict-Transport-Security"]
    route = re.match(r"patrol_route=([0-9a-f]{32});", cookie)
    assert route and "Secure" in cookie and "HttpOnly" in cookie

    req = urllib.request.Request(url + "/readyz", headers={"Cookie": f"patrol_route={route.group(1)}"})
    with urllib.request.urlopen(req, context=ctx) as r:
        assert r.read() == b"ready"
        assert r.headers.get("Set-Cookie") is None  # the browser keeps its route


def test_sign_out_cookie_is_secure_behind_the_proxy(proxied):
    url, ctx, _ = proxied

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):  # type: ignore[no-untyped-def]
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), NoRedirect)
    try:
        opener.open(url + "/auth/sign-out")
    except urllib.error.HTTPError as e:
        assert e.code == 303
        cookies = e.headers.get_all("Set-Cookie")
    session = [c for c in cookies if c.startswith("patrol_session=")]
    assert session and "Secure" in session[0]
