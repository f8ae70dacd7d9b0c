"""Documents an officer has to produce, generated from the records (Word; PDF where LibreOffice is installed).

- 巡查记录 for a patrol (《公路安全保护条例》第四十七条 makes the record a duty);
- 现场检查（勘验）笔录 for an incident (《中华人民共和国行政处罚法》第五十五条: certificates shown, 笔录 made);
- 责令停止违法行为通知书 / 责令限期改正通知书 for an incident, with the violated article and the penalty article from
  the violation catalog, numbered per county and year (麒路责改〔2026〕第12号) — a number is never reused.

Each is laid out as FACTS §7 describes the bureau's documents (A4, 公文 margins, 方正小标宋 title, 仿宋 body, 黑体 /
楷体 headings, the issuing body and date at the end), filled from the records; the only blanks are the signatures
the law needs. Issuing a document checks the actor's permission and writes an audit entry with its number and
SHA-256, in the caller's transaction. No Streamlit here; importing this package imports nothing heavy.
"""

from typing import Any

__all__ = [
    "NOTICE_KINDS",
    "IssuedDocument",
    "issue_inspection",
    "issue_notice",
    "issue_patrol_record",
    "to_pdf",
]


def __getattr__(name: str) -> Any:
    """Imported on first use: ``patrol --help`` loads ``patrol_app.documents.cli``, which must stay cheap."""
    if name in __all__:
        from patrol_app.documents import issue

        return getattr(issue, name)
    raise AttributeError(name)
