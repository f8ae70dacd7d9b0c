"""Administration: accounts; personnel with their enforcement certificates; vehicles; the audit check.

Thin wiring over ``patrol_app.services.auth``, ``registry`` and ``audit``, which check permissions themselves.
"""

import datetime as dt
from collections.abc import Callable

import pandas as pd
import streamlit as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from patrol_app.clock import local_text as local
from patrol_app.clock import utc_now
from patrol_app.domain import adcodes
from patrol_app.domain.rules import Role
from patrol_app.services import audit, auth, registry
from patrol_app.services.cases import local_today
from patrol_app.services.errors import ServiceError
from patrol_app.services.users import actor_scope
from patrol_app.storage.db import read_session
from patrol_app.storage.models import AuditEntry
from patrol_app.ui.common import confirm_button, err, lang, page_user, show_flash, tr, write_and_flash

state = st.session_state
user = page_user()
today = local_today()

st.title(tr("admin.title"))
show_flash("admin_flash")


def write(fn: Callable[[Session], object], done: str) -> None:
    """Run one service call in its own transaction; show a refusal in the user's language."""
    write_and_flash(fn, "admin_flash", done)


def yes_no(v: bool) -> str:
    return tr("admin.yes") if v else tr("admin.no")


t_users, t_people, t_vehicles, t_audit = st.tabs(
    [tr("admin.tab.users"), tr("admin.tab.personnel"), tr("admin.tab.vehicles"), tr("admin.tab.audit")]
)

with read_session() as s:
    users = auth.list_users(s, user)
    people = registry.list_personnel(s, user, include_inactive=True)
    vehicles = registry.list_vehicles(s, user, include_inactive=True)
    for obj in (*users, *people, *vehicles):
        s.expunge(obj)
person_name: dict[int | None, str] = {p.id: p.name for p in people}

# --- accounts -------------------------------------------------------------------------------------------
with t_users:
    now = utc_now()
    st.dataframe(
        pd.DataFrame(
            [
                {
                    tr("admin.col.username"): u.username,
                    tr("admin.col.name"): u.display_name,
                    tr("admin.col.role"): tr("role." + u.role),
                    tr("admin.col.personnel"): person_name.get(u.personnel_id, ""),
                    tr("admin.col.active"): yes_no(u.active),
                    tr("admin.col.locked"): yes_no(bool(u.locked_until and u.locked_until > now)),
                    tr("admin.col.last_login"): local(u.last_login_at),
                }
                for u in users
            ]
        ),
        hide_index=True,
        width="stretch",
    )

    with st.expander(tr("admin.add_user")), st.form("admin_add_user", clear_on_submit=False):
        username = st.text_input(tr("auth.username"), key="au_username")
        display = st.text_input(tr("auth.display_name"), key="au_display")
        role = st.selectbox(
            tr("admin.role"), [r.value for r in Role], key="au_role", format_func=lambda r: tr("role." + r)
        )
        link = st.selectbox(
            tr("admin.personnel_link"),
            [None, *[p.id for p in people if p.active]],
            key="au_person",
            format_func=lambda i: tr("admin.none") if i is None else person_name[i],
        )
        # a city's or province's administrator makes accounts for its counties (or read-only roll-up accounts)
        own_scope = actor_scope(user)
        scopes = adcodes.known_scopes(own_scope) if adcodes.is_rollup(own_scope) else [own_scope]
        scope = (
            st.selectbox(
                tr("admin.scope"),
                scopes,
                key="au_scope",
                format_func=lambda c: tr("admin.scope_option", name=adcodes.name(c, lang()), code=c),
            )
            if len(scopes) > 1
            else own_scope
        )
        pw = st.text_input(tr("auth.password"), type="password", key="au_pw")
        pw2 = st.text_input(tr("auth.password_again"), type="password", key="au_pw2")
        if st.form_submit_button(tr("admin.add_user_button"), type="primary"):
            if pw != pw2:
                st.error(tr("auth.passwords_differ"))
            else:
                write(
                    lambda s: auth.add_user(
                        s, user, username, role, pw, display, personnel_id=link, scope=scope
                    ),
                    tr("admin.user_added", username=username.strip()),
                )

    st.subheader(tr("admin.manage_user"))
    names = [u.username for u in users]
    if names:
        picked = st.selectbox(tr("admin.pick_user"), names, key="au_pick")
        target = next(u for u in users if u.username == picked)
        if target.active:
            if confirm_button(
                tr("admin.disable"),
                f"au_disable_{picked}",
                tr("admin.disable_confirm", username=picked),
                tr("admin.disable_yes"),
            ):
                write(
                    lambda s: auth.set_active(s, user, picked, False),
                    tr("admin.user_disabled", username=picked),
                )
        elif st.button(tr("admin.enable"), key="au_enable"):
            write(lambda s: auth.set_active(s, user, picked, True), tr("admin.user_enabled", username=picked))
        with st.form("admin_reset"):
            npw = st.text_input(tr("admin.new_password"), type="password", key="au_npw")
            npw2 = st.text_input(tr("auth.password_again"), type="password", key="au_npw2")
            if st.form_submit_button(tr("admin.reset_button")):
                if npw != npw2:
                    st.error(tr("auth.passwords_differ"))
                else:
                    write(
                        lambda s: auth.reset_password(s, user, picked, npw),
                        tr("admin.password_reset", username=picked),
                    )

