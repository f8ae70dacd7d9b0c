"""``patrol doc``: write a document from the records.

    patrol doc patrol-record PATROL_ID --out 巡查记录.docx
    patrol doc inspection INCIDENT_ID --out 笔录.docx
    patrol doc notice INCIDENT_ID [--kind rectify|stop] [--deadline 2026-04-01] --out 通知书.docx

``.pdf`` instead of ``.docx`` converts through LibreOffice when it is installed. Exit codes as the rest of the
command: 0 written; 1 refused (nothing numbered, nothing written, the reason on stderr); 2 usage error.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: Any, common: argparse.ArgumentParser, h: Any) -> None:
    """Add ``doc`` to the ``patrol`` command's verbs (``h``: help text in the user's language)."""
    doc = sub.add_parser("doc", help=h("doc"))
    verbs = doc.add_subparsers(dest="doc_cmd", required=True)
    pr = verbs.add_parser("patrol-record", help=h("doc.patrol_record"), parents=[common])
    pr.add_argument("id", type=int, metavar="PATROL_ID", help=h("doc.patrol_id"))
    ins = verbs.add_parser("inspection", help=h("doc.inspection"), parents=[common])
    ins.add_argument("id", type=int, metavar="INCIDENT_ID", help=h("doc.incident_id"))
    no = verbs.add_parser("notice", help=h("doc.notice"), parents=[common])
    no.add_argument("id", type=int, metavar="INCIDENT_ID", help=h("doc.incident_id"))
    no.add_argument("--kind", choices=["rectify", "stop"], default="rectify", help=h("doc.kind"))
    no.add_argument("--deadline", metavar="DATE", help=h("doc.deadline"))
    for p in (pr, ins, no):
        p.add_argument("--out", required=True, metavar="FILE.docx", help=h("doc.out"))
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
        from patrol_app.clock import BadDate, parse_date

        try:
            deadline = parse_date(a.deadline)
        except BadDate:
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
