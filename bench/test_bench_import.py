"""Issue target: importing a 100,000-row incident ledger < 30 s (CSV and XLSX, Chinese headers)."""

import csv
import datetime as dt

import numpy as np
import pytest
from sqlalchemy import func, select

from gis.linref import offset_point
from patrol_app.demo import build_demo
from patrol_app.services.records import import_ledger
from patrol_app.services.roads import network
from patrol_app.services.users import cli_actor
from patrol_app.storage.db import session_scope
from patrol_app.storage.migrate import upgrade
from patrol_app.storage.models import Incident

N = 100_000
HEADER = [
    "发现时间",
    "违法类型",
    "路线编号",
    "桩号",
    "经度",
    "纬度",
    "问题描述",
    "当事人",
    "处理措施",
    "办结情况",
    "办结日期",
]
TYPES = ["堆放物品", "摆摊设点", "违章建房", "砍伐行道树", "超限运输", "倾倒垃圾"]


@pytest.fixture(scope="module")
def ledger_rows(tmp_path_factory):
    d = tmp_path_factory.mktemp("ledger")
    url = f"sqlite:///{d / 'src.db'}"
    upgrade(url)
    with session_scope(url) as s:
        build_demo(s, cli_actor(s), today=dt.date(2026, 11, 1), years=1)
        net = network(s)
    rng = np.random.default_rng(3)
    rows = []
    codes = net.codes
    for i in range(N):
        code = codes[i % len(codes)]
        r = net.routes[code]
        ch = float(rng.uniform(r.start_m, r.end_m))
        day = dt.date(2025, 1, 1) + dt.timedelta(days=int(i % 365))
        if i % 5 == 0:  # every fifth row located by road + stake, the rest by lon/lat
            loc = [code, f"K{int(ch // 1000)}+{int(ch % 1000):03d}", "", ""]
        else:
            lon, lat = offset_point(net, code, ch, float(rng.uniform(1, 40)), "left" if i % 2 else "right")
            loc = ["", "", f"{lon:.7f}", f"{lat:.7f}"]
        closed = i % 10 != 0
        rows.append(
            [
                f"{day:%Y/%-m/%-d}",
                TYPES[i % len(TYPES)],
                *loc,
                "路肩堆放砂石",
                "王某某",
                "现场劝导",
                "已办结" if closed else "办理中",
                f"{day:%Y-%m-%d}" if closed else "",
            ]
        )
    return rows


def _fresh_store(tmp_path, monkeypatch):
    monkeypatch.setenv("PATROL_DATA_DIR", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'patrol.db'}"
    upgrade(url)
    with session_scope(url) as s:
        build_demo(s, cli_actor(s), today=dt.date(2026, 11, 1), years=1)
    return url


def _import(url, path):
    with session_scope(url) as s:
        res = import_ledger(s, cli_actor(s), path)
    assert res.ok, [e.render("en") for e in res.errors[:5]]
    with session_scope(url) as s:
        return s.execute(
            select(func.count()).select_from(Incident).where(Incident.source == "ledger")
        ).scalar()


def test_import_100k_incident_csv(benchmark, ledger_rows, tmp_path, monkeypatch):
    url = _fresh_store(tmp_path, monkeypatch)
    path = tmp_path / "问题台账.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(ledger_rows)
    n = benchmark.pedantic(_import, args=(url, path), rounds=1, iterations=1)
    assert n == N


def test_import_100k_incident_xlsx(benchmark, ledger_rows, tmp_path, monkeypatch):
    import openpyxl

    url = _fresh_store(tmp_path, monkeypatch)
    path = tmp_path / "问题台账.xlsx"
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("问题台账")
    ws.append(HEADER)
    for r in ledger_rows:
        ws.append(r)
    wb.save(path)
    n = benchmark.pedantic(_import, args=(url, path), rounds=1, iterations=1)
    assert n == N


# --- whole commands ----------------------------------------------------------------------------------------------


def _patrol_import(data_dir, path, peak: bool = False):  # type: ignore[no-untyped-def]
    """``patrol import PATH`` in a fresh process; with ``peak``, its peak RSS in MB (ru_maxrss of a parent whose
    only child is the import)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PATROL_DATA_DIR": str(data_dir), "PYTHONPATH": str(root)}
    env.pop("PATROL_DB_URL", None)
    code = (
        "import resource, subprocess, sys; "
        "p = subprocess.run([sys.executable, '-m', 'patrol_app.cli', 'import', sys.argv[1]]); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, file=sys.stderr); "
        "sys.exit(p.returncode)"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True, cwd=root
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return int(p.stderr.strip().splitlines()[-1])


def test_patrol_import_command_100k_csv(benchmark, ledger_rows, tmp_path, monkeypatch):
    """``patrol import`` of a 100,000-row CSV ledger as a user waits for it. Target (issue 13): < 15 s."""
    url = _fresh_store(tmp_path, monkeypatch)
    path = tmp_path / "问题台账.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(ledger_rows)
    rss = benchmark.pedantic(_patrol_import, args=(tmp_path, path), rounds=1, iterations=1)
    with session_scope(url) as s:
        assert (
            s.execute(select(func.count()).select_from(Incident).where(Incident.source == "ledger")).scalar()
            == N
        )
    benchmark.extra_info["peak_rss_mb"] = rss
    print(f"\npatrol import 100k CSV: {benchmark.stats.stats.max:.1f} s, peak RSS {rss} MB")


def test_patrol_import_command_1m_csv_memory(benchmark, ledger_rows, tmp_path, monkeypatch):
    """``patrol import`` of a 1,000,000-row CSV ledger (the 100,000 rows ten times, a year apart): peak RSS
    < 1 GB (issue 13), all rows written in one batch."""
    url = _fresh_store(tmp_path, monkeypatch)
    path = tmp_path / "问题台账-1m.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for k in range(10):
            for r in ledger_rows:
                w.writerow(
                    [
                        r[0].replace("2025/", f"{2015 + k}/"),
                        *r[1:10],
                        r[10].replace("2025-", f"{2015 + k}-") if r[10] else "",
                    ]
                )
    rss = benchmark.pedantic(_patrol_import, args=(tmp_path, path), rounds=1, iterations=1)
    with session_scope(url) as s:
        assert (
            s.execute(select(func.count()).select_from(Incident).where(Incident.source == "ledger")).scalar()
            == 10 * N
        )
    benchmark.extra_info["peak_rss_mb"] = rss
    print(f"\npatrol import 1M CSV: {benchmark.stats.stats.max:.1f} s, peak RSS {rss} MB")
    assert rss < 1024
