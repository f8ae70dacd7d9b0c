"""Enforcement cases: the list by status; open a case (立案) from an incident; legal review; decision; close.

Thin wiring: every rule (two certified officers, separation, review before a major decision) is checked by
``patrol_app.services.cases``. Forms are shown by role, and the service refuses anyway.
"""

from collections.abc import Callable

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session

from patrol_app.clock import local_text as local
from patrol_app.domain.catalog import BY_CODE
from patrol_app.domain.masking import party_fields
from patrol_app.domain.rules import Perm, allowed
from patrol_app.services import cases as svc
from patrol_app.services.errors import ServiceError
from patrol_app.services.registry import officer_options
from patrol_app.storage.db import read_session
from patrol_app.storage.models import Case, Incident
from patrol_app.ui.common import (
    lang,
    md_escape,
    page_user,
    show_error,
    show_flash,
    tr,
    write_and_flash,
)

state = st.session_state
user = page_user()


def type_name(code: str) -> str:
    vt = BY_CODE.get(code)
    return vt.name(lang()) if vt else code


def place(inc: dict) -> str:
    side = tr("side." + inc["side"]) if inc.get("side") in ("left", "right") else ""
    return f"{inc.get('road_code', '')} {inc.get('stake', '')} {side}".strip()


st.title(tr("case.title"))
st.caption(tr("case.caption"))
show_flash("case_flash")

# --- open a case ----------------------------------------------------------------------------------------
if allowed(user.role, Perm.OPEN_CASE):
    wanted = st.query_params.get("incident")
    with st.expander(tr("case.open_title"), expanded=bool(wanted) or bool(state.get("case_open_error"))):
        incident_id = st.number_input(
            tr("case.incident_id"),
            min_value=1,
            step=1,
            format="%d",
            key="case_incident",
            value=int(wanted) if wanted and str(wanted).isdigit() else None,
        )
        today = svc.local_today()
        with read_session() as s:
            inc = s.get(Incident, int(incident_id)) if incident_id else None
            options = officer_options(s, user, today)
        if inc is not None:
            st.caption(
                tr(
                    "case.incident_preview",
                    id=inc.id,
                    place=f"{inc.road_code} {inc.stake}",
                    type=type_name(inc.type_code),
                    description=md_escape(
                        party_fields(user, inc.party, inc.party_phone, inc.description)["description"] or "—"
                    ),
                )
            )
        labels = {
            o.id: tr(
                "case.officer_ok",
                name=o.name,
                cert=o.cert_no,
                date=o.cert_expiry.isoformat() if o.cert_expiry else "",  # (no problem: there is an expiry)
            )
            if o.problem is None
            else tr("case.officer_bad", name=o.name, reason=o.problem.render(lang()))
            for o in options
        }
        mine = [user.personnel_id] if user.personnel_id in labels else []
        officers = st.multiselect(
            tr("case.officers"),
            list(labels),
            default=mine,
            format_func=labels.__getitem__,
            key="case_officers",
            placeholder=tr("ui.choose"),
        )
        major = st.checkbox(tr("case.major"), key="case_major", help=tr("case.major_help"))
        ground_labels = {g: tr("case.ground." + g) for g in svc.MAJOR_GROUNDS}
        grounds = (
            st.multiselect(
                tr("case.major_grounds"),
                list(ground_labels),
                key="case_grounds",
                format_func=ground_labels.__getitem__,
                placeholder=tr("ui.choose"),
            )
            if major
            else []
        )
        if st.button(tr("case.open_button"), type="primary", key="case_open"):

            def opened(new_id: int) -> None:
                for k in ("case_incident", "case_officers", "case_major", "case_grounds"):
                    state.pop(k, None)  # an empty form for the next case
                state["case_pick"] = new_id
                state["case_filter"] = "all"
                state.pop("case_open_error", None)
                state.pop("case_open_refusal", None)

            def refused(exc: ServiceError) -> None:
                # kept until the form changes: a rerun (another widget, a reconnect) does not wipe the reason
                state["case_open_error"] = True
                state["case_open_refusal"] = (
                    int(incident_id or 0),
                    tuple(officers),
                    major,
                    tuple(grounds),
                    exc,
                )

            write_and_flash(
                lambda s: (
                    svc.open_case(
                        s, user, int(incident_id or 0), officers, major=major, major_grounds=grounds
                    ).id
                ),
                "case_flash",
                lambda new_id: tr("case.opened", id=new_id),
                after=opened,
                on_error=refused,
            )
        refusal = state.get("case_open_refusal")
        if refusal and refusal[:4] == (int(incident_id or 0), tuple(officers), major, tuple(grounds)):
            show_error(refusal[4])
        else:
            state.pop("case_open_refusal", None)

