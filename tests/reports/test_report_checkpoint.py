"""The annual report's appendix carries the audit checkpoint (number and MAC of the last entry when the report
was made): docx, md and json."""

from __future__ import annotations

import io
import json

from docx import Document

from patrol_app.reports.report import Period, build_report
from patrol_app.reports.writers import render
from patrol_app.services import audit
from patrol_app.services.users import get_user
from patrol_app.storage.db import read_session


def test_report_appendix_shows_the_audit_checkpoint(store):
    with read_session() as s:
        cp = audit.checkpoint(s)
        report = build_report(s, get_user(s, "manager"), Period.year(2025))
        md = render(report, "md").decode()
        js = json.loads(render(report, "json"))
        docx = Document(io.BytesIO(render(report, "docx")))
    assert cp.id > 0 and len(cp.mac) == 64
    line = f"审计检查点（生成本报告时）：#{cp.id} {cp.mac}"
    assert line in md
    assert f"patrol audit verify --checkpoint {cp.id}:{cp.mac}" in md
    assert js["audit_checkpoint"] == {"id": cp.id, "mac": cp.mac}
    assert any(line in p.text for p in docx.paragraphs)
    with read_session() as s:
        assert audit.verify(s, checkpoint=audit.Checkpoint(cp.id, cp.mac)).ok
