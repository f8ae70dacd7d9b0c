"""Document buttons for the pages: make a document (which audits it and, for a notice, draws its number), then
offer it for download. Two steps on purpose: a page rerun must never issue a document or burn a number."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import streamlit as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from patrol_app.clock import local_now
from patrol_app.documents import (
    NOTICE_KINDS,
    IssuedDocument,
    issue_inspection,
    issue_notice,
    issue_patrol_record,
)
from patrol_app.domain.rules import Perm, allowed
from patrol_app.services.errors import ServiceError
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import Patrol, User
from patrol_app.ui.common import err, lang, tr

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _offer(key: str) -> None:
    made = st.session_state.get(key)
    if made:
        st.success(
            tr("doc.ui.issued", title=made["title"], number=f" {made['number']}" if made["number"] else "")
        )
        st.download_button(
            tr("doc.ui.download", filename=made["filename"]),
            made["data"],
            file_name=made["filename"],
            mime=DOCX,
            key=key + "_dl",
        )


def _make(key: str, fn: Callable[[Session], IssuedDocument]) -> None:
    try:
        with session_scope() as s:
            d = fn(s)
        st.session_state[key] = {"title": d.title, "number": d.number, "filename": d.filename, "data": d.data}
    except ServiceError as exc:
        st.error(err(exc))


def patrol_documents(user: User) -> None:
    """巡查记录 of one of my recent patrols."""
    if not allowed(user.role, Perm.LOG_PATROL):
        return
    with read_session() as s:
        mine = list(
            s.execute(
                select(Patrol)
                .where(Patrol.created_by == user.id)
                .order_by(Patrol.date.desc(), Patrol.id.desc())
                .limit(20)
            ).scalars()
        )
        options = {
            p.id: tr(
                "doc.ui.patrol_option",
                date=p.date.isoformat(),
                time=p.start_time or "",
                roads="、".join(p.road_codes),
            )
            for p in mine
        }
    if not options:
        return
    with st.expander(tr("doc.ui.title")):
        pid = st.selectbox(
            tr("doc.ui.patrol_pick"), list(options), format_func=options.__getitem__, key="doc_patrol_pick"
        )
        key = f"doc_patrol_{pid}"
        if st.button(tr("doc.ui.make_patrol"), key="doc_make_patrol"):
            _make(key, lambda s: issue_patrol_record(s, _actor(s, user), pid, lang()))
        _offer(key)


def incident_documents(user: User, incident_id: int, deadline: dt.date | None = None) -> None:
    """现场检查（勘验）笔录 and the numbered notices of one incident."""
    can_inspect = allowed(user.role, Perm.LOG_INCIDENT) and allowed(user.role, Perm.VIEW_PARTY)
    can_notice = allowed(user.role, Perm.UPDATE_INCIDENT) and allowed(user.role, Perm.VIEW_PARTY)
    if not (can_inspect or can_notice):
        return
    with st.expander(tr("doc.ui.title")):
        if can_inspect:
            key = f"doc_inspection_{incident_id}"
            if st.button(tr("doc.ui.make_inspection"), key="doc_make_inspection"):
                _make(key, lambda s: issue_inspection(s, _actor(s, user), incident_id, lang()))
            _offer(key)
        if can_notice:
            labels = {k: tr(f"doc.notice.title.{k}") for k in NOTICE_KINDS}
            c1, c2 = st.columns(2)
            kind = c1.selectbox(
                tr("doc.ui.notice_kind"), list(labels), format_func=labels.__getitem__, key="doc_notice_kind"
            )
            due = (
                c2.date_input(
                    tr("doc.ui.deadline"),
                    value=deadline or local_now().date() + dt.timedelta(days=15),
                    key=f"doc_notice_deadline_{incident_id}",
                )
                if kind == "rectify"
                else None
            )
            st.caption(tr("doc.ui.number_hint"))
            key = f"doc_notice_{incident_id}"
            if st.button(tr("doc.ui.make_notice"), key="doc_make_notice"):
                _make(key, lambda s: issue_notice(s, _actor(s, user), incident_id, kind, due, lang()))
            _offer(key)


def _actor(session: Session, user: User) -> User:
    """The signed-in account, attached to this session (the page's copy may come from another)."""
    return session.get_one(User, user.id)
