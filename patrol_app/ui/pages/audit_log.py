"""The audit log for the administrator: who did what, when (local time), filtered by user, action, object and
dates, a page at a time (newest first), exportable as CSV or XLSX.

Thin wiring over ``patrol_app.services.audit_log``, which checks ``Perm.VIEW_AUDIT_LOG`` itself.
"""

import functools

import pandas as pd
import streamlit as st

from patrol_app.domain.rules import Perm, allowed
from patrol_app.services import audit_log
from patrol_app.services.errors import ServiceError
from patrol_app.storage.db import read_session
from patrol_app.ui.common import err, lang, page_user, tr

st.title(tr("audit_log.title"))
user = page_user()
if user is None or not allowed(user.role, Perm.VIEW_AUDIT_LOG):
    st.warning(tr("audit_log.no_permission"))
    st.stop()
st.caption(tr("audit_log.caption"))
lng = lang()

try:
    with read_session() as s:
        opts = audit_log.choices(s, user)
except ServiceError as exc:
    st.error(err(exc))
    st.stop()

ALL = ""
c1, c2, c3 = st.columns(3)
who = c1.selectbox(
    tr("audit_log.filter.user"),
    [ALL, *opts["users"]],
    key="al_user",
    format_func=lambda v: tr("audit_log.filter.all") if v == ALL else v,
)
action = c2.selectbox(
    tr("audit_log.filter.action"),
    [ALL, *opts["actions"]],
    key="al_action",
    format_func=lambda v: tr("audit_log.filter.all") if v == ALL else audit_log.action_text(v, lng),
)
entity = c3.selectbox(
    tr("audit_log.filter.entity"),
    [ALL, *opts["entities"]],
    key="al_entity",
    format_func=lambda v: tr("audit_log.filter.all") if v == ALL else audit_log.entity_text(v, lng),
)
d1, d2, d3 = st.columns(3)
date_from = d1.date_input(tr("audit_log.filter.from"), value=None, key="al_from")
date_to = d2.date_input(tr("audit_log.filter.to"), value=None, key="al_to")
flt = audit_log.AuditFilter(who or None, action or None, entity or None, date_from, date_to)

try:
    with read_session() as s:
        total = audit_log.count(s, user, flt)
        pages = max(1, -(-total // audit_log.PER_PAGE))
        number = int(
            d3.number_input(
                tr("audit_log.page"), min_value=1, max_value=pages, value=1, step=1, key="al_page"
            )
        )
        rows, total, pages = audit_log.page(s, user, flt, number, lang=lng)
except ServiceError as exc:
    st.error(err(exc))
    st.stop()

st.caption(tr("audit_log.count", total=f"{total:,}", page=min(number, pages), pages=pages))
if not rows:
    st.info(tr("audit_log.none"))
else:
    cols = ("id", "time", "actor", "action", "entity", "entity_id", "details")
    df = pd.DataFrame(
        [[getattr(r, c) for c in cols] for r in rows], columns=[tr("audit_log.col." + c) for c in cols]
    )
    st.dataframe(df, hide_index=True, width="stretch")


def _file(fmt: str) -> bytes:
    with read_session() as s:
        data, _ = audit_log.export(s, user, flt, fmt, lng)
    return data


b1, b2 = st.columns(2)
for col, fmt in zip((b1, b2), audit_log.FORMATS):
    col.download_button(
        tr("audit_log.download", format=tr("audit_log.format." + fmt)),
        data=functools.partial(_file, fmt),
        file_name=f"audit_log.{fmt}",
        mime=audit_log.MIME[fmt],
        on_click="ignore",
        key=f"al_dl_{fmt}",
        icon=":material/download:",
        disabled=total == 0,
    )