# --- personnel ------------------------------------------------------------------------------------------
STATE_COLOURS = {"expired": "background-color: #f8d7da", "expiring": "background-color: #ffe5b4"}

with t_people:
    show_all = st.toggle(tr("registry.show_inactive"), key="rp_all")
    shown = [p for p in people if show_all or p.active]
    states = {p.id: registry.cert_state(p, today) for p in shown}
    n_expired = sum(1 for p in shown if p.active and states[p.id] == "expired")
    n_expiring = sum(1 for p in shown if p.active and states[p.id] == "expiring")
    st.caption(
        tr("registry.expiring_count", expired=n_expired, expiring=n_expiring)
        + " · "
        + tr("registry.expiry_legend")
    )
    df = pd.DataFrame(
        [
            {
                tr("registry.col.name"): p.name,
                tr("registry.col.title"): p.title,
                tr("registry.col.cert_no"): p.cert_no or "",
                tr("registry.col.cert_expiry"): p.cert_expiry.isoformat() if p.cert_expiry else "",
                tr("registry.col.cert_state"): tr("registry.state." + states[p.id]),
                tr("registry.col.auxiliary"): yes_no(p.auxiliary),
                tr("registry.col.active"): yes_no(p.active),
            }
            for p in shown
        ]
    )
    colours = [STATE_COLOURS.get(states[p.id], "") for p in shown]
    if len(df):
        styled = df.style.apply(lambda row: [colours[row.name]] * len(row), axis=1)
        st.dataframe(styled, hide_index=True, width="stretch")

    with st.expander(tr("registry.add_person")), st.form("rp_add"):
        name = st.text_input(tr("registry.name"), key="rp_name")
        title = st.text_input(tr("registry.title"), key="rp_title")
        cert = st.text_input(tr("registry.cert_no"), key="rp_cert")
        expiry = st.date_input(
            tr("registry.cert_expiry"),
            value=None,
            key="rp_expiry",
            min_value=dt.date(2000, 1, 1),
            max_value=dt.date(2100, 12, 31),
        )
        aux = st.checkbox(tr("registry.auxiliary"), key="rp_aux")
        if st.form_submit_button(tr("registry.add_button"), type="primary"):
            write(
                lambda s: registry.add_personnel(s, user, name, title, cert, expiry, aux),
                tr("registry.saved"),
            )

    if people:
        st.subheader(tr("registry.edit_person"))
        pid = st.selectbox(
            tr("registry.pick_person"),
            [p.id for p in people],
            key="rp_pick",
            format_func=lambda i: (
                person_name[i]
                + ("" if next(p for p in people if p.id == i).active else tr("registry.inactive_mark"))
            ),
        )
        p = next(x for x in people if x.id == pid)
        with st.form(f"rp_edit_{p.id}"):
            e_name = st.text_input(tr("registry.name"), value=p.name)
            e_title = st.text_input(tr("registry.title"), value=p.title)
            e_cert = st.text_input(tr("registry.cert_no"), value=p.cert_no or "")
            e_expiry = st.date_input(
                tr("registry.cert_expiry"),
                value=p.cert_expiry,
                min_value=dt.date(2000, 1, 1),
                max_value=dt.date(2100, 12, 31),
            )
            e_aux = st.checkbox(tr("registry.auxiliary"), value=p.auxiliary)
            if st.form_submit_button(tr("registry.save_button"), type="primary"):
                write(
                    lambda s: registry.update_personnel(
                        s,
                        user,
                        p.id,
                        name=e_name,
                        title=e_title,
                        cert_no=e_cert,
                        cert_expiry=e_expiry,
                        auxiliary=e_aux,
                    ),
                    tr("registry.saved"),
                )
        if p.active:
            if st.button(tr("registry.deactivate"), key="rp_deactivate"):
                write(lambda s: registry.set_personnel_active(s, user, p.id, False), tr("registry.saved"))
        elif st.button(tr("registry.activate"), key="rp_activate"):
            write(lambda s: registry.set_personnel_active(s, user, p.id, True), tr("registry.saved"))

