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
    """The signed-in user (a detached ``User``), or None. Pages use this as the acting user for services."""
    from patrol_app.services.users import get_user
    from patrol_app.storage.db import read_session

    username = st.session_state.get("username")
    if not username:
        # until sign-in lands: act as the demo administrator when it exists
        with read_session() as s:
            try:
                user = get_user(s, "admin")
            except Exception:
                return None
            s.expunge(user)
            return user
    with read_session() as s:
        user = get_user(s, username)
        s.expunge(user)
        return user


def language_switch() -> None:
    """中文 | English, top right of every page (no sidebar: it hides on portrait tablets)."""
    _, right = st.columns([5, 1.3])
    choice = right.segmented_control(
        t("ui.language", lang()), options=["zh", "en"], format_func=lambda v: "中文" if v == "zh" else "English",
        default=lang(), key="lang_choice", label_visibility="collapsed",
    )
    if choice and choice != st.session_state.get("lang"):
        st.session_state["lang"] = choice
        st.rerun()
