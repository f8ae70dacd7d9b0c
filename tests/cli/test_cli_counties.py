"""The command line with several counties: ``roads import --county``, ``import --county``, ``users add --scope``."""

from __future__ import annotations

import csv
import sqlite3

from patrol_app.i18n import t
from tests.cli.test_cli import write_geojson

ZHANYI = "530303"
X001 = [
    (103.80, 25.66),
    (103.84, 25.67),
    (103.88, 25.68),
]  # Zhanyi's own X001 (invented, like the demo roads)


def test_roads_and_ledger_of_another_county_and_a_city_account(store, run_patrol, tmp_path):
    qilin_x001 = store.network().routes["X001"].name
    roads = write_geojson(
        tmp_path / "zy.geojson", [(X001, {"code": "X001", "name": "沾益测试公路", "class": "县道"})]
    )
    p = run_patrol(["roads", "import", roads, "--county", ZHANYI], store.env)
    assert p.returncode == 0, p.stderr
    assert store.network().routes["X001"].name == qilin_x001  # the configured county's X001 is untouched
    p = run_patrol(["roads", "import", roads, "--county", ZHANYI], store.env)  # again: X001 exists there
    assert p.returncode == 1 and t("error.roads_exist", codes="X001") in p.stderr
    p = run_patrol(["roads", "import", roads, "--county", "5303"], store.env)
    assert p.returncode == 2 and t("cli.bad_adcode", value="5303") in p.stderr

    ledger = tmp_path / "zy.csv"
    with ledger.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["发现时间", "违法类型", "路线编号", "经度", "纬度", "处理措施", "办结情况"])
        w.writerow(["2025-03-05 09:30", "占道经营", "X001", "103.84", "25.6702", "现场劝导", "已办结"])
    p = run_patrol(["import", ledger, "--county", ZHANYI], store.env)
    assert p.returncode == 0, p.stdout + p.stderr

    p = run_patrol(
        ["users", "add", "qj_manager", "--role", "manager", "--scope", "530300", "--password-stdin"],
        store.env,
        input="pw-qj-manager-123\n",
    )
    assert p.returncode == 0, p.stderr
    con = sqlite3.connect(store.db_path)
    try:
        assert con.execute("SELECT adcode FROM users WHERE username = 'qj_manager'").fetchone() == ("530300",)
        assert con.execute(
            "SELECT adcode, road_code, stake FROM incidents WHERE adcode = ?", (ZHANYI,)
        ).fetchall() == [
            (
                ZHANYI,
                "X001",
                con.execute("SELECT stake FROM incidents WHERE adcode = ?", (ZHANYI,)).fetchone()[0],
            )
        ]
        assert con.execute("SELECT count(*) FROM road_pieces WHERE adcode = ?", (ZHANYI,)).fetchone() == (1,)
    finally:
        con.close()
    # the city manager's report (JSON) rolls up both counties; the county's own manager sees only Qilin
    import json

    city = run_patrol(["--user", "qj_manager", "report", "--year", "2025", "--format", "json"], store.env)
    own = run_patrol(["--user", "manager", "report", "--year", "2025", "--format", "json"], store.env)
    assert city.returncode == 0 and own.returncode == 0, city.stderr + own.stderr
    n_city, n_own = (json.loads(p.stdout)["incidents_total"] for p in (city, own))
    assert n_city == n_own + 1
    # and a city account writes nothing
    p = run_patrol(["--user", "qj_manager", "import", ledger, "--dry-run"], store.env)
    assert p.returncode != 0
