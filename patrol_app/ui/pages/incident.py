"""Log an incident: location (GPS / map tap / road + stake) → road, stake, side, zone and legal basis shown
before saving; type, party, measure, photos. Everything typed is kept as a server-side draft."""

import copy
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import streamlit as st
from sqlalchemy.orm import Session

from patrol_app.clock import local_now
from patrol_app.domain.catalog import BY_CODE, CATALOG
from patrol_app.domain.rules import MEASURES
from patrol_app.photos import store_photo
from patrol_app.services.errors import ServiceError
from patrol_app.services.field import (
    add_follow_up,
    discard_draft,
    find_duplicates,
    load_draft,
    log_incident,
    open_patrol_of,
    recent_incidents,
    save_draft,
)
from patrol_app.services.my_records import declare_road
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import Incident
from patrol_app.ui.common import (
    confirm_button,
    err,
    lang,
    md_escape,
    network,
    page_user,
    show_flash,
    tr,
    write_and_flash,
)
from patrol_app.ui.widgets import Loc, accepted_distance, location_picker, picked_position

FORM = "incident"
FIELDS = ("type", "description", "party", "phone", "measure", "deadline", "status", "effects", "basis_note")
state = st.session_state
state.setdefault("inc_gen", 0)


def K(name: str) -> str:
    """The widget key of a field in this generation of the form (a new generation after each save)."""
    return f"inc_{name}_{state['inc_gen']}"


user = page_user()
net = network(user)

st.title(tr("nav.incident"))
show_flash("inc_flash")

# restore the server-side draft once per browser session (after a reload, a dropped connection, a restart)
if not state.get("inc_restored"):
    state["inc_restored"] = True
    with read_session() as s:
        draft = load_draft(s, user, FORM)
    if draft:
        for k in FIELDS:
            if draft.get(k) is not None:
                state[K(k)] = dt.date.fromisoformat(draft[k]) if k == "deadline" else draft[k]
        if draft.get("loc"):
            state["inc_loc"] = tuple(draft["loc"])
        if draft.get("loc_stake"):  # the road + stake fields as they were, so the position matches them
            road_, stake_, side_, offset_ = draft["loc_stake"]
            state.update(
                inc_loc_road=road_,
                inc_loc_stake=stake_,
                inc_loc_side=side_ or None,
                inc_loc_offset=float(offset_),
            )
        state["inc_photos"] = draft.get("photos", [])
        state["inc_token"] = draft.get("token")
        st.info(tr("field.draft_restored"))
state.setdefault("inc_photos", [])
state.setdefault("inc_token", None)
if not state["inc_token"]:
    state["inc_token"] = uuid.uuid4().hex

with read_session() as s:
    patrol = open_patrol_of(s, user)
    patrol_roads = patrol.road_codes if patrol is not None else []
if patrol is None:
    st.caption(tr("field.no_patrol_hint"))

# --- where -------------------------------------------------------------------------------------------
st.subheader(tr("field.location"))
location_picker(net, "inc_loc")
loc, pos, stake_only, where_text = picked_position(net, "inc_loc")
if pos is not None:
    st.success(tr("field.located_preview", text=md_escape(where_text)))
add_road = False
if pos is not None and patrol is not None and pos.road_code not in patrol_roads:
    # accepted, but not silently: the patrol declared other roads
    st.warning(tr("mine.undeclared_road", road=pos.road_code, roads="、".join(patrol_roads)))
    add_road = st.checkbox(
        tr("mine.undeclared_confirm", road=pos.road_code), key=f"inc_addroad_{pos.road_code}"
    )

# --- what --------------------------------------------------------------------------------------------
codes = [v.code for v in CATALOG]
vtype = st.selectbox(tr("field.type"), codes, key=K("type"), format_func=lambda c: BY_CODE[c].name(lang()))
vt = BY_CODE[vtype]
st.caption(tr("field.legal_basis", basis=vt.legal_basis, penalty=vt.penalty))
if vt.note:
    st.caption(tr("field.type_note", note=vt.note))
if vtype == "stall" and pos is not None and not stake_only and pos.zone == "control_zone":
    st.warning(tr("field.stall_in_zone"))
if (
    vt.condition
):  # 《公路法》第七十七条 punishes only where the conduct had one of these effects: record which
    effect_labels = {e: tr("effect." + e) for e in ("damage", "pollution", "obstruction")}
    st.multiselect(
        tr("field.effects"),
        list(effect_labels),
        key=K("effects"),
        format_func=effect_labels.__getitem__,
        placeholder=tr("ui.choose"),
    )