# --- vehicles -------------------------------------------------------------------------------------------
with t_vehicles:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    tr("registry.col.plate"): v.plate,
                    tr("registry.col.kind"): v.kind,
                    tr("registry.col.active"): yes_no(v.active),
                }
                for v in vehicles
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    with st.expander(tr("registry.add_vehicle")), st.form("rv_add"):
        plate = st.text_input(tr("registry.plate"), key="rv_plate")
        kind = st.text_input(tr("registry.kind"), key="rv_kind")
        if st.form_submit_button(tr("registry.add_button"), type="primary"):
            write(lambda s: registry.add_vehicle(s, user, plate, kind), tr("registry.saved"))
    if vehicles:
        st.subheader(tr("registry.edit_vehicle"))
        plates = {v.id: v.plate + ("" if v.active else tr("registry.inactive_mark")) for v in vehicles}
        vid = st.selectbox(
            tr("registry.pick_vehicle"), list(plates), format_func=plates.__getitem__, key="rv_pick"
        )
        veh = next(v for v in vehicles if v.id == vid)
        with st.form(f"rv_edit_{veh.id}"):
            e_plate = st.text_input(tr("registry.plate"), value=veh.plate)
            e_kind = st.text_input(tr("registry.kind"), value=veh.kind)
            if st.form_submit_button(tr("registry.save_button"), type="primary"):
                write(
                    lambda s: registry.update_vehicle(s, user, veh.id, e_plate, e_kind), tr("registry.saved")
                )
        if veh.active:
            if st.button(tr("registry.deactivate"), key="rv_deactivate"):
                write(lambda s: registry.set_vehicle_active(s, user, veh.id, False), tr("registry.saved"))
        elif st.button(tr("registry.activate"), key="rv_activate"):
            write(lambda s: registry.set_vehicle_active(s, user, veh.id, True), tr("registry.saved"))

# --- audit ----------------------------------------------------------------------------------------------
with t_audit:
    st.caption(tr("admin.audit_hint"))
    try:
        with read_session() as s:
            cp = audit.checkpoint(s, user)
        st.markdown(tr("admin.audit_checkpoint", id=cp.id, mac=f"`{cp.mac}`"))
        st.caption(tr("admin.audit_checkpoint_hint"))
    except ServiceError as exc:
        st.error(err(exc))
    if st.button(tr("admin.audit_run"), type="primary", key="audit_run"):
        try:
            with st.spinner(tr("admin.audit_run")), read_session() as s:
                res = audit.verify(s, user)
                bad = s.get(AuditEntry, res.first_bad_id) if res.first_bad_id else None
                if res.ok:
                    st.success(tr("admin.audit_ok", entries=f"{res.entries:,}"))
                elif res.reason == "records":
                    from patrol_app.services.audit_log import record_problem_text

                    st.error(tr("admin.audit_records", count=len(res.records)))
                    st.text("\n".join(record_problem_text(r, lang()) for r in res.records[:200]))
                else:
                    st.error(
                        tr(
                            "admin.audit_broken",
                            id=res.first_bad_id,
                            reason=tr("admin.audit_reason." + res.reason),
                        )
                    )
                    if bad is not None:
                        st.caption(
                            tr(
                                "admin.audit_entry",
                                ts=local(bad.ts),
                                actor=bad.actor,
                                action=bad.action,
                                entity=bad.entity,
                                entity_id=bad.entity_id,
                            )
                        )
                from patrol_app.services.photo_verify import verify_photos
                from patrol_app.storage.models import Photo

                problems = verify_photos(s, user)
                total = s.execute(select(func.count()).select_from(Photo)).scalar_one()
                if not problems:
                    st.success(tr("admin.photos_ok", count=total))
                else:
                    st.error(tr("admin.photos_bad", count=len(problems)))
                    st.markdown(
                        "\n".join(
                            "- "
                            + tr(
                                "admin.photo_row",
                                id=p.id,
                                incident=p.incident_id or "—",
                                kind=tr("admin.photo." + p.kind),
                                path=p.path,
                            )
                            for p in problems
                        )
                    )
        except ServiceError as exc:
            st.error(err(exc))
