"""Open incidents: by road, by distance from where I am, overdue first; history; re-inspect, close."""

import datetime as dt

import streamlit as st
from sqlalchemy.orm import Session

from patrol_app.clock import local_now, local_text
from patrol_app.config import get_settings
from patrol_app.domain.catalog import BY_CODE
from patrol_app.domain.rules import MEASURES
from patrol_app.photos import photo_file, store_photo
from patrol_app.services.field import history, open_incidents, update_status
from patrol_app.storage.db import read_session
from patrol_app.storage.models import Incident
from patrol_app.ui.common import lang, network, page_user, show_flash, tr, write_and_flash
from patrol_app.ui.documents import incident_documents
from patrol_app.ui.widgets import gps_button

state = st.session_state
user = page_user()
net = network(user)
st.title(tr("nav.followup"))
show_flash("fu_flash")

c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
order = c1.segmented_control(
    tr("field.order_by"),
    ["road", "distance", "overdue"],
    default="road",
    key="fu_order",
    format_func=lambda o: tr(
        {"road": "field.by_road", "distance": "field.by_distance", "overdue": "field.overdue"}[o]
    ),
)
road = c2.selectbox(
    tr("ui.road"),
    ["", *net.codes],
    key="fu_road",
    format_func=lambda c: c and f"{c} {net.routes[c].name}" or "—",
)
near = None
if order == "distance":
    fix = gps_button("fu_gps")
    if fix and not fix.get("error"):
        state["fu_near"] = (fix["lon"], fix["lat"])
    elif fix:
        st.warning(
            tr("field.gps_insecure")
            if fix["error"] == "insecure"
            else tr("field.gps_failed", message=fix.get("message", ""))
        )
    near = state.get("fu_near")
    if near:
        st.caption(tr("field.distance_from", lon=f"{near[0]:.5f}", lat=f"{near[1]:.5f}"))

today = local_now().date()
with read_session() as s:
    rows = open_incidents(s, user, order=order or "road", near=near, road=road or None, today=today)
if not rows:
    st.info(tr("field.no_open"))
    st.stop()


def label(inc: Incident, dist: float | None) -> str:
    extra = ""
    if inc.deadline and inc.deadline < today:
        extra = " · " + tr("field.overdue_since", date=inc.deadline.isoformat())
    if dist is not None:
        extra += " · " + tr("field.distance_m", m=f"{dist:,.0f}")
    return (
        f"#{inc.id} {inc.road_code} {inc.stake} · {BY_CODE[inc.type_code].name(lang())} · "
        f"{inc.found_at:%Y-%m-%d}{extra}"
    )


options = {inc.id: label(inc, d) for inc, d in rows}
chosen = st.selectbox(
    tr("field.pick_incident"), list(options), format_func=options.__getitem__, key="fu_pick"
)
inc = next(i for i, _ in rows if i.id == chosen)

st.text(
    f"{BY_CODE[inc.type_code].name(lang())} · {inc.road_code} {inc.stake} "
    f"{tr('side.' + inc.side) if inc.side else ''} · {tr('status.' + inc.status)}"
)
if inc.description:
    st.text(inc.description)  # free text as typed: text, never Markdown
st.caption(
    tr("field.legal_basis", basis=BY_CODE[inc.type_code].legal_basis, penalty=BY_CODE[inc.type_code].penalty)
)
incident_documents(user, inc.id, inc.deadline)  # 现场检查（勘验）笔录, numbered notices

with read_session() as s:
    steps = history(s, user, inc.id)
st.subheader(tr("field.history"))
data_dir = get_settings().data_dir
if not steps:  # imported from a ledger (or the demo): its finding is the only step known
    st.text(f"• {inc.found_at:%Y-%m-%d %H:%M} · {tr('event.created')} · {tr('status.' + inc.status)}")
for ev, who, photos in steps:
    st.text(
        f"• {local_text(ev.at)} · {who} · {tr('event.' + ev.action)}"
        + (f" · {tr('status.' + ev.status_after)}" if ev.status_after else "")
        + (f" — {ev.note}" if ev.note else "")
    )
    if photos:
        cols = st.columns(4)
        for i, ph in enumerate(photos):
            cols[i % 4].image(str(photo_file(ph.display_path, data_dir)), width="stretch")

# Every widget of the form belongs to this incident and this round: moving on to another incident, or saving,
# starts from that record's own values, never from what the last form showed.
gen = state.setdefault("fu_gen", 0)
fk = f"{inc.id}_{gen}"
with st.form(f"status_{fk}"):
    new_status = st.segmented_control(
        tr("field.new_status"),
        ["open", "closed"],
        default=inc.status,
        key=f"fu_status_{fk}",
        format_func=lambda v: tr("status." + v),
    )
    c1, c2 = st.columns(2)
    measure = c1.selectbox(
        tr("field.measure"),
        ["", *MEASURES],
        key=f"fu_measure_{fk}",
        index=(["", *MEASURES].index(inc.measure) if inc.measure in MEASURES else 0),
        format_func=lambda m: tr("measure." + (m or "none")),
    )
    deadline = c2.date_input(
        tr("field.deadline"), value=inc.deadline or (today + dt.timedelta(days=15)), key=f"fu_deadline_{fk}"
    )
    note = st.text_area(tr("field.note"), height=80, key=f"fu_note_{fk}")
    files = st.file_uploader(
        tr("field.reinspection_photos"),
        type=["jpg", "jpeg", "png", "heic", "heif"],
        accept_multiple_files=True,
        key=f"fu_files_{fk}",
    )
    go = st.form_submit_button(tr("field.save_status"), type="primary", width="stretch")
if go:

    def save(s: Session) -> None:
        # the photo files first (a refused photo: nothing written), then the status change with them
        photos = [store_photo(f.getvalue(), f.name) for f in files or []]
        update_status(
            s,
            user,
            inc.id,
            new_status or inc.status,
            note,
            photos,
            measure=measure or None,
            deadline=deadline if measure == "order_correct" else None,
        )

    write_and_flash(
        save,
        "fu_flash",
        tr(
            "field.status_saved_for",
            id=inc.id,
            road=inc.road_code,
            stake=inc.stake,
            status=tr("status." + (new_status or inc.status)),
        ),
        after=lambda _: state.update(fu_gen=gen + 1),
    )
