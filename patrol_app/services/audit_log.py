"""Reading the audit trail: the administrator's audit-log page and its exports; recording reads (downloads and
exports) that happen on read-only sessions; texts for the trail in the user's language.

Everything here needs ``Perm.VIEW_AUDIT_LOG`` (administrators only). Times are shown in local time
(``PATROL_TZ``); action and object names come from the catalogs, never as internal codes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patrol_app.config import get_settings
from patrol_app.domain.rules import Perm
from patrol_app.i18n import catalog, t
from patrol_app.services import audit
from patrol_app.services.errors import ServiceError
from patrol_app.services.users import require
from patrol_app.storage.models import AuditEntry, User

PER_PAGE = 50
EXPORT_MAX_ROWS = 1_048_575  # one XLSX sheet
FORMATS = ("csv", "xlsx")
MIME = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


# --- texts ------------------------------------------------------------------------------------------------


def action_text(code: str, lang: str = "zh") -> str:
    key = "audit.action." + code
    return t(key, lang) if key in catalog(lang) else t("audit.action.other", lang)


def entity_text(code: str, lang: str = "zh") -> str:
    key = "audit.entity." + code
    return t(key, lang) if key in catalog(lang) else t("audit.entity.other", lang)


def actor_text(label: str, lang: str = "zh") -> str:
    return t("audit.actor.anonymous", lang) if label == "anonymous" else label


def record_problem_text(r: Any, lang: str = "zh") -> str:
    """One record changed behind the app's back, e.g. "问题记录 第 12 号：在系统之外被修改（字段：status）"."""
    fields = t("audit.record_fields", lang, fields=", ".join(r.fields)) if r.fields else ""
    return t(
        "audit.record_problem",
        lang,
        table=t("audit.table." + r.table, lang),
        id=r.id,
        kind=t("audit.record_kind." + r.kind, lang),
        fields=fields,
    )


def details_text(after: Any, lang: str = "zh") -> str:
    """What a reader needs of an entry's details: rows, file, the name typed at a refused sign-in, a note."""
    if not isinstance(after, dict):
        return ""
    parts = []
    for key in ("file", "rows", "username", "note", "period"):
        v = after.get(key)
        if v not in (None, ""):
            parts.append(t("audit_log.detail." + key, lang, value=v))
    return "；".join(parts) if lang == "zh" else "; ".join(parts)


# --- recording reads --------------------------------------------------------------------------------------


def record_access(
    session: Session, actor: User, action: str, entity: str, entity_id: Any = "", after: Any = None
) -> None:
    """Record an export or a download. On a writing session: in its transaction; on a read-only session (a
    download in the app) in a short transaction of its own, committed at once."""
    if not session.info.get("reading"):
        audit.record(session, actor, action, entity, entity_id, after=after)
        return
    from patrol_app.storage.db import session_scope

    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    with session_scope(url) as w:
        who = w.get(User, actor.id)
        if who is None:
            raise ServiceError("error.unknown_user", username=actor.username)
        label = getattr(actor, "audit_label", None)
        if label:
            who.audit_label = label
        audit.record(w, who, action, entity, entity_id, after=after)


def record_download(url: str | None, username: str, action: str, entity: str, after: Any) -> None:
    """A download button's click (the app): who, what, which filters, how many rows."""
    from patrol_app.services.users import get_user
    from patrol_app.storage.db import session_scope

    with session_scope(url) as s:
        audit.record(s, get_user(s, username), action, entity, "", after=after)


# --- the log ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    """Empty means no restriction. Dates are local (``PATROL_TZ``), inclusive."""

    username: str | None = None
    action: str | None = None
    entity: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None


@dataclass
class LogRow:
    id: int
    time: str  # local
    actor: str
    action: str  # in the user's language
    entity: str
    entity_id: str
    details: str


def _tz() -> ZoneInfo:
    return ZoneInfo(get_settings().tz)


def _utc(day: dt.date) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time(0, 0), tzinfo=_tz())
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def _where(session: Session, stmt: Any, f: AuditFilter) -> Any:
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise ServiceError("audit_log.bad_range", start=f.date_from.isoformat(), end=f.date_to.isoformat())
    if f.username:
        uid = session.execute(select(User.id).where(User.username == f.username)).scalar_one_or_none()
        stmt = (
            stmt.where(AuditEntry.actor_id == uid)
            if uid is not None
            else stmt.where(AuditEntry.actor == f.username)
        )
    if f.action:
        stmt = stmt.where(AuditEntry.action == f.action)
    if f.entity:
        stmt = stmt.where(AuditEntry.entity == f.entity)
    if f.date_from:
        stmt = stmt.where(AuditEntry.ts >= _utc(f.date_from))
    if f.date_to:
        stmt = stmt.where(AuditEntry.ts < _utc(f.date_to + dt.timedelta(days=1)))
    return stmt