if vt.needs_basis:
    st.text_input(tr("field.basis_note"), key=K("basis_note"))
st.text_area(tr("field.description"), key=K("description"), height=80)
c1, c2 = st.columns(2)
c1.text_input(tr("field.party"), key=K("party"))
c2.text_input(tr("field.party_phone"), key=K("phone"))
c1, c2 = st.columns(2)
measure = c1.selectbox(
    tr("field.measure"),
    ["", *MEASURES],
    key=K("measure"),
    format_func=lambda m: tr("measure." + (m or "none")),
)
if measure == "order_correct":
    state.setdefault(K("deadline"), local_now().date() + dt.timedelta(days=15))
    c2.date_input(tr("field.deadline"), key=K("deadline"))
state.setdefault(K("status"), "open")
st.segmented_control(
    tr("field.status"), ["open", "closed"], key=K("status"), format_func=lambda v: tr("status." + v)
)

# --- photos: stored the moment they are uploaded, so a dropped connection loses none ------------------
# The uploader only takes photos in: once stored they are listed below, each with one remove control, and the
# uploader starts empty again (its own file list would be a second, disconnected remove control).
state.setdefault("inc_upl_n", 0)
uploads = st.file_uploader(
    tr("field.photos"),
    type=["jpg", "jpeg", "png", "heic", "heif"],
    accept_multiple_files=True,
    key=f"inc_upl_{state['inc_token']}_{state['inc_upl_n']}",
    help=tr("field.photos_help"),
)
known = {p["sha256"] for p in state["inc_photos"]}
added = False
for f in uploads or []:
    try:
        sp = store_photo(f.getvalue(), f.name)
    except ServiceError as exc:
        st.error(err(exc))
        continue
    if sp.sha256 not in known:
        state["inc_photos"].append(
            {**sp.__dict__, "taken_at": sp.taken_at.isoformat() if sp.taken_at else None}
        )
        known.add(sp.sha256)
    added = True
if added:
    state["inc_upl_n"] += 1
if state["inc_photos"]:
    from patrol_app.photos import photo_file

    cols = st.columns(4)
    for i, ph in enumerate(list(state["inc_photos"])):
        with cols[i % 4]:
            st.image(str(photo_file(ph["display_path"])), width="stretch")
            if st.button(
                tr("field.remove_photo"),
                key=f"rm_{ph['sha256'][:12]}",
                icon=":material/delete:",
                width="stretch",
            ):
                state["inc_photos"] = [p for p in state["inc_photos"] if p["sha256"] != ph["sha256"]]
                st.rerun()


def payload() -> dict:
    d = {k: state.get(K(k)) for k in FIELDS}
    if isinstance(deadline := d.get("deadline"), dt.date):
        d["deadline"] = deadline.isoformat()
    stake_inputs = state.get("inc_loc_stake_inputs")
    # a copy: the snapshot compared below must not share the photo list that the next upload appends to
    return copy.deepcopy(
        {
            **d,
            "loc": list(state["inc_loc"]) if state.get("inc_loc") else None,
            "photos": state["inc_photos"],
            "token": state["inc_token"],
            "loc_stake": list(stake_inputs)
            if stake_inputs and state.get("inc_loc") and state["inc_loc"][2] == "stake"
            else None,
        }
    )


# autosave: whatever changed since the last run goes to the server-side draft (an untouched form is no draft)
snapshot = payload()
has_content = bool(
    snapshot["loc"]
    or snapshot["photos"]
    or any(state.get(K(k)) for k in ("description", "party", "phone", "measure"))
)
if has_content and snapshot != state.get("inc_saved_snapshot"):
    with session_scope() as s:
        save_draft(s, user, FORM, snapshot)
    state["inc_saved_snapshot"] = snapshot


def raw_incident(loc: Loc) -> dict[str, Any]:  # (the picked location, checked by save)
    where = (
        {"road": stake_only[0], "stake": stake_only[1], "side": stake_only[2] or None}
        if stake_only
        else {"lon": loc[0], "lat": loc[1]}
    )
    return {
        "found_at": local_now().replace(second=0, microsecond=0),
        "type": vtype,
        **where,
        "description": state.get(K("description"), ""),
        "party": state.get(K("party"), ""),
        "party_phone": state.get(K("phone"), ""),
        "measure": state.get(K("measure")) or None,
        "deadline": state.get(K("deadline")) if state.get(K("measure")) == "order_correct" else None,
        "status": state.get(K("status")) or "open",
        "location_method": loc[2],
        "gps_accuracy_m": loc[3],
        "patrol_id": patrol.id if patrol else None,
        **({"accept_distance_m": far} if (far := accepted_distance("inc_loc")) else {}),
        "effects": list(state.get(K("effects")) or []) if vt.condition else None,
        "basis_note": state.get(K("basis_note"), "") if vt.needs_basis else "",
    }


