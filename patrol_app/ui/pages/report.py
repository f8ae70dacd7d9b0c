"""The report page: a year (or a date range), the narrative and tables on screen, and downloads of the report
(docx, xlsx, json, md) and of the data (incidents and patrols in every export format).

Files are built only when their download button is clicked (deferred ``data`` callables), cached per period,
user (role) and language."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from patrol_app.config import get_settings
from patrol_app.domain.rules import Perm, allowed
from patrol_app.io.exports import FORMATS as EXPORT_FORMATS
from patrol_app.io.exports import KINDS, ExportFilter, can_see_parties, export_audit, file_name
from patrol_app.io.exports import MIME as EXPORT_MIME
from patrol_app.io.exports import count as export_count
from patrol_app.reports.report import Report, build_report, cell_text, report_tables, report_title
from patrol_app.reports.rollup import Period
from patrol_app.reports.writers import FORMATS as REPORT_FORMATS
from patrol_app.reports.writers import MIME as REPORT_MIME
from patrol_app.services.errors import ServiceError
from patrol_app.services.stats import default_year, years_with_data
from patrol_app.storage.db import read_session, read_stale
from patrol_app.ui.common import batch_filter, county_choice, err, lang, md_escape, page_user, tr


@st.cache_data(ttl=120, show_spinner=False)
def _report(
    url: str,
    start: dt.date,
    end: dt.date,
    username: str,
    role: str,
    county: str | None = None,
    batch: int | None = None,
) -> Report:
    from patrol_app.services.users import get_user

    return read_stale(
        lambda s: build_report(s, get_user(s, username), Period(start, end), batch, county), url
    )


@st.cache_data(ttl=120, show_spinner=False, max_entries=32)
def _report_file(
    url: str, start: dt.date, end: dt.date, username: str, role: str, county: str | None, fmt: str, lng: str
) -> bytes:
    from patrol_app.reports.writers import render

    report = _report(url, start, end, username, role, county)
    return read_stale(lambda s: render(report, fmt, lng, session=s), url)


@st.cache_data(ttl=120, show_spinner=False, max_entries=16)
def _export_file(
    url: str,
    start: dt.date,
    end: dt.date,
    username: str,
    role: str,
    county: str | None,
    kind: str,
    fmt: str,
    lng: str,
    batch: int | None = None,
) -> bytes:
    from patrol_app.io.exports import export_bytes
    from patrol_app.services.users import get_user

    return read_stale(  # each click is recorded by _downloaded, not this cached build
        lambda s: export_bytes(
            s,
            get_user(s, username),
            kind,
            fmt,
            ExportFilter(start, end, batch=batch, county=county),
            lng,
            audited=False,
        ),
        url,
    )


def _downloaded(
    data: bytes, url: str, username: str, action: str, entity: str, after: dict[str, Any]
) -> bytes:
    """Record a download click in the audit trail (who, what, filters, rows), then hand the file over."""
    from patrol_app.services.audit_log import record_download

    record_download(url, username, action, entity, after)
    return data


@st.cache_data(ttl=120, show_spinner=False)
def _map_png(
    url: str, start: dt.date, end: dt.date, username: str, role: str, county: str | None, lng: str
) -> bytes:
    from patrol_app.reports.figure import report_map_png

    report = _report(url, start, end, username, role, county)
    return read_stale(lambda s: report_map_png(s, report, lng), url)


st.title(tr("report.title"))
user = page_user()
if user is None or not allowed(user.role, Perm.EXPORT):
    st.warning(tr("report.ui.no_permission"))
    st.stop()

url = get_settings().db_url
county = county_choice(user, "report_county")  # city and province accounts: all their counties, or one
with read_session(stale_ok=True) as s:
    years = years_with_data(s, user, county)
batch = batch_filter()  # ?batch=N (from the ledger import page): only that imported batch, over its dates
if batch is not None:
    c1, c2 = st.columns([4, 1], vertical_alignment="center")
    c1.info(tr("imports.report.batch_only", batch=batch.id, file=batch.filename))
    if c2.button(tr("imports.map.show_all"), key="report_batch_clear"):
        st.query_params.pop("batch", None)
        st.rerun()
left, right = st.columns([1, 3])
year = left.selectbox(tr("ui.year"), years, index=years.index(default_year(years)), key="report_year")
custom = right.toggle(tr("report.ui.custom_range"), key="report_custom")
period = Period.year_to_date(int(year))
if batch is not None and batch.first_date and not custom:
    period = Period(batch.first_date, batch.last_date or batch.first_date)
if custom:
    picked = right.date_input(tr("report.ui.range"), value=(period.start, period.end), key="report_range")
    if isinstance(picked, (tuple, list)) and len(picked) == 2:
        period = Period(picked[0], picked[1])
    else:
        st.info(tr("report.ui.pick_end"))
        st.stop()

key = (url, period.start, period.end, user.username, user.role, county)
batch_id = batch.id if batch is not None else None
lng = lang()  # read here: the download callables run on another thread, without the session
try:
    report = _report(*key, batch_id)
except ServiceError as exc:  # shown in the user's language, not as a traceback
    st.error(err(exc))
    st.stop()

c, p = report.current, report.previous
cols = st.columns(3)
cols[0].metric(
    tr("ui.vehicle_trips"), c.vehicle_trips, c.vehicle_trips - p.vehicle_trips if p.has_data else None
)
cols[1].metric(tr("ui.person_trips"), c.person_trips, c.person_trips - p.person_trips if p.has_data else None)
cols[2].metric(tr("ui.patrols"), c.patrols, c.patrols - p.patrols if p.has_data else None)
cols = st.columns(3)
cols[0].metric(tr("ui.km"), f"{c.km_patrolled:,.1f}")
cols[1].metric(
    tr("ui.incidents"),
    c.incidents_total,
    c.incidents_total - p.incidents_total if p.has_data else None,
    delta_color="off",
)
cols[2].metric(tr("report.figure.closure_rate"), cell_text(c.closure_rate, "pct"))

st.subheader(tr("report.ui.narrative"))
for para in report.paragraphs(lng):
    st.markdown(md_escape(para))

st.subheader(tr("report.ui.tables"))
tables = report_tables(report, lng)
for tab, table in zip(st.tabs([tb.title(lng) for tb in tables]), tables):
    with tab:
        df = pd.DataFrame(
            [
                [cell_text(v, table.fmt(i, j), lng) for j, v in enumerate(row)]
                for i, row in enumerate(table.rows)
            ],
            columns=table.columns,
        )
        st.dataframe(df, hide_index=True, width="stretch")

if batch is None and st.toggle(tr("report.ui.show_map"), key="report_show_map"):
    st.image(_map_png(*key, lng), caption=tr("report.map.caption", period=report_title(report, lng)))

stem = (
    f"report_{period.start:%Y%m%d}_{period.end:%Y%m%d}" if not period.is_calendar_year else f"report_{year}"
)
report_formats = sorted(REPORT_FORMATS, key=("docx", "xlsx", "json", "md").index) if batch is None else []
if report_formats:  # the formal report covers all records of a period, not one imported batch
    st.subheader(tr("report.ui.downloads"))
for col, fmt in zip(st.columns(max(len(report_formats), 1)), report_formats):

    def report_bytes(
        fmt: str = fmt, key: tuple[str, dt.date, dt.date, str, str, str | None] = key, lng: str = lng
    ) -> bytes:
        return _downloaded(
            _report_file(*key, fmt, lng),
            key[0],
            key[3],
            "download.report",
            "report",
            {"period": f"{key[1].isoformat()}–{key[2].isoformat()}", "format": fmt, "file": f"{stem}.{fmt}"},
        )

    col.download_button(
        tr("report.ui.download", format=tr("report.format." + fmt)),
        data=report_bytes,
        file_name=f"{stem}.{fmt}",
        mime=REPORT_MIME[fmt],
        on_click="ignore",
        key=f"report_dl_{fmt}",
        icon=":material/download:",
    )

st.subheader(tr("report.ui.data"))
kind = (
    st.segmented_control(
        tr("report.ui.kind"),
        KINDS,
        default=KINDS[0],
        key="report_kind",
        format_func=lambda k: tr("export.sheet." + k),
    )
    or KINDS[0]
)
flt = ExportFilter(period.start, period.end, batch=batch_id, county=county)
with read_session(stale_ok=True) as s:
    n_rows = export_count(s, user, kind, flt)
    st.caption(tr("report.ui.count", n=n_rows, kind=tr("export.sheet." + kind)))
if not can_see_parties(user):
    st.caption(tr("report.ui.masked"))
export_cols = st.columns(4)
for i, fmt in enumerate(EXPORT_FORMATS):

    def export_bytes(
        fmt: str = fmt,
        kind: str = kind,
        key: tuple[str, dt.date, dt.date, str, str, str | None] = key,
        lng: str = lng,
    ) -> bytes:
        return _downloaded(
            _export_file(*key, kind, fmt, lng, batch_id),
            key[0],
            key[3],
            f"export.{kind}",
            "export",
            export_audit(kind, fmt, flt, n_rows, not can_see_parties(user), file_name(kind, fmt, flt, lng)),
        )

    export_cols[i % 4].download_button(
        tr("report.ui.download", format=tr("export.format." + fmt)),
        data=export_bytes,
        file_name=file_name(kind, fmt, flt, lng),
        mime=EXPORT_MIME[fmt],
        on_click="ignore",
        key=f"export_dl_{kind}_{fmt}",
        icon=":material/download:",
    )