def choices(session: Session, actor: User) -> dict[str, list[str]]:
    """What the filters offer: accounts, and the actions and objects the catalogs name."""
    require(actor, Perm.VIEW_AUDIT_LOG)
    users = list(session.execute(select(User.username).order_by(User.username)).scalars())
    cat = catalog("zh")
    actions = sorted(
        k.removeprefix("audit.action.")
        for k in cat
        if k.startswith("audit.action.") and k != "audit.action.other"
    )
    entities = sorted(
        k.removeprefix("audit.entity.")
        for k in cat
        if k.startswith("audit.entity.") and k != "audit.entity.other"
    )
    return {"users": users, "actions": actions, "entities": entities}


def count(session: Session, actor: User, f: AuditFilter = AuditFilter()) -> int:
    require(actor, Perm.VIEW_AUDIT_LOG)
    return session.execute(_where(session, select(func.count()).select_from(AuditEntry), f)).scalar_one()


def _row(e: Any, lang: str, tz: ZoneInfo) -> LogRow:
    local = e.ts.replace(tzinfo=dt.UTC).astimezone(tz)
    return LogRow(
        e.id,
        local.strftime("%Y-%m-%d %H:%M:%S"),
        actor_text(e.actor, lang),
        action_text(e.action, lang),
        entity_text(e.entity, lang),
        e.entity_id,
        details_text(e.after, lang),
    )


_COLS = (
    AuditEntry.id,
    AuditEntry.ts,
    AuditEntry.actor,
    AuditEntry.action,
    AuditEntry.entity,
    AuditEntry.entity_id,
    AuditEntry.after,
)


def page(
    session: Session,
    actor: User,
    f: AuditFilter = AuditFilter(),
    number: int = 1,
    per_page: int = PER_PAGE,
    lang: str = "zh",
) -> tuple[list[LogRow], int, int]:
    """One page of entries, newest first: (rows, total, pages)."""
    require(actor, Perm.VIEW_AUDIT_LOG)
    total = count(session, actor, f)
    pages = max(1, math.ceil(total / per_page))
    number = min(max(1, number), pages)
    q = _where(session, select(*_COLS), f).order_by(AuditEntry.id.desc()).limit(per_page)
    q = q.offset((number - 1) * per_page)
    tz = _tz()
    return [_row(e, lang, tz) for e in session.execute(q)], total, pages


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula is stored as text (a leading apostrophe)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export(session: Session, actor: User, f: AuditFilter, fmt: str, lang: str = "zh") -> tuple[bytes, int]:
    """The filtered log as CSV (UTF-8 with BOM) or XLSX: (file bytes, rows). Recorded in the trail itself."""
    require(actor, Perm.VIEW_AUDIT_LOG)
    if fmt not in FORMATS:
        raise ServiceError("audit_log.bad_format", format=fmt)
    n = count(session, actor, f)
    if n > EXPORT_MAX_ROWS:
        raise ServiceError("audit_log.too_many", n=f"{EXPORT_MAX_ROWS:,}")
    header = [
        t("audit_log.col." + c, lang)
        for c in ("id", "time", "actor", "action", "entity", "entity_id", "details")
    ]
    tz = _tz()
    rows = (
        _row(e, lang, tz)
        for e in session.execute(
            _where(session, select(*_COLS), f).order_by(AuditEntry.id).execution_options(yield_per=5000)
        )
    )
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(header)
        for r in rows:
            w.writerow(
                [neutralise(v) for v in (r.id, r.time, r.actor, r.action, r.entity, r.entity_id, r.details)]
            )
        data = ("\ufeff" + buf.getvalue()).encode("utf-8")
    else:
        import xlsxwriter

        out = io.BytesIO()
        wb = xlsxwriter.Workbook(
            out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
        )
        ws = wb.add_worksheet(t("audit_log.title", lang)[:31])
        ws.write_row(0, 0, header)
        for i, r in enumerate(rows, start=1):
            ws.write_number(i, 0, r.id)
            for j, v in enumerate((r.time, r.actor, r.action, r.entity, r.entity_id, r.details), start=1):
                ws.write_string(i, j, neutralise(v))
        ws.set_column(1, 1, 20)
        ws.set_column(2, 3, 18)
        ws.set_column(6, 6, 40)
        wb.close()
        data = out.getvalue()
    record_access(
        session,
        actor,
        "audit.export",
        "audit_log",
        "",
        after={"format": fmt, "rows": n, "filters": _filters(f)},
    )
    return data, n


def _filters(f: AuditFilter) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(f).items() if v}
