#!/usr/bin/env python3
"""A local test cluster on loopback: a PostgreSQL primary, a streaming hot standby, two ``patrol serve`` app
servers and nginx in front with sticky routing by cookie, sharing one database, one photo directory and the
session store (sessions are database rows). Loads the demo (a test cluster: demo accounts, password patrol-demo).

    python scripts/cluster.py up   [--dir var/cluster] [--base-port 56500] [--proxy-port 8600]
    python scripts/cluster.py down [--dir var/cluster]
    python scripts/cluster.py status|kill NAME|start NAME|stop NAME [--dir ...]

Ports: primary = base, standby = base+1, app1 = base+2, app2 = base+3; the proxy on --proxy-port.
Each process's PID is in DIR/<name>.pid (primary, standby, app1, app2, proxy); logs in DIR/log/.
Run as root, PostgreSQL runs as the ``postgres`` user (``runuser``), as scripts/pgtest.sh does.
Only the standard library here: ``make cluster-up`` runs it with the project's virtualenv Python, and the app
servers are ``python -m patrol_app.cli serve`` from this checkout.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("primary", "standby", "app1", "app2", "proxy")
APPS = ("app1", "app2")
DB = "patrol"
SLOT = "standby1"


class ClusterError(Exception):
    pass


def pg_bin() -> Path:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parts[-3].split(".")],
    )
    if not found:
        raise ClusterError(
            "PostgreSQL server binaries not found (make system-deps installs Debian's postgresql)"
        )
    return found[-1].parent


def nginx_bin() -> str:
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(path).exists():
        raise ClusterError("nginx not found (make system-deps installs Debian's nginx-light)")
    return path


def _as_pg() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:  # type: ignore[no-untyped-def]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if res.returncode != 0:
        raise ClusterError(
            f"{' '.join(map(str, cmd))} failed ({res.returncode}): {res.stderr.strip()[-2000:]}"
        )
    return res


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (a child of ours not reaped yet) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


class Cluster:
    def __init__(self, directory: Path | str) -> None:
        self.dir = Path(directory).resolve()
        self.state_file = self.dir / "cluster.json"
        self.state: dict = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        self.timings: dict[str, float] = {}

    # --- layout -----------------------------------------------------------------------------------------------

    @property
    def ports(self) -> dict[str, int]:
        return self.state["ports"]

    @property
    def pg_root(self) -> Path:
        return Path(self.state["pg_root"])

    def url(self, name: str = "primary") -> str:
        return f"postgresql+psycopg://patrol@127.0.0.1:{self.ports[name]}/{DB}"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['proxy']}"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"  # PATROL_DATA_DIR of every app server: photos, audit key

    def pid_file(self, name: str) -> Path:
        return self.dir / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        try:
            return int(self.pid_file(name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self) -> dict[str, int]:
        out = {}
        for name in NAMES:
            pid = self.pid(name)
            if pid and _alive(pid):
                out[name] = pid
        return out

    def log(self, name: str) -> Path:
        return self.dir / "log" / f"{name}.log"

    def env(self) -> dict[str, str]:
        """The environment of the app servers and of ``patrol`` commands run against the cluster."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PATROL_")}
        env.update(
            {
                "PATROL_DB_URL": self.url("primary"),
                "PATROL_DB_READ_URL": self.url("standby"),
                "PATROL_DATA_DIR": str(self.data_dir),
                "PYTHONPATH": str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
                # Streamlit's own cookies signed alike on both servers (the page's session is a database row anyway)
                "STREAMLIT_SERVER_COOKIE_SECRET": self.state["cookie_secret"],
            }
        )
        return env

    def patrol(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "patrol_app.cli", *args]
        res = subprocess.run(cmd, cwd=ROOT, env=self.env(), capture_output=True, text=True, check=False)
        if check and res.returncode != 0:
            raise ClusterError(
                f"patrol {' '.join(args)} failed: {(res.stderr or res.stdout).strip()[-2000:]}"
            )
        return res

    # --- PostgreSQL ----------------------------------------------------------------------------------------------

    def _pg_dir(self, name: str) -> Path:
        return self.pg_root / name

    def _pg_start(self, name: str) -> None:
        data = self._pg_dir(name)
        _run(
            [
                *_as_pg(),
                str(pg_bin() / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(self.pg_root / f"{name}.log"),
                "-w",
                "-t",
                "60",
                "-o",
                (f"-p {self.ports[name]} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"),
                "start",
            ]
        )
        pid = (data / "postmaster.pid").read_text().split()[0]
        self.pid_file(name).write_text(pid + "\n")

    def _pg_stop(self, name: str, mode: str = "fast") -> None:
        data = self._pg_dir(name)
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*_as_pg(), str(pg_bin() / "pg_ctl"), "-D", str(data), "-m", mode, "-w", "-t", "60", "stop"],
                capture_output=True,
                check=False,
            )
        pid = self.pid(name)
        if pid and _alive(pid):
            os.kill(pid, signal.SIGKILL)
        self.pid_file(name).unlink(missing_ok=True)

    def _make_pg_root(self) -> Path:
        """PostgreSQL's data directories: under DIR when the postgres user can reach it, else in /tmp (a clone
        under /root, say) with DIR/pg a link to it."""
        wanted = self.dir / "pg"
        wanted.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(wanted, "postgres")
            if subprocess.run(
                ["runuser", "-u", "postgres", "--", "test", "-w", str(wanted)], check=False
            ).returncode:
                wanted.rmdir()
                tmp = Path(tempfile.mkdtemp(prefix="patrol-cluster-"))
                shutil.chown(tmp, "postgres")
                wanted.symlink_to(tmp)
                return tmp
        return wanted

    def _sql(self, name: str, query: str) -> str:
        res = _run(
            [
                str(pg_bin() / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.ports[name]),
                "-U",
                "patrol",
                "-d",
                DB,
                "-XAtqc",
                query,
            ]
        )
        return res.stdout.strip()

    def init_pg(self) -> None:
        root = self.pg_root
        _run(
            [
                *_as_pg(),
                str(pg_bin() / "initdb"),
                "-D",
                str(root / "primary"),
                "-U",
                "patrol",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )
        self._pg_start("primary")
        _run(
            [
                str(pg_bin() / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.ports["primary"]),
                "-U",
                "patrol",
                DB,
            ]
        )
        # A replication slot keeps the WAL the standby has not received: a standby stopped for a while catches up.
        _run(
            [
                *_as_pg(),
                str(pg_bin() / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.ports["primary"]),
                "-U",
                "patrol",
                "-D",
                str(root / "standby"),
                "-R",
                "-X",
                "stream",
                "-C",
                "-S",
                SLOT,
                "-c",
                "fast",
            ]
        )
        self._pg_start("standby")

    def lsn(self) -> tuple[str, str]:
        """(the primary's current WAL position, the standby's replayed position)."""
        return (
            self._sql("primary", "SELECT pg_current_wal_lsn()"),
            self._sql("standby", "SELECT pg_last_wal_replay_lsn()"),
        )

    def wait_caught_up(self, timeout: float = 60) -> tuple[str, str]:
        """Wait until the standby has replayed everything the primary has written (LSNs equal)."""
        deadline = time.time() + timeout
        while True:
            primary = self._sql("primary", "SELECT pg_current_wal_lsn()")
            replay = self._sql(
                "standby", f"SELECT pg_last_wal_replay_lsn() >= '{primary}'::pg_lsn, pg_last_wal_replay_lsn()"
            )
            ok, at = replay.split("|")
            if ok == "t":
                return primary, at
            if time.time() > deadline:
                raise ClusterError(f"standby behind: primary at {primary}, standby replayed {at}")
            time.sleep(0.2)

    # --- app servers and proxy -----------------------------------------------------------------------------------

    def start_app(self, name: str, timeout: float = 90) -> None:
        self.wait_ready(name, timeout, self.spawn_app(name))

    def spawn_app(self, name: str) -> subprocess.Popen:
        log = self.log(name).open("a")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "patrol_app.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.ports[name]),
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.pid_file(name).write_text(f"{proc.pid}\n")
        return proc

    def wait_ready(self, name: str, timeout: float = 90, proc: subprocess.Popen | None = None) -> None:
        url = f"http://127.0.0.1:{self.ports[name]}/readyz"
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=3) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if (proc is not None and proc.poll() is not None) or time.time() > deadline:
                raise ClusterError(
                    f"{name} did not become ready; its log:\n" + self.log(name).read_text()[-3000:]
                )
            time.sleep(0.3)

    def stop_app(self, name: str, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        pid = self.pid(name)
        if pid and _alive(pid):
            try:
                os.killpg(pid, sig)  # the server and anything it started
            except ProcessLookupError:
                pass
            deadline = time.time() + timeout
            while _alive(pid) and time.time() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
                while _alive(pid):
                    time.sleep(0.05)
        self.pid_file(name).unlink(missing_ok=True)

    def kill_app(self, name: str) -> None:
        """SIGKILL the app server process (a server's death: no shutdown of any kind)."""
        pid = self.pid(name)
        if pid is None:
            raise ClusterError(f"{name} is not running")
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
        self.pid_file(name).unlink(missing_ok=True)

    def nginx_conf(self) -> str:
        """The shipped deploy/nginx.conf's routing (a routing cookie, hash on it, websockets, retries), on plain
        HTTP on loopback for the test cluster, both app servers in the upstream."""
        p = self.dir / "proxy"
        servers = "\n".join(
            f"        server 127.0.0.1:{self.ports[a]} max_fails=1 fail_timeout=5s;" for a in APPS
        )
        return f"""# Generated by scripts/cluster.py for the local test cluster (see deploy/nginx.conf for a server).
pid {self.pid_file("proxy")};
error_log {p}/error.log warn;
worker_processes 1;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {p}/tmp; proxy_temp_path {p}/tmp; fastcgi_temp_path {p}/tmp;
    uwsgi_temp_path {p}/tmp; scgi_temp_path {p}/tmp;

    map $cookie_patrol_route $patrol_route {{
        ""      $request_id;
        default $cookie_patrol_route;
    }}
    map $cookie_patrol_route $patrol_route_cookie {{
        ""      "patrol_route=$request_id; Path=/; HttpOnly; SameSite=Lax";
        default "";
    }}
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ""      close;
    }}
    upstream patrol_app {{
        hash $patrol_route consistent;
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{self.ports["proxy"]};
        add_header Set-Cookie $patrol_route_cookie always;
        client_max_body_size 30m;
        location / {{
            proxy_pass http://patrol_app;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
            # A server that died mid-request: the request goes to the other one. The API's writes are idempotent
            # (client_id), so a POST may be passed on too.
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
        }}
    }}
}}
"""

    def start_proxy(self) -> None:
        p = self.dir / "proxy"
        (p / "tmp").mkdir(parents=True, exist_ok=True)
        (p / "nginx.conf").write_text(self.nginx_conf())
        _run([nginx_bin(), "-t", "-q", "-p", str(p), "-c", str(p / "nginx.conf")])
        _run([nginx_bin(), "-p", str(p), "-c", str(p / "nginx.conf")])  # daemonises; writes DIR/proxy.pid
        deadline = time.time() + 15
        while True:
            try:
                with urllib.request.urlopen(self.proxy_url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.time() > deadline:
                raise ClusterError("nginx did not answer: " + (p / "error.log").read_text()[-2000:])
            time.sleep(0.1)

    def stop_proxy(self) -> None:
        pid = self.pid("proxy")
        if pid and _alive(pid):
            os.kill(pid, signal.SIGQUIT)  # graceful: the workers finish their requests
            deadline = time.time() + 10
            while _alive(pid) and time.time() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.pid_file("proxy").unlink(missing_ok=True)

    # --- the whole --------------------------------------------------------------------------------------------------

    def up(self, base_port: int, proxy_port: int, demo: bool = True) -> None:
        running = self.running()
        if running:
            raise ClusterError(
                f"a cluster is running in {self.dir} ({', '.join(running)}): make cluster-down first"
            )
        if self.dir.exists():
            self._remove_dir()
        (self.dir / "log").mkdir(parents=True)
        self.data_dir.mkdir()
        ports = {
            "primary": base_port,
            "standby": base_port + 1,
            "app1": base_port + 2,
            "app2": base_port + 3,
            "proxy": proxy_port,
        }
        self.state = {"ports": ports, "pg_root": "", "cookie_secret": secrets.token_hex(32)}
        self.state["pg_root"] = str(self._make_pg_root())
        self._save()
        try:
            t = time.time()
            self.init_pg()
            self.timings["postgresql"] = time.time() - t
            t = time.time()
            self.patrol("db", "upgrade")
            if demo:
                self.patrol("demo", "--if-empty")
            self.timings["demo"] = time.time() - t
            t = time.time()
            procs = [self.spawn_app(name) for name in APPS]  # both start at once
            for name, proc in zip(APPS, procs):
                self.wait_ready(name, 120, proc)
            self.timings["app servers"] = time.time() - t
            self.start_proxy()
        except BaseException:
            self.down()
            raise

    def down(self) -> list[str]:
        stopped = []
        if not self.state:
            return stopped
        if self.pid("proxy"):
            self.stop_proxy()
            stopped.append("proxy")
        for name in APPS:
            if self.pid(name):
                self.stop_app(name)
                stopped.append(name)
        for name in ("standby", "primary"):
            if self.pid(name) or (
                self.state.get("pg_root") and (self._pg_dir(name) / "postmaster.pid").exists()
            ):
                self._pg_stop(name)
                stopped.append(name)
        pg = self.dir / "pg"
        if pg.is_symlink():  # data outside the checkout (in /tmp): nothing in it is kept after a stop
            shutil.rmtree(pg.resolve(), ignore_errors=True)
            pg.unlink()
        return stopped

    def _save(self) -> None:
        self.state_file.write_text(json.dumps(self.state, indent=1))

    def _remove_dir(self) -> None:
        pg = self.dir / "pg"
        if pg.is_symlink():
            shutil.rmtree(pg.resolve(), ignore_errors=True)
            pg.unlink()
        shutil.rmtree(self.dir, ignore_errors=True)

    def status(self) -> dict[str, int | None]:
        return {
            name: (self.pid(name) if self.pid(name) and _alive(self.pid(name)) else None) for name in NAMES
        }

    def start(self, name: str) -> None:
        if name in APPS:
            self.start_app(name)
        elif name in ("primary", "standby"):
            self._pg_start(name)
        elif name == "proxy":
            self.start_proxy()
        else:
            raise ClusterError(f"no such process: {name}")

    def stop(self, name: str) -> None:
        if name in APPS:
            self.stop_app(name)
        elif name in ("primary", "standby"):
            self._pg_stop(name)
        elif name == "proxy":
            self.stop_proxy()
        else:
            raise ClusterError(f"no such process: {name}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["up", "down", "status", "kill", "start", "stop", "lsn"])
    p.add_argument("name", nargs="?", choices=NAMES)
    p.add_argument("--dir", default=os.environ.get("CLUSTER_DIR") or str(ROOT / "var" / "cluster"))
    p.add_argument("--base-port", type=int, default=int(os.environ.get("CLUSTER_BASE_PORT") or 56500))
    p.add_argument("--proxy-port", type=int, default=int(os.environ.get("CLUSTER_PROXY_PORT") or 8600))
    p.add_argument("--no-demo", action="store_true", help="do not load the demo")
    a = p.parse_args(argv)
    c = Cluster(a.dir)
    try:
        if a.command == "up":
            t0 = time.time()
            c.up(a.base_port, a.proxy_port, demo=not a.no_demo)
            steps = ", ".join(f"{k} {v:.0f} s" for k, v in c.timings.items())
            print(f"cluster up in {time.time() - t0:.0f} s ({steps}) in {c.dir}:")
            for name, pid in c.status().items():
                print(f"  {name:8} pid {pid}  port {c.ports[name]}")
            if not a.no_demo:
                print(
                    "demo accounts (officer, officer2, leader, reviewer, manager, admin), password patrol-demo"
                )
            print(c.proxy_url)
        elif a.command == "down":
            stopped = c.down()
            left = c.running()
            if left:
                print(f"still running: {left}", file=sys.stderr)
                return 1
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        elif a.command == "status":
            for name, pid in c.status().items():
                print(f"{name:8} {'pid ' + str(pid) if pid else 'stopped'}")
        elif a.command == "lsn":
            primary, replayed = c.lsn()
            print(f"primary {primary}, standby replayed {replayed}")
        else:
            if not a.name:
                p.error(f"{a.command} needs a process name")
            {"kill": c.kill_app, "start": c.start, "stop": c.stop}[a.command](a.name)
    except ClusterError as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
