"""Ledger import (台账导入): the template, a check first (counts, first rows, every bad row, the workbook of bad
rows), then the import with progress — both run in the background (services.ledger_jobs) and this page polls
them in a fragment, so it stays responsive and any other tab sees that an import is running. Past batches, with
rollback for administrators."""

import functools
from typing import Any

import pandas as pd
import streamlit as st

from patrol_app.domain.catalog import BY_CODE
from patrol_app.domain.rules import Perm, allowed
from patrol_app.i18n import t, zone_label
from patrol_app.io.ledger_workbooks import XLSX_MIME, error_workbook, template_xlsx
from patrol_app.services import ledger_jobs as jobs
from patrol_app.services.errors import ServiceError
from patrol_app.storage.db import read_session
from patrol_app.storage.models import User
from patrol_app.ui.common import (
    err,
    lang,
    network,
    page_file,
    page_user,
    show_error,
    show_flash,
    tr,
    write_and_flash,
)

POLL_S = 0.5
MAX_ERRORS_SHOWN = 100_000

st.title(tr("nav.imports"))
user = page_user()
if user is None or not allowed(user.role, Perm.IMPORT_LEDGER):
    st.warning(tr("imports.ui.no_permission"))
    st.stop()
lng = lang()
try:
    net = network(user)
except Exception as exc:  # no road network: the ledger cannot be located
    st.warning(err(exc))
    st.stop()

show_flash("imports_flash")


@st.cache_data(ttl=300, show_spinner=False, max_entries=4)
def _template(codes: tuple[str, ...], lng_: str) -> bytes:
    return template_xlsx(codes, lng_)


def _job_error(v: jobs.JobView) -> str:
    e = v.error or {}
    key = e.get("key", "imports.error.internal")
    try:
        return t(key, lng, **e.get("params", {}))
    except (KeyError, IndexError):
        return key


with st.container(border=True):
    st.markdown(f"**{tr('imports.ui.template_title')}**")
    st.caption(tr("imports.ui.template_hint"))
    st.download_button(
        tr("imports.ui.template"),
        data=_template(tuple(net.codes), lng),
        file_name=tr("imports.ui.template_file"),
        mime=XLSX_MIME,
        key="imports_template",
        icon=":material/download:",
    )

st.subheader(tr("imports.ui.upload_title"))
n = st.session_state.get("imports_upload_n", 0)
up = st.file_uploader(tr("imports.ui.upload"), type=["xlsx", "xlsm", "csv"], key=f"imports_upload_{n}")
if up is not None and st.button(
    tr("imports.ui.check"), type="primary", key="imports_check", icon=":material/fact_check:"
):
    try:
        path = jobs.save_upload(up.getvalue(), up.name)
        with read_session() as s:
            actor = s.get_one(User, user.id)
        st.session_state["imports_job"] = jobs.start_job(actor, path, up.name, dry_run=True)
    except ServiceError as exc:
        st.warning(err(exc))


def progress_block(v: jobs.JobView) -> None:
    if v.stage == "read":
        text = tr("imports.ui.reading", read=f"{v.rows_read:,}", total=f"{v.rows_total:,}")
    elif v.stage == "validate":
        text = tr("imports.ui.validating", done=f"{v.rows_validated:,}", total=f"{v.rows_total:,}")
    else:
        text = tr("imports.ui.writing", done=f"{v.rows_written:,}", total=f"{v.patrols + v.incidents:,}")
    st.progress(v.fraction, text=text)
    c = st.columns(3)
    c[0].metric(tr("imports.ui.rows_read"), f"{v.rows_read:,}")
    c[1].metric(tr("imports.ui.rows_validated"), f"{v.rows_validated:,}")
    c[2].metric(tr("imports.ui.rows_written"), f"{v.rows_written:,}")


def _running_now() -> bool:
    with read_session() as s:
        return jobs.running_job(s, user) is not None


@st.fragment(run_every=POLL_S if _running_now() else None)
def live_panel() -> None:
    """What runs now: mine with its progress; someone else's as "an import is running"."""
    mine = st.session_state.get("imports_job")
    with read_session() as s:
        other = jobs.running_job(s, user)
        v = jobs.job_view(s, user, mine) if mine else None
    if other is not None and (v is None or other.id != v.id):
        st.session_state["imports_polling"] = True
        st.info(
            tr(
                "imports.ui.running_other",
                file=other.filename,
                user=other.user,
                since=jobs.local_time(other.started_at),
            )
        )
        progress_block(other)
    if v is None:
        if other is None and st.session_state.get("imports_polling"):
            st.session_state["imports_polling"] = False
            st.rerun()
        return
    if v.running:
        st.session_state["imports_polling"] = True
        st.caption(
            tr("imports.ui.job_title_check" if v.dry_run else "imports.ui.job_title_import", file=v.filename)
        )
        progress_block(v)
        return
    if st.session_state.get("imports_polling"):
        st.session_state["imports_polling"] = False
        st.rerun()  # the job ended: draw the results with the whole page (and stop polling)


