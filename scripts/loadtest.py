#!/usr/bin/env python3
"""The load + fault test on a local cluster (scripts/cluster.py), loopback only.

Starts a cluster of its own (unless ``--reuse``), runs locust headless (scripts/locustfile.py: field users sign in
through the API and log patrols and incidents, managers load reports and incident lists) for ``--seconds``,
and meanwhile SIGKILLs app1 and restarts it, then stops the standby and restarts it. Afterwards it checks:

- every acknowledged record (client_id answered 200/201) is in the primary exactly once;
- the standby catches up (its replayed WAL position reaches the primary's) and holds the same records;
- ``patrol audit verify`` passes;

prints throughput, p50/p95/p99 latency and errors, writes them to ``DIR/result.json``, takes the cluster down
(unless ``--keep``) and exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cluster import ROOT, Cluster, ClusterError


def faults(c: Cluster, seconds: float, t0: float, log: list[str], stop: threading.Event) -> None:
    """app1 killed (SIGKILL) at 25 % of the run and started again at once; the standby stopped at 55 % and
    started again 5 s later."""

    def at(fraction: float) -> bool:
        while time.time() < t0 + seconds * fraction:
            if stop.wait(0.1):
                return False
        return True

    def note(text: str) -> None:
        log.append(f"{time.time() - t0:.1f} s: {text}")
        print(log[-1], flush=True)

    try:
        if not at(0.25):
            return
        c.kill_app("app1")
        note("app1 killed (SIGKILL)")
        c.start_app("app1")
        note("app1 restarted and ready")
        if not at(0.55):
            return
        c.stop("standby")
        note("standby stopped")
        if stop.wait(5):
            c.start("standby")
            return
        c.start("standby")
        note("standby started")
    except Exception as exc:  # noqa: BLE001 - reported as a failed check
        note(f"fault injection failed: {exc}")


def stats(prefix: Path) -> dict:
    rows = {r["Name"]: r for r in csv.DictReader((prefix.parent / f"{prefix.name}_stats.csv").open())}

    def row(name: str) -> dict:
        r = rows.get(name)
        if r is None:
            return {}
        return {
            "requests": int(r["Request Count"]),
            "failures": int(r["Failure Count"]),
            "rps": float(r["Requests/s"]),
            "p50_ms": float(r["50%"]),
            "p95_ms": float(r["95%"]),
            "p99_ms": float(r["99%"]),
            "avg_ms": float(r["Average Response Time"]),
        }

    return {name: row(name) for name in rows}


def served(c: Cluster) -> dict[str, int]:
    """Requests each app server has answered since it (last) started, from its /metrics."""
    out = {}
    for name in ("app1", "app2"):
        try:
            text = (
                urllib.request.urlopen(f"http://127.0.0.1:{c.ports[name]}/metrics", timeout=5).read().decode()
            )
        except OSError:
            out[name] = -1
            continue
        out[name] = sum(
            int(float(line.rsplit(" ", 1)[1]))
            for line in text.splitlines()
            if line.startswith("patrol_http_requests_total{")
            and not any(f'route="/{p}"' in line for p in ("metrics", "readyz", "healthz"))
        )
    return out


def check_records(c: Cluster, acks: list[tuple[str, str]]) -> dict:
    import psycopg

    out: dict = {}
    for name in ("primary", "standby"):
        with psycopg.connect(f"postgresql://patrol@127.0.0.1:{c.ports[name]}/patrol") as conn:
            res = {}
            for kind, table in (("patrol", "patrols"), ("incident", "incidents")):
                ids = [cid for k, cid in acks if k == kind]
                counts = dict(
                    conn.execute(
                        f"SELECT client_id, count(*) FROM {table} WHERE client_id = ANY(%s) "
                        "GROUP BY client_id",
                        (ids,),
                    ).fetchall()
                )
                res[kind] = {
                    "acknowledged": len(ids),
                    "distinct": len(set(ids)),
                    "missing": sum(1 for i in set(ids) if i not in counts),
                    "duplicated": sum(1 for n in counts.values() if n != 1),
                    "rows": conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0],
                }
            res["in_recovery"] = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
            out[name] = res
    return out


def run(a: argparse.Namespace) -> int:
    c = Cluster(a.dir)
    t_up = time.time()
    if not a.reuse:
        c.up(a.base_port, a.proxy_port)
        c = Cluster(a.dir)
    up_s = time.time() - t_up
    print(f"cluster: {c.proxy_url} (up in {up_s:.0f} s)", flush=True)
    acks_path = c.dir / "acks.txt"
    acks_path.unlink(missing_ok=True)
    prefix = c.dir / "locust"
    env = {
        **os.environ,
        "LOAD_ACKS": str(acks_path),
        "LOAD_MANAGERS": str(a.managers),
        "LOAD_MAX_RECORDS": str(a.max_records),
    }
    if a.wait:
        env["LOAD_WAIT"] = a.wait
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "scripts" / "locustfile.py"),
        "--headless",
        "-u",
        str(a.users + a.managers),
        "-r",
        str(a.spawn_rate),
        "-t",
        f"{a.seconds}s",
        "--stop-timeout",
        "15",
        "--host",
        c.proxy_url,
        "--csv",
        str(prefix),
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--loglevel",
        "WARNING",
        *([] if a.managers else ["FieldUser"]),
    ]
    fault_log: list[str] = []
    stop = threading.Event()
    with (c.dir / "log" / "locust.log").open("w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        t0 = time.time()
        injector = threading.Thread(target=faults, args=(c, a.seconds, t0, fault_log, stop), daemon=True)
        if not a.no_faults:
            injector.start()
        try:
            proc.wait(a.seconds + 120)
        finally:
            stop.set()
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)
        if injector.is_alive():
            injector.join(120)
    elapsed = time.time() - t0
    result: dict = {
        "seconds": a.seconds,
        "users": a.users,
        "managers": a.managers,
        "cluster_up_s": round(up_s, 1),
        "faults": fault_log,
        "locust_exit": proc.returncode,
    }
    failures: list[str] = []
    try:
        acks = (
            [tuple(line.split()) for line in acks_path.read_text().splitlines() if line.strip()]
            if acks_path.exists()
            else []
        )
        result["served_since_start"] = served(c)
        primary, replayed = c.wait_caught_up(60)
        result["lsn"] = {"primary": primary, "standby_replayed": replayed}
        result["records"] = check_records(c, acks)  # type: ignore[arg-type]
        audit = c.patrol("audit", "verify", "--lang", "en", check=False)
        result["audit_verify"] = {
            "exit": audit.returncode,
            "out": (audit.stdout + audit.stderr).strip()[-500:],
        }
        result["stats"] = stats(prefix)
        fails = prefix.parent / f"{prefix.name}_failures.csv"
        result["errors"] = (
            [
                {
                    "request": f"{r['Method']} {r['Name']}",
                    "error": r["Error"][:300],
                    "count": int(r["Occurrences"]),
                }
                for r in csv.DictReader(fails.open())
            ]
            if fails.exists()
            else []
        )
    except ClusterError as exc:
        failures.append(str(exc))
    rec = result.get("records", {})
    for kind in ("patrol", "incident"):
        p = rec.get("primary", {}).get(kind, {})
        s = rec.get("standby", {}).get(kind, {})
        if p.get("missing") or p.get("duplicated"):
            failures.append(f"{kind}s: {p['missing']} acknowledged but missing, {p['duplicated']} duplicated")
        if p and s and (p["rows"] != s["rows"] or s.get("missing")):
            failures.append(f"{kind}s: standby has {s['rows']} rows, primary {p['rows']}")
    if rec and (rec["primary"]["in_recovery"] or not rec["standby"]["in_recovery"]):
        failures.append("the primary is in recovery or the standby is not")
    if result.get("audit_verify", {}).get("exit") != 0:
        failures.append("patrol audit verify failed: " + result.get("audit_verify", {}).get("out", ""))
    if not a.no_faults and len(fault_log) < 4:
        failures.append("faults not all injected: " + "; ".join(fault_log))
    if not rec.get("primary", {}).get("incident", {}).get("acknowledged"):
        failures.append("no incident was acknowledged")
    result["failures"] = failures
    incidents = rec.get("primary", {}).get("incident", {}).get("acknowledged", 0)
    result["incidents_per_s"] = round(incidents / elapsed, 1) if elapsed else 0
    (c.dir / "result.json").write_text(json.dumps(result, indent=1, ensure_ascii=False))
    report(result)
    if not a.keep:
        c.down()
        left = c.running()
        if left:
            failures.append(f"still running after cluster down: {left}")
            print(f"FAIL: still running after cluster down: {left}")
    return 1 if failures else 0


def report(r: dict) -> None:
    print(
        f"\nload: {r['users']} field users + {r['managers']} managers for {r['seconds']} s, through nginx to "
        f"two app servers; faults at {'; '.join(r['faults']) or 'none'}"
    )
    print(f"{'request':28} {'count':>7} {'errors':>6} {'req/s':>7} {'p50':>6} {'p95':>6} {'p99':>6}  (ms)")
    for name, s in sorted(r.get("stats", {}).items(), key=lambda kv: kv[0] == "Aggregated"):
        if s:
            print(
                f"{name:28} {s['requests']:7d} {s['failures']:6d} {s['rps']:7.1f} {s['p50_ms']:6.0f} "
                f"{s['p95_ms']:6.0f} {s['p99_ms']:6.0f}"
            )
    rec = r.get("records", {}).get("primary", {})
    if rec:
        print(
            f"acknowledged: {rec['incident']['acknowledged']} incidents ({r['incidents_per_s']}/s sustained), "
            f"{rec['patrol']['acknowledged']} patrols; missing {rec['incident']['missing'] + rec['patrol']['missing']}"
            f", duplicated {rec['incident']['duplicated'] + rec['patrol']['duplicated']}"
        )
    if "lsn" in r:
        print(f"standby caught up: primary {r['lsn']['primary']}, replayed {r['lsn']['standby_replayed']}")
    if "audit_verify" in r:
        print(
            f"patrol audit verify: exit {r['audit_verify']['exit']}: {r['audit_verify']['out'].splitlines()[0]}"
        )
    for e in r.get("errors", []):
        print(f"error x{e['count']}: {e['request']}: {e['error']}")
    print(f"API requests served since start: {r.get('served_since_start')}")
    print("RESULT: " + ("FAIL: " + "; ".join(r["failures"]) if r["failures"] else "PASS"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", default=str(ROOT / "var" / "bench-cluster"))
    p.add_argument("--base-port", type=int, default=56540)
    p.add_argument("--proxy-port", type=int, default=8640)
    p.add_argument("--seconds", type=int, default=180)
    p.add_argument("--users", type=int, default=50, help="field users logging patrols and incidents")
    p.add_argument("--managers", type=int, default=4, help="managers loading reports and lists")
    p.add_argument("--spawn-rate", type=float, default=10)
    p.add_argument("--max-records", type=int, default=100000, help="incidents per field user at most")
    p.add_argument("--wait", help="a field user's pause between incidents: MIN,MAX seconds (default 0.1,0.5)")
    p.add_argument("--reuse", action="store_true", help="use the cluster already running in --dir")
    p.add_argument("--keep", action="store_true", help="leave the cluster running afterwards")
    p.add_argument("--no-faults", action="store_true", help="load only: kill nothing")
    a = p.parse_args(argv)
    try:
        return run(a)
    except ClusterError as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        if not a.keep:
            Cluster(a.dir).down()
        return 1


if __name__ == "__main__":
    sys.exit(main())