def photo_objs() -> list:
    from types import SimpleNamespace

    out = []
    for p in state["inc_photos"]:
        q = dict(p)
        q["taken_at"] = dt.datetime.fromisoformat(q["taken_at"]) if q.get("taken_at") else None
        out.append(SimpleNamespace(**q))
    return out


def finish(fn: Callable[[Session], Any] | None, message: Callable[[Any], Any]) -> None:
    """Save (``fn(session)``, may be None) and drop the draft in one transaction, then an empty form and
    ``message(result)``, or a refusal in the user's language."""

    def write(s: Session) -> Any:
        result = fn(s) if fn is not None else None
        discard_draft(s, user, FORM)
        return message(result)

    write_and_flash(write, "inc_flash", after=clear_form)


def clear_form(_: object = None) -> None:
    # (the map's and GPS button's last values are kept: they survive reruns and must not count as new taps)
    for k in (
        "inc_loc",
        "inc_loc_stake_only",
        "inc_loc_stake_inputs",
        "inc_photos",
        "inc_token",
        "inc_saved_snapshot",
        "inc_dups",
        "inc_loc_road",
        "inc_loc_stake",
        "inc_loc_side",
        "inc_loc_offset",
    ):
        state.pop(k, None)
    state["inc_gen"] += 1  # fresh widgets: the browser forgets what the saved form showed


def save(force: bool = False) -> None:
    if not loc or pos is None:
        st.error(tr("field.pick_location_first"))
        return
    if not force:
        with read_session() as s:
            dups = find_duplicates(s, user, vtype, pos.road_code, pos.chainage_m, loc[0], loc[1])
            if dups:
                state["inc_dups"] = [
                    (d.id, d.stake, d.found_at.strftime("%Y-%m-%d"), d.description) for d in dups
                ]
                return

    def log(s: Session) -> Incident:
        inc = log_incident(s, user, raw_incident(loc), photo_objs(), client_token=state["inc_token"])
        if add_road and patrol is not None:
            declare_road(s, user, patrol.id, inc.road_code)
        return inc

    def saved(inc: Incident) -> dict[str, Any]:
        label = tr(
            "field.saved_detail",
            road=inc.road_code,
            stake=inc.stake,
            side=tr("side." + inc.side) if inc.side else "",
            type=BY_CODE[inc.type_code].name(lang()),
            time=f"{inc.found_at:%Y-%m-%d %H:%M}",
            photos=len(state["inc_photos"]),
        )
        return {"text": tr("field.saved", id=inc.id, label=label), "incident": inc.id}

    finish(log, saved)


c1, c2 = st.columns([3, 1])
if c1.button(tr("field.save_incident"), type="primary", width="stretch", key="inc_save"):
    save()
with c2:
    if confirm_button(
        tr("field.discard"),
        "inc_discard",
        tr("field.discard_confirm"),
        tr("field.discard_yes"),
        width="stretch",
    ):
        finish(None, lambda _: {"text": tr("field.discarded")})

if state.get("inc_dups"):
    st.warning(tr("field.duplicate_title"))
    for did, stake, found, desc in state["inc_dups"]:
        st.markdown(
            tr("field.duplicate_item", id=did, stake=stake, found=found, description=md_escape(desc or ""))
        )
        if st.button(tr("field.attach_follow_up", id=did), key=f"attach_{did}"):
            note = state.get(K("description")) or BY_CODE[vtype].name(lang())
            finish(
                lambda s: add_follow_up(s, user, did, note, photo_objs(), client_token=state["inc_token"]),
                lambda _: {"text": tr("field.follow_up_saved", id=did), "incident": did},
            )
    if st.button(tr("field.save_anyway"), key="inc_save_anyway"):
        save(force=True)

with read_session() as s:
    mine = recent_incidents(s, user)
if mine:
    st.subheader(tr("field.my_recent"))
    st.dataframe(
        [
            {
                "#": i.id,
                tr("ui.road"): i.road_code,
                tr("ui.stake"): i.stake,
                tr("field.type"): BY_CODE[i.type_code].name(lang()),
                tr("field.status"): tr("status." + i.status),
                tr("field.date"): i.found_at.strftime("%m-%d %H:%M"),
            }
            for i in mine
        ],
        hide_index=True,
        width="stretch",
    )

if added:  # the photos are stored and in the draft: show the uploader empty again
    st.rerun()