# --- the list -------------------------------------------------------------------------------------------
status = st.segmented_control(
    tr("case.filter"),
    ["all", *svc.STATUSES],
    default="all",
    key="case_filter",
    format_func=lambda v: tr("case.status." + v),
)
with read_session() as s:
    views = svc.list_cases(s, user, None if status in (None, "all") else status)
if not views:
    st.info(tr("case.none"))
    st.stop()
st.caption(tr("case.count", count=len(views)))


def outcome_text(kind: str, outcome: str) -> str:
    key = f"case.{kind}.{outcome}"
    return tr(key) if outcome else ""


df = pd.DataFrame(
    [
        {
            tr("case.col.id"): v.id,
            tr("case.col.incident"): v.incident_id,
            tr("case.col.place"): place(v.incident),
            tr("case.col.type"): type_name(v.incident.get("type", "")),
            tr("case.col.major"): v.major,
            tr("case.col.status"): tr("case.status." + v.status),
            tr("case.col.officers"): "、".join(f"{o.name}（{o.cert_no}）" for o in v.officers),
            tr("case.col.opened"): f"{local(v.opened_at)} {v.opened_by}",
            tr("case.col.reviewed"): (
                f"{local(v.reviewed_at)} {v.reviewer} · {outcome_text('review_outcome', v.review_outcome)}"
                if v.reviewed_at
                else ""
            ),
            tr("case.col.decided"): (
                f"{local(v.decided_at)} {v.decider} · {outcome_text('outcome', v.decision_outcome)}"
                if v.decided_at
                else ""
            ),
        }
        for v in views
    ]
)
st.dataframe(df, hide_index=True, width="stretch")

# --- one case -------------------------------------------------------------------------------------------
by_id = {v.id: v for v in views}
if state.get("case_pick") not in by_id:
    state["case_pick"] = views[0].id
pick = st.selectbox(
    tr("case.pick"),
    list(by_id),
    key="case_pick",
    format_func=lambda i: tr(
        "case.pick_option", id=i, incident=by_id[i].incident_id, status=tr("case.status." + by_id[i].status)
    ),
)
v = by_id[pick]
case_inc = v.incident
head = f"**{tr('case.pick_option', id=v.id, incident=v.incident_id, status=tr('case.status.' + v.status))}**"
if v.major:
    head += f" · :red[{tr('case.major_badge')}]"
st.markdown(head)
lines = []
if case_inc:
    lines.append(
        tr(
            "case.detail_incident",
            id=case_inc["id"],
            place=place(case_inc),
            type=type_name(case_inc["type"]),
            found=f"{case_inc['found_at']:%Y-%m-%d %H:%M}",
        )
    )
    if case_inc.get("party"):
        lines.append(
            tr(
                "case.detail_party",
                party=md_escape(case_inc["party"]),
                phone=md_escape(case_inc.get("party_phone", "")),
            )
        )
lines.append(tr("case.detail_opened", name=md_escape(v.opened_by), at=local(v.opened_at)))
lines.append(
    tr("case.detail_officers", officers="、".join(md_escape(f"{o.name}（{o.cert_no}）") for o in v.officers))
)
if v.reviewed_at:
    lines.append(
        tr(
            "case.detail_review",
            name=md_escape(v.reviewer),
            at=local(v.reviewed_at),
            outcome=outcome_text("review_outcome", v.review_outcome),
            text=md_escape(v.review_text),
        )
    )
else:
    lines.append(tr("case.detail_no_review"))
