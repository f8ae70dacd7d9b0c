"""Session helpers shared by the pages: language, the store, cached network."""

from __future__ import annotations

from typing import Any

import streamlit as st

from patrol_app.config import get_settings
from patrol_app.i18n import error_text, t


def lang() -> str:
    if "lang" not in st.session_state:
        st.session_state["lang"] = get_settings().lang
    return st.session_state["lang"]


def tr(key: str, **params: Any) -> str:
    return t(key, lang(), **params)


def err(exc: Exception) -> str:
    return error_text(exc, lang())


@st.cache_resource(show_spinner=False)
def ensure_store(url: str) -> None:
    """Create or migrate the database once per server process."""
    from patrol_app.storage.migrate import upgrade

    upgrade(url)


def network():  # type: ignore[no-untyped-def]
    """The store's road network (cached per network version in the service layer)."""
    from patrol_app.services.roads import network as store_network
    from patrol_app.storage.db import read_session

    with read_session() as s:
        return store_network(s)


def current_user():  # type: ignore[no-untyped-def]
    """The signed-in user (a detached ``User``), or None. Signs out after the idle timeout, and when the
    account was disabled meanwhile. Pages pass this user to every service, which checks permissions itself."""
    import datetime as dt

    from patrol_app.services.auth import IDLE_TIMEOUT
    from patrol_app.storage.db import read_session
    from patrol_app.storage.models import User

    user_id = st.session_state.get("user_id")
    if not user_id:
        return None
    now = dt.datetime.now()
    last = st.session_state.get("last_seen")
    if last is not None and now - last > IDLE_TIMEOUT:
        sign_out(idle=True)
        return None
    st.session_state["last_seen"] = now
    with read_session() as s:
        user = s.get(User, user_id)
        if user is None or not user.active:
            sign_out()
            return None
        s.expunge(user)
        return user


def sign_out(idle: bool = False) -> None:
    for k in list(st.session_state.keys()):
        if k != "lang":
            del st.session_state[k]
    if idle:
        st.session_state["flash"] = "auth.idle_signed_out"


def top_bar(user) -> None:  # type: ignore[no-untyped-def]
    """Language switch and, when signed in, who I am and sign-out — top right of every page."""
    # tablet density: less empty space above the page, titles that leave room for the form
    st.html("<style>[data-testid='stMainBlockContainer']{padding-top:4.2rem}"
            "h1{font-size:2rem!important;padding:.25rem 0 .5rem!important}</style>")
    _, mid, right = st.columns([3, 3, 1.8], vertical_alignment="center")
    if user is not None:
        who = tr("auth.signed_in_as", name=user.display_name, role=tr("role." + user.role))
        if mid.button(f"{who} · {tr('auth.sign_out')}", key="sign_out", type="tertiary", icon=":material/logout:",
                      help=tr("auth.sign_out")):
            sign_out()
            st.rerun()
    choice = right.segmented_control(
        t("ui.language", lang()), options=["zh", "en"], format_func=lambda v: "中文" if v == "zh" else "English",
        default=lang(), key="lang_choice", label_visibility="collapsed",
    )
    if choice and choice != st.session_state.get("lang"):
        st.session_state["lang"] = choice
        st.rerun()


def batch_filter():  # type: ignore[no-untyped-def]
    """The imported ledger batch named by the page's ``?batch=N`` (a link from the import page), or None."""
    raw = st.query_params.get("batch")
    if not raw:
        return None
    from patrol_app.services.ledger_jobs import batch_info
    from patrol_app.storage.db import read_session

    try:
        with read_session() as s:
            info = batch_info(s, int(raw))
    except ValueError:
        return None
    if info is None or info.rolled_back_at is not None:
        return None
    return info
