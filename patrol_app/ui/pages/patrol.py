"""Start a patrol (crew, vehicles, roads — defaults from my last patrol), see it while it runs, end it."""

import uuid

import streamlit as st
from sqlalchemy import func, select

from patrol_app.clock import local_now
from patrol_app.domain.rules import WEATHER
from patrol_app.i18n import t
from patrol_app.services.field import (
    PatrolStart,
    end_patrol,
    km_from_roads,
    last_patrol_defaults,
    open_patrol_of,
    patrol_flags_explained,
    start_patrol,
)
from patrol_app.storage.db import read_session
from patrol_app.storage.models import Incident, Personnel, Vehicle
from patrol_app.ui.common import (
    lang,
    md_escape,
    network,
    page_file,
    page_user,
    show_flash,
    tr,
    write_and_flash,
)
from patrol_app.ui.documents import patrol_documents

user = page_user()
net = network(user)
st.title(tr("nav.patrol"))
show_flash("patrol_flash")

with read_session() as s:
    patrol = open_patrol_of(s, user)
    defaults = last_patrol_defaults(s, user)
    people = list(
        s.execute(select(Personnel).where(Personnel.active.is_(True)).order_by(Personnel.id)).scalars()
    )
    vehicles = list(s.execute(select(Vehicle).where(Vehicle.active.is_(True)).order_by(Vehicle.id)).scalars())
    n_inc = (
        0
        if patrol is None
        else s.execute(
            select(func.count()).select_from(Incident).where(Incident.patrol_id == patrol.id)
        ).scalar_one()
    )
    if patrol is not None:
        s.expunge(patrol)
        roads_of_patrol = patrol.road_codes

today = local_now()


def person_label(pid: int) -> str:
    p = next(x for x in people if x.id == pid)
    if p.auxiliary:
        return f"{p.name}（{tr('field.aux')}）"
    return f"{p.name} · {p.cert_no or '—'}"


if patrol is None:
    st.subheader(tr("field.start_title"))
    token = st.session_state.setdefault("patrol_token", uuid.uuid4().hex)
    with st.form("start_patrol"):
        c1, c2 = st.columns(2)
        date = c1.date_input(tr("field.date"), value=today.date(), max_value=today.date())
        start_time = c2.time_input(
            tr("field.start_time"), value=today.time().replace(second=0, microsecond=0), step=300
        )
        roads = st.multiselect(
            tr("field.roads"),
            net.codes,
            default=[c for c in defaults["roads"] if c in net.codes],
            format_func=lambda c: f"{c} {net.routes[c].name}",
            placeholder=tr("ui.choose"),
        )
        crew = st.multiselect(
            tr("field.crew"),
            [p.id for p in people],
            default=[c for c in defaults["crew"] if any(p.id == c for p in people)],
            format_func=person_label,
            placeholder=tr("ui.choose"),
        )
        vehicle_ids = st.multiselect(
            tr("field.vehicles"),
            [v.id for v in vehicles],
            default=[v for v in defaults["vehicles"] if any(x.id == v for x in vehicles)],
            format_func=lambda vid: next(f"{v.plate} {v.kind}" for v in vehicles if v.id == vid),
            placeholder=tr("ui.choose"),
        )
        c1, c2 = st.columns(2)
        joint = c1.text_input(tr("field.joint"))
        weather = c2.selectbox(tr("field.weather"), WEATHER, format_func=lambda w: tr("weather." + w))
        go = st.form_submit_button(tr("field.start"), type="primary", width="stretch")
    if go:

        def start(s):
            # the record keeps the weather as the bureau writes it (Chinese), whatever the UI language
            started = start_patrol(
                s,
                user,
                PatrolStart(
                    date=date,
                    start_time=start_time.strftime("%H:%M"),
                    roads=roads,
                    crew_ids=crew,
                    vehicle_ids=vehicle_ids,
                    joint=joint,
                    weather=t("weather." + weather, "zh"),
                ),
                client_token=token,
            )
            why = patrol_flags_explained(s, user, crew, date) if started.flags else []
            return "\n\n".join([tr("field.patrol_started"), *(e.render(lang()) for e in why)])

        write_and_flash(start, "patrol_flash", after=lambda _: st.session_state.pop("patrol_token", None))
else:
    st.info(
        tr(
            "field.open_patrol",
            date=patrol.date.isoformat(),
            time=patrol.start_time or "",
            roads="、".join(roads_of_patrol),
            crew=md_escape(patrol.crew),
        )
    )
    if patrol.flags:
        st.warning(tr("patrol.flagged"))
    st.write(tr("field.incidents_on_patrol", n=n_inc))
    # while a patrol runs, logging what is found is the page's main act: the big button
    if st.button(
        tr("nav.incident"),
        type="primary",
        width="stretch",
        icon=":material/add_location_alt:",
        key="patrol_log_incident",
    ):
        st.switch_page(page_file("patrol_app/ui/pages/incident.py"))
    st.subheader(tr("field.end_title"))
    method = st.radio(
        tr("field.km_method"),
        ["roads", "typed", "gpx"],
        horizontal=True,
        format_func=lambda m: tr(
            {"roads": "field.km_roads", "typed": "field.km_typed", "gpx": "field.km_gpx"}[m]
        ),
    )
    with st.form("end_patrol"):
        end_time = st.time_input(
            tr("field.end_time"), value=today.time().replace(second=0, microsecond=0), step=300
        )
        km = None
        gpx = None
        if method == "typed":
            km = st.number_input(tr("field.km"), min_value=0.0, max_value=2000.0, step=1.0, value=None)
        elif method == "roads":
            st.caption(f"{tr('field.km')}: {km_from_roads(net, roads_of_patrol):.1f}")
        else:
            gpx = st.file_uploader(tr("field.gpx"), type=["gpx"])
        done = st.form_submit_button(tr("field.end"), width="stretch")
    if done:  # ending is final: ask first, with what will be recorded
        st.session_state["patrol_end_pending"] = {
            "end": end_time.strftime("%H:%M"),
            "km": km,
            "method": method,
            "gpx": gpx.getvalue() if gpx else None,
        }
    pending = st.session_state.get("patrol_end_pending")
    confirmed = False
    if pending:
        km_text = (
            f"{pending['km']:.1f}"
            if pending["km"] is not None
            else f"{km_from_roads(net, roads_of_patrol):.1f}"
            if pending["method"] == "roads"
            else "GPX"
        )
        st.warning(tr("field.end_confirm", end=pending["end"], km=km_text, n=n_inc), icon=":material/help:")
        c1, c2 = st.columns(2)
        confirmed = c1.button(tr("field.end_yes"), type="primary", width="stretch", key="patrol_end_yes")
        if c2.button(tr("ui.cancel"), width="stretch", key="patrol_end_no"):
            st.session_state.pop("patrol_end_pending", None)
            st.rerun()
    if confirmed and pending and patrol is not None:  # (confirmed only while pending)
        st.session_state.pop("patrol_end_pending", None)
        req, pid = pending, patrol.id
        write_and_flash(
            lambda s: end_patrol(
                s, user, pid, req["end"], km=req["km"], method=req["method"], gpx=req["gpx"]
            ),
            "patrol_flash",
            lambda p: tr("field.patrol_ended", km=f"{p.km:.1f}", vehicles=p.vehicles, personnel=p.personnel),
        )

patrol_documents(user)  # 巡查记录 of my recent patrols
