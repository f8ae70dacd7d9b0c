"""What an attacker with write access to a SQLite store does first: drop the triggers that guard the audit
trail (they stop mistakes and the app's own role, not someone who owns the file). Tests then tamper freely."""

from __future__ import annotations

import sqlite3
from pathlib import Path

AUDIT_TRIGGERS = (
    "audit_log_no_update",
    "audit_log_no_delete",
    "audit_log_in_order",
    "audit_head_no_delete",
    "audit_head_one_row",
    "audit_head_follows_log",
)


def drop_audit_triggers(con: sqlite3.Connection) -> None:
    for name in AUDIT_TRIGGERS:
        con.execute(f"DROP TRIGGER IF EXISTS {name}")
    con.commit()


def tamper(path: str | Path) -> sqlite3.Connection:
    """A plain sqlite3 connection to the store at ``path`` with the audit triggers gone."""
    con = sqlite3.connect(path)
    drop_audit_triggers(con)
    return con