if v.major:
    lines.append(
        tr("case.detail_grounds", grounds="；".join(tr("case.ground." + g) for g in v.major_grounds) or "—")
    )
    lines.append(
        tr(
            "case.detail_collective",
            at=v.collective_at.isoformat(),
            people=v.collective_participants,
            text=v.collective_conclusion,
        )
        if v.collective_at
        else tr("case.detail_no_collective")
    )
if v.decided_at:
    lines.append(
        tr(
            "case.detail_decision",
            name=md_escape(v.decider),
            at=local(v.decided_at),
            outcome=outcome_text("outcome", v.decision_outcome),
            text=md_escape(v.decision_text),
        )
    )
else:
    lines.append(tr("case.detail_no_decision"))
st.markdown("\n".join("- " + line for line in lines))

open_states = (svc.INVESTIGATING, svc.RETURNED, svc.REVIEWED)
with read_session() as s:
    case_row = s.get_one(Case, v.id)
    review_block = svc.review_blockers(s, user, case_row)
    decide_block = svc.decide_blockers(s, user, case_row)


def act(fn: Callable[[Session], object], flash_text: str) -> None:
    write_and_flash(fn, "case_flash", flash_text)


if allowed(user.role, Perm.REVIEW_CASE) and v.status in open_states:
    st.subheader(tr("case.review_title"))
    if review_block:
        st.warning(tr("case.cannot_review") + "\n\n" + "\n\n".join(tr(k, id=v.id) for k in review_block))
    else:
        opinion = st.text_area(tr("case.opinion"), key=f"case_opinion_{v.id}")
        c1, c2 = st.columns(2)
        if c1.button(tr("case.approve"), type="primary", key="case_approve"):
            act(lambda s: svc.review_case(s, user, v.id, True, opinion), tr("case.reviewed_ok", id=v.id))
        if c2.button(tr("case.return"), key="case_return"):
            act(lambda s: svc.review_case(s, user, v.id, False, opinion), tr("case.reviewed_ok", id=v.id))

if allowed(user.role, Perm.DECIDE_CASE) and v.status in open_states and v.major:
    st.subheader(tr("case.collective_title"))
    st.caption(tr("case.collective_caption"))
    c_on = st.date_input(
        tr("case.collective_date"),
        value=v.collective_at or svc.local_today(),
        max_value=svc.local_today(),
        key=f"case_coll_at_{v.id}",
    )
    c_people = st.text_input(
        tr("case.collective_participants"), value=v.collective_participants, key=f"case_coll_people_{v.id}"
    )
    c_text = st.text_area(
        tr("case.collective_conclusion"), value=v.collective_conclusion, key=f"case_coll_text_{v.id}"
    )
    if st.button(tr("case.collective_button"), key="case_collective"):
        act(
            lambda s: svc.record_collective_discussion(s, user, v.id, c_on, c_people, c_text),
            tr("case.collective_ok", id=v.id),
        )

if allowed(user.role, Perm.DECIDE_CASE) and v.status in open_states:
    st.subheader(tr("case.decide_title"))
    if decide_block:
        st.warning(tr("case.cannot_decide") + "\n\n" + "\n\n".join(tr(k, id=v.id) for k in decide_block))
    else:
        outcome = st.selectbox(
            tr("case.outcome"),
            list(svc.DECISION_OUTCOMES),
            key=f"case_outcome_{v.id}",
            format_func=lambda o: tr("case.outcome." + o),
        )
        text = st.text_area(tr("case.decision_text"), key=f"case_decision_{v.id}")
        if st.button(tr("case.decide_button"), type="primary", key="case_decide"):
            act(lambda s: svc.decide_case(s, user, v.id, outcome, text), tr("case.decided_ok", id=v.id))

if allowed(user.role, Perm.DECIDE_CASE) and v.status == svc.DECIDED:
    st.subheader(tr("case.close_title"))
    note = st.text_area(tr("case.close_note"), key=f"case_close_note_{v.id}")
    if st.button(tr("case.close_button"), type="primary", key="case_close"):
        act(
            lambda s: svc.close_case(s, user, v.id, note),
            tr("case.closed_ok", id=v.id, incident=v.incident_id),
        )
