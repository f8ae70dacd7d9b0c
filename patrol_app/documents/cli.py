"""``patrol doc``: write a document from the records.

    patrol doc patrol-record PATROL_ID --out 巡查记录.docx
    patrol doc inspection INCIDENT_ID --out 笔录.docx
    patrol doc notice INCIDENT_ID [--kind rectify|stop] [--deadline 2026-04-01] --out 通知书.docx

``.pdf`` instead of ``.docx`` converts through LibreOffice when it is installed. Exit codes as the rest of the
command: 0 written; 1 refused (nothing numbered, nothing written, the reason on stderr); 2 usage error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import unicodedata
from pathlib import Path
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``doc`` to the ``patrol`` command's verbs."""
    doc = sub.add_parser("doc", help="documents from the records (Word; PDF with LibreOffice)")
    verbs = doc.add_subparsers(dest="doc_cmd", required=True)
    pr = verbs.add_parser("patrol-record", help="巡查记录 of a patrol", parents=[common])
    pr.add_argument("id", type=int, metavar="PATROL_ID")
    ins = verbs.add_parser("inspection", help="现场检查（勘验）笔录 of an incident", parents=[common])
    ins.add_argument("id", type=int, metavar="INCIDENT_ID")
    no = verbs.add_parser("notice", help="责令限期改正 / 责令停止违法行为 notice for an incident, numbered",
                          parents=[common])
    no.add_argument("id", type=int, metavar="INCIDENT_ID")
    no.add_argument("--kind", choices=["rectify", "stop"], default="rectify",
                    help="rectify: 责令限期改正通知书 (default); stop: 责令停止违法行为通知书")
    no.add_argument("--deadline", metavar="DATE", help="the deadline of a rectify notice (default: the incident's)")
    for p in (pr, ins, no):
        p.add_argument("--out", required=True, metavar="FILE.docx", help=".docx, or .pdf (needs LibreOffice)")
        p.set_defaults(fn=cmd_doc)


def cmd_doc(cli: Any) -> int:
    from patrol_app.documents import issue_inspection, issue_notice, issue_patrol_record, to_pdf
    from patrol_app.i18n import t
    from patrol_app.services.users import cli_actor
    from patrol_app.storage.db import session_scope
    from patrol_app.storage.migrate import upgrade

    a = cli.args
    out = Path(a.out)
    fmt = out.suffix.lower()
    if fmt not in (".docx", ".pdf"):
        cli.err(t("doc.cli.bad_format", cli.lang, path=a.out))
        return 2
    deadline = None
    if getattr(a, "deadline", None):
        try:
            deadline = dt.date.fromisoformat(unicodedata.normalize("NFKC", a.deadline).strip().replace("/", "-"))
        except ValueError:
            cli.err(t("doc.cli.bad_date", cli.lang, value=a.deadline))
            return 2
    upgrade()
    with session_scope() as s:
        actor = cli_actor(s, a.user)
        if a.doc_cmd == "patrol-record":
            d = issue_patrol_record(s, actor, a.id, cli.lang)
        elif a.doc_cmd == "inspection":
            d = issue_inspection(s, actor, a.id, cli.lang)
        else:
            d = issue_notice(s, actor, a.id, a.kind, deadline, cli.lang)
        data = to_pdf(d.data) if fmt == ".pdf" else d.data  # a failed conversion rolls the issue back
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    number = t("doc.cli.number", cli.lang, number=d.number) if d.number else ""
    cli.out(t("doc.cli.written", cli.lang, title=d.title, path=str(out), number=number, sha=d.sha256))
    return 0