live_panel()


def show_check(v: jobs.JobView) -> None:
    res = jobs.job_result(v)
    if res is None:
        st.info(tr("imports.ui.result_gone"))
        return
    st.subheader(tr("imports.ui.check_title", file=v.filename))
    c = st.columns(4)
    c[0].metric(tr("imports.ui.rows"), f"{res.rows:,}")
    c[1].metric(tr("imports.ui.patrols"), f"{res.patrols:,}")
    c[2].metric(tr("imports.ui.incidents"), f"{res.incidents:,}")
    c[3].metric(tr("imports.ui.bad_rows"), f"{res.bad_rows:,}")
    for info in res.sheets:
        sheet = info["sheet"] or v.filename
        extra = []
        if info.get("example_rows"):
            extra.append(tr("imports.ui.example_skipped", rows="、".join(map(str, info["example_rows"]))))
        if info.get("skipped_total_rows"):
            extra.append(
                tr("imports.ui.totals_skipped", rows="、".join(map(str, info["skipped_total_rows"])))
            )
        if info.get("ignored_columns"):
            extra.append(tr("imports.ui.ignored_columns", cols="、".join(info["ignored_columns"])))
        st.caption(
            tr(
                "imports.ui.sheet_line",
                sheet=sheet,
                kind=tr("imports.kind." + info["kind"]),
                rows=info["rows"],
            )
            + ("；" if lng == "zh" else "; ").join([""] + extra)
        )
    if res.preview.get("patrols"):
        st.markdown(f"**{tr('imports.ui.first_patrols')}**")
        st.dataframe(
            _patrol_frame(res.preview["patrols"]), hide_index=True, width="stretch", key="imports_pv_p"
        )
    if res.preview.get("incidents"):
        st.markdown(f"**{tr('imports.ui.first_incidents')}**")
        st.dataframe(
            _incident_frame(res.preview["incidents"]), hide_index=True, width="stretch", key="imports_pv_i"
        )
    if res.errors:
        st.error(tr("imports.ui.bad_found", rows=f"{res.bad_rows:,}", problems=f"{len(res.errors):,}"))
        shown = res.errors[:MAX_ERRORS_SHOWN]
        st.dataframe(
            pd.DataFrame(
                [(e.sheet or v.filename, e.row, e.column, t(e.key, lng, **e.params)) for e in shown],
                columns=[tr("imports.col." + k) for k in ("sheet", "row", "column", "reason")],
            ),
            hide_index=True,
            width="stretch",
            height=300,
            key="imports_errors",
        )
        path = jobs.job_file(v)
        if path is not None and path.exists():
            errors = res.errors
            st.download_button(
                tr("imports.ui.download_bad"),
                data=functools.partial(error_workbook, path, errors, lng, v.filename),
                file_name=tr("imports.ui.bad_file", stem=v.filename.rsplit(".", 1)[0]),
                mime=XLSX_MIME,
                on_click="ignore",
                key="imports_bad_download",
                icon=":material/download:",
            )
        st.caption(tr("imports.ui.fix_and_retry"))
        return
    st.success(tr("imports.ui.check_ok", patrols=f"{res.patrols:,}", incidents=f"{res.incidents:,}"))
    if st.button(
        tr("imports.ui.import", n=f"{res.patrols + res.incidents:,}"),
        type="primary",
        key="imports_go",
        icon=":material/upload:",
    ):
        path = jobs.job_file(v)
        # (this process keeps the checked upload until the job is forgotten; without it Path(None) failed here)
        assert path is not None, "the checked upload is gone"
        try:
            with read_session() as s:
                actor = s.get_one(User, user.id)
            st.session_state["imports_job"] = jobs.start_job(actor, path, v.filename, dry_run=False)
        except ServiceError as exc:
            st.warning(err(exc))
        else:
            st.session_state["imports_polling"] = True
            st.rerun()


