"""Sign in; on an empty store, create the first administrator."""

import streamlit as st

from patrol_app.services import sessions
from patrol_app.services.auth import create_first_admin, needs_first_admin, sign_in
from patrol_app.services.errors import ServiceError
from patrol_app.storage.db import session_scope
from patrol_app.ui.common import err, sign_in_browser, tr

ENDED = ("idle", "expired", "revoked", "disabled")


def _user_agent() -> str:
    try:
        return st.context.headers.get("User-Agent", "") or ""
    except Exception:  # noqa: BLE001 - no browser context (AppTest)
        return ""


def login_page() -> None:
    """The page every URL shows while signed out; after sign-in the URL's own page opens."""
    flash = st.session_state.pop("flash", None)
    ended = st.query_params.get("ended")
    if ended in ENDED:  # the server cleared a dead cookie and says why
        flash = "auth.session_ended." + ended
        del st.query_params["ended"]
    if flash:
        st.info(tr(flash))

    with session_scope() as s:
        first_run = needs_first_admin(s)

    _, mid, _ = st.columns([1, 2, 1])
    with mid:
        if first_run:
            st.title(tr("auth.first_admin_title"))
            st.caption(tr("auth.first_admin_hint"))
            with st.form("first_admin"):
                username = st.text_input(tr("auth.username"))
                name = st.text_input(tr("auth.display_name"))
                pw = st.text_input(tr("auth.password"), type="password")
                pw2 = st.text_input(tr("auth.password_again"), type="password")
                go = st.form_submit_button(tr("auth.create_admin"), type="primary", width="stretch")
            if go:
                if pw != pw2:
                    st.error(tr("auth.passwords_differ"))
                else:
                    try:
                        with session_scope() as s:
                            user = create_first_admin(s, username, pw, name)
                            started = sessions.start(s, user, _user_agent())
                        sign_in_browser(user.id, started.ticket, started.session_id)
                        st.rerun()
                    except ServiceError as exc:
                        st.error(err(exc))
        else:
            st.title(tr("auth.title"))
            with st.form("sign_in"):
                username = st.text_input(tr("auth.username"), autocomplete="username")
                pw = st.text_input(tr("auth.password"), type="password", autocomplete="current-password")
                go = st.form_submit_button(tr("auth.sign_in"), type="primary", width="stretch")
            if go:
                try:
                    with session_scope() as s:
                        user = sign_in(s, username, pw)
                        started = sessions.start(s, user, _user_agent())
                    sign_in_browser(user.id, started.ticket, started.session_id)
                    st.rerun()
                except ServiceError as exc:
                    st.error(err(exc))
