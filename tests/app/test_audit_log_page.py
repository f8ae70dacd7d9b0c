"""The administrator's audit-log page (AppTest) and its read service: permissions, filters, local times, Chinese
action names (never codes), pagination, exports with formula-neutralised cells, and exports audited themselves."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from patrol_app.services import audit, audit_log, auth
from patrol_app.services.errors import PermissionDenied, ServiceError
from patrol_app.services.users import get_user
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import AuditEntry
from tests.apptest_helpers import run_page

PAGE = "patrol_app/ui/pages/audit_log.py"


def test_only_administrators_read_the_log(store):
    with read_session() as s:
        for name in ("officer", "leader", "reviewer", "manager"):
            with pytest.raises(PermissionDenied):
                audit_log.page(s, get_user(s, name))
            with pytest.raises(PermissionDenied):
                audit_log.export(s, get_user(s, name), audit_log.AuditFilter(), "csv")
        rows, total, pages = audit_log.page(s, get_user(s, "admin"))
        assert total == s.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        assert len(rows) == audit_log.PER_PAGE and pages == -(-total // audit_log.PER_PAGE)
        assert rows[0].id > rows[-1].id  # newest first


def test_the_page_is_in_the_admin_navigation_only():
    from patrol_app.domain.rules import Perm, Role, allowed
    from patrol_app.ui.nav import PAGES

    spec = next(p for p in PAGES if p.path == PAGE)
    assert spec.perm == Perm.VIEW_AUDIT_LOG
    assert [r for r in Role if allowed(r, spec.perm)] == [Role.ADMIN]


def test_filters_local_time_and_action_names(store):
    with session_scope() as s:
        auth.sign_in(s, "officer", "patrol-demo")
    with read_session() as s:
        admin = get_user(s, "admin")
        rows, total, _ = audit_log.page(
            s, admin, audit_log.AuditFilter(username="officer", action="user.sign_in")
        )
        entry = (
            s.execute(
                select(AuditEntry).where(AuditEntry.action == "user.sign_in").order_by(AuditEntry.id.desc())
            )
            .scalars()
            .first()
        )
    assert total == 1 and rows[0].action == "登录" and rows[0].actor == "officer"
    local = entry.ts.replace(tzinfo=dt.UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    assert rows[0].time == local.strftime("%Y-%m-%d %H:%M:%S")
    today = local.date()
    with read_session() as s:
        admin = get_user(s, "admin")
        f = audit_log.AuditFilter(action="user.sign_in", date_from=today, date_to=today)
        assert audit_log.count(s, admin, f) == 1
        f = audit_log.AuditFilter(action="user.sign_in", date_to=today - dt.timedelta(days=1))
        assert audit_log.count(s, admin, f) == 0
        assert audit_log.count(s, admin, audit_log.AuditFilter(entity="vehicle")) > 0


def test_every_action_the_app_records_has_a_name_in_both_catalogs():
    import re
    from pathlib import Path

    from patrol_app.i18n import catalog

    root = Path(__file__).resolve().parents[2] / "patrol_app"
    found = set()
    for path in root.rglob("*.py"):
        src = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'audit\.record(?:_rows)?\(\s*\w+,\s*\w+,\s*"([a-z_.]+)"', src))
        found |= set(
            re.findall(r'"(user\.[a-z_]+|export\.[a-z]+|report\.download|audit\.[a-z]+)",\s*"', src)
        ) & {"user.sign_in_failed", "download.report", "audit.sealed", "audit.baseline", "audit.export"}
    found |= {f"incident.{a}" for a in ("closed", "reopened", "reinspected")} | {
        "export.incidents",
        "export.patrols",
    }
    assert len(found) > 25
    for lang in ("zh", "en"):
        missing = sorted(a for a in found if "audit.action." + a not in catalog(lang))
        assert missing == [], lang


def test_exports_neutralise_formulas_and_are_audited(store):
    with session_scope() as s:
        admin = get_user(s, "admin")
        from patrol_app.services import registry

        registry.add_vehicle(s, admin, "云D·L0398", '=HYPERLINK("http://x")')
        with pytest.raises(ServiceError):
            auth.sign_in(s, "=1+1", "whatever-password")
    with read_session() as s:
        admin = get_user(s, "admin")
        f = audit_log.AuditFilter(action="user.sign_in_failed")
        data, n = audit_log.export(s, admin, f, "csv")
        assert n == 1
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert rows[0] == ["序号", "时间", "操作人", "操作", "对象", "编号", "内容"]
        assert rows[1][2] == "未登录者" and rows[1][3] == "登录失败"
        assert rows[1][6].startswith("输入的用户名「=1+1」")  # the cell does not begin with "="
        data, n = audit_log.export(s, admin, f, "xlsx")
        ws = load_workbook(io.BytesIO(data)).active
        assert ws.cell(2, 4).value == "登录失败" and ws.cell(2, 4).data_type == "s"
        assert audit_log.neutralise("=SUM(A1)") == "'=SUM(A1)" and audit_log.neutralise("-1") == "'-1"
        assert audit_log.neutralise("\tx") == "'\tx" and audit_log.neutralise("正常") == "正常"
    with read_session() as s:
        exports = (
            s.execute(select(AuditEntry).where(AuditEntry.action == "audit.export").order_by(AuditEntry.id))
            .scalars()
            .all()
        )
    assert [(e.after["format"], e.after["rows"], e.after["filters"]) for e in exports] == [
        ("csv", 1, {"action": "user.sign_in_failed"}),
        ("xlsx", 1, {"action": "user.sign_in_failed"}),
    ]
    assert exports[0].actor == "admin"
    with read_session() as s:
        assert audit.verify(s).ok


def test_data_exports_and_report_downloads_are_audited(store, run_patrol, tmp_path):
    p = run_patrol(
        [
            "--user",
            "leader",
            "export",
            "incidents",
            "--year",
            "2025",
            "--status",
            "open",
            "--out",
            str(tmp_path / "i.csv"),
        ],
        store.env,
    )
    assert p.returncode == 0, p.stderr
    p = run_patrol(["report", "--year", "2025", "--out", str(tmp_path / "r.md")], store.env)
    assert p.returncode == 0, p.stderr
    p = run_patrol(["map", "--out", str(tmp_path / "m.html")], store.env)
    assert p.returncode == 0, p.stderr
    with read_session() as s:
        ex = s.execute(select(AuditEntry).where(AuditEntry.action == "export.incidents")).scalar_one()
        rep = s.execute(select(AuditEntry).where(AuditEntry.action == "download.report")).scalar_one()
    assert ex.actor.endswith(" as leader") and ex.after["rows"] > 0 and ex.after["format"] == "csv"
    assert ex.after["filters"] == {"date_from": "2025-01-01", "date_to": "2025-12-31", "status": "open"}
    assert rep.after["format"] == "md" and rep.after["period"] == "2025-01-01–2025-12-31"
    with read_session() as s:
        mp = s.execute(select(AuditEntry).where(AuditEntry.action == "download.map")).scalar_one()
    assert mp.after["file"] == "m.html" and mp.after["rows"] > 0


def test_audit_log_page(store):
    at = run_page(PAGE, as_user="admin")
    assert at.title[0].value == "审计日志"
    df = at.dataframe[0].value
    assert list(df.columns) == ["序号", "时间", "操作人", "操作", "对象", "编号", "内容"]
    assert len(df) == audit_log.PER_PAGE
    shown = set(df["操作"])
    assert not any("." in a for a in shown), shown  # never a raw code
    at.selectbox(key="al_action").set_value("demo.load").run()
    assert not at.exception
    assert set(at.dataframe[0].value["操作"]) == {"载入演示数据"}
    at.number_input(key="al_page").set_value(2).run()
    assert "第 2 /" in " ".join(c.value for c in at.caption)
    assert len(at.get("download_button")) == 2


def test_audit_log_page_refuses_other_roles(store):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from tests.apptest_helpers import user_id

    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / PAGE), default_timeout=60)
    at.session_state["user_id"] = user_id("manager")
    at.run()
    assert not at.exception
    assert [w.value for w in at.warning] == ["只有系统管理员可以查看审计日志。"]
    assert not at.dataframe