def show_import(v: jobs.JobView) -> None:
    st.success(
        tr(
            "imports.ui.imported",
            file=v.filename,
            patrols=f"{v.patrols:,}",
            incidents=f"{v.incidents:,}",
            batch=v.batch_id,
        )
    )
    c = st.columns(2)
    c[0].page_link(
        page_file("patrol_app/ui/pages/incident_map.py"),
        label=tr("imports.ui.to_map"),
        icon=":material/map:",
        query_params={"batch": str(v.batch_id)},
    )
    if allowed(user.role, Perm.EXPORT):
        c[1].page_link(
            page_file("patrol_app/ui/pages/report.py"),
            label=tr("imports.ui.to_report"),
            icon=":material/summarize:",
            query_params={"batch": str(v.batch_id)},
        )
    if st.button(tr("imports.ui.another"), key="imports_another"):
        jobs.forget(v)
        st.session_state.pop("imports_job", None)
        st.session_state["imports_upload_n"] = n + 1
        st.rerun()


def _patrol_frame(rows: list[dict]) -> pd.DataFrame:
    keys = (
        "date",
        "start_time",
        "end_time",
        "roads",
        "vehicles",
        "personnel",
        "km",
        "crew",
        "joint",
        "notes",
    )
    return pd.DataFrame(
        [[r.get(k) for k in keys] for r in rows], columns=[tr("imports.pcol." + k) for k in keys]
    )


def _incident_frame(rows: list[dict]) -> pd.DataFrame:
    keys = (
        "found_at",
        "type_code",
        "road_code",
        "stake",
        "side",
        "offset_m",
        "zone",
        "town",
        "measure",
        "status",
    )

    def cell(r: dict[str, Any], k: str) -> Any:
        val: Any = r.get(k)  # the column's value (a text code, a time …) or None
        if k == "type_code":
            return BY_CODE[val].name(lang()) if val in BY_CODE else val
        if k == "side":
            return tr("side." + val) if val else ""
        if k == "zone":
            return zone_label(val, "", lang())
        if k == "status":
            return tr("status." + val)
        if k == "measure":
            return tr("measure." + val) if val else ""
        if k == "found_at":
            return val.strftime("%Y-%m-%d %H:%M")
        return val

    return pd.DataFrame(
        [[cell(r, k) for k in keys] for r in rows], columns=[tr("imports.icol." + k) for k in keys]
    )


mine = st.session_state.get("imports_job")
if mine:
    with read_session() as s:
        v = jobs.job_view(s, user, mine)
    if v is not None and not v.running:
        if v.status == "failed":
            st.error(_job_error(v))
        elif v.dry_run:
            show_check(v)
        else:
            show_import(v)

# --- past batches ------------------------------------------------------------------------------------------
st.subheader(tr("imports.ui.batches"))
with read_session() as s:
    actor = s.get_one(User, user.id)
    past = jobs.batches(s, actor)
if not past:
    st.caption(tr("imports.ui.no_batches"))
else:
    batch_rows = [
        (
            b.id,
            b.filename,
            jobs.local_time(b.created_at),
            b.user,
            b.patrols,
            b.incidents,
            f"{b.first_date or ''} – {b.last_date or ''}" if b.first_date else "",
            tr("imports.ui.rolled_back_at", when=jobs.local_time(b.rolled_back_at))
            if b.rolled_back_at
            else "",
        )
        for b in past
    ]
    batch_columns = [
        tr("imports.bcol." + k)
        for k in ("id", "file", "at", "user", "patrols", "incidents", "dates", "state")
    ]
    st.dataframe(
        pd.DataFrame(batch_rows, columns=batch_columns),
        hide_index=True,
        width="stretch",
        key="imports_batches",
    )
    live = [b for b in past if not b.rolled_back_at]
    if live and allowed(user.role, Perm.ROLLBACK_IMPORT):
        with st.expander(tr("imports.ui.rollback_title")):
            st.caption(tr("imports.ui.rollback_hint"))
            c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
            which = c1.selectbox(
                tr("imports.ui.rollback_which"),
                [b.id for b in live],
                key="imports_rollback_id",
                format_func=lambda i: next(f"{b.id} · {b.filename}" for b in live if b.id == i),
            )
            sure = st.checkbox(tr("imports.ui.rollback_sure"), key="imports_rollback_sure")
            if c2.button(tr("imports.ui.rollback"), key="imports_rollback", disabled=not sure):

                def refused(exc: ServiceError) -> None:
                    if isinstance(exc, jobs.RollbackRefused):
                        reasons = jobs.blockers_text(exc.blockers, lng)
                        st.error(t(exc.key, lng, **{**exc.params, "reasons": reasons}))
                    else:
                        show_error(exc)

                write_and_flash(
                    lambda s: jobs.rollback_batch(s, s.get_one(User, user.id), int(which)),
                    "imports_flash",
                    lambda res: tr("imports.ui.rolled_back", batch=which, **res),
                    on_error=refused,
                )
