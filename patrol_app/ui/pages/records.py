"""我的记录: my patrols and incidents of the last 30 days with their saved state; open one, edit while allowed."""

import streamlit as st

from patrol_app.clock import local_text
from patrol_app.config import get_settings
from patrol_app.domain.catalog import BY_CODE
from patrol_app.domain.rules import MEASURES
from patrol_app.photos import photo_file
from patrol_app.services.field import history
from patrol_app.services.my_records import edit_incident, my_records, why_not_editable
from patrol_app.storage.db import read_session
from patrol_app.storage.models import Incident
from patrol_app.ui.common import lang, page_user, show_flash, tr, write_and_flash

state = st.session_state
user = page_user()
st.title(tr("mine.title"))
show_flash("mine_flash")
st.caption(tr("mine.caption"))

with read_session() as s:
    mine = my_records(s, user)

if mine.drafts:
    st.subheader(tr("mine.drafts"))
    for d in mine.drafts:
        st.text(
            tr(
                "mine.draft_item",
                form=tr("mine.form." + (d.form if d.form in ("incident", "patrol") else "incident")),
                at=local_text(d.updated_at),
            )
        )

if not mine.patrols and not mine.incidents:
    st.info(tr("mine.none"))

if mine.patrols:
    st.subheader(tr("mine.patrols"))
    st.dataframe(
        [
            {
                "#": p.id,
                tr("field.date"): p.date.isoformat(),
                tr("field.start_time"): p.start_time or "",
                tr("field.end_time"): p.end_time or "",
                tr("ui.road"): "、".join(p.road_codes),
                tr("field.km"): "" if p.km is None else f"{p.km:.1f}",
                tr("mine.state"): tr("mine.state_running") if p.status == "open" else tr("mine.state_saved"),
            }
            for p in mine.patrols
        ],
        hide_index=True,
        width="stretch",
    )

if mine.incidents:
    st.subheader(tr("mine.incidents"))
    st.dataframe(
        [
            {
                "#": i.id,
                tr("field.date"): f"{i.found_at:%m-%d %H:%M}",
                tr("ui.road"): i.road_code,
                tr("ui.stake"): i.stake,
                tr("field.type"): BY_CODE[i.type_code].name(lang()),
                tr("field.status"): tr("status." + i.status),
                tr("mine.state"): tr("mine.state_saved"),
            }
            for i in mine.incidents
        ],
        hide_index=True,
        width="stretch",
    )
    ids = [i.id for i in mine.incidents]
    wanted = st.query_params.get("incident")
    default = int(wanted) if wanted and wanted.isdigit() and int(wanted) in ids else ids[0]
    by_id = {i.id: i for i in mine.incidents}
    chosen = st.selectbox(
        tr("mine.pick"),
        ids,
        index=ids.index(default),
        key="mine_pick",
        format_func=lambda i: (
            f"#{i} {by_id[i].road_code} {by_id[i].stake} · {BY_CODE[by_id[i].type_code].name(lang())}"
        ),
    )
    st.query_params["incident"] = str(chosen)
    with read_session() as s:
        inc = s.get_one(Incident, chosen)
        steps = history(s, user, chosen)
        refusal = why_not_editable(s, user, inc)
    st.text(
        f"{BY_CODE[inc.type_code].name(lang())} · {inc.road_code} {inc.stake} "
        f"{tr('side.' + inc.side) if inc.side else ''} · {tr('status.' + inc.status)}"
    )
    data_dir = get_settings().data_dir
    for ev, who, photos in steps:
        st.text(
            f"• {local_text(ev.at)} · {who} · {tr('event.' + ev.action)}"
            + (f" — {ev.note}" if ev.note else "")
        )
        if photos:
            cols = st.columns(4)
            for n, ph in enumerate(photos):
                cols[n % 4].image(str(photo_file(ph.display_path, data_dir)), width="stretch")

    if chosen in mine.editable:
        gen = state.setdefault("mine_gen", 0)
        fk = f"{chosen}_{gen}"
        st.subheader(tr("mine.edit_title", id=chosen))
        with st.form(f"mine_edit_{fk}"):
            desc = st.text_area(tr("field.description"), value=inc.description, key=f"mine_desc_{fk}")
            c1, c2 = st.columns(2)
            party = c1.text_input(tr("field.party"), value=inc.party, key=f"mine_party_{fk}")
            phone = c2.text_input(tr("field.party_phone"), value=inc.party_phone, key=f"mine_phone_{fk}")
            measure = c1.selectbox(
                tr("field.measure"),
                ["", *MEASURES],
                key=f"mine_measure_{fk}",
                index=(["", *MEASURES].index(inc.measure) if inc.measure in MEASURES else 0),
                format_func=lambda m: tr("measure." + (m or "none")),
            )
            deadline = c2.date_input(tr("field.deadline"), value=inc.deadline, key=f"mine_deadline_{fk}")
            go = st.form_submit_button(tr("mine.save"), type="primary", width="stretch")
        if go:
            write_and_flash(
                lambda s: edit_incident(
                    s,
                    user,
                    chosen,
                    {
                        "description": desc,
                        "party": party,
                        "party_phone": phone,
                        "measure": measure or "",
                        "deadline": deadline,
                    },
                ),
                "mine_flash",
                {"text": tr("mine.saved", id=chosen)},
                after=lambda _: state.update(mine_gen=gen + 1),
            )
    else:
        st.caption(tr("mine.readonly", reason=tr(refusal or "mine.closed", id=chosen)))
