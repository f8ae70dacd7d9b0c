"""Entry point: page config, store, language, navigation over the pages the user's role may see."""

import streamlit as st

from patrol_app.config import get_settings
from patrol_app.domain.rules import allowed
from patrol_app.ui.common import current_user, ensure_store, language_switch, tr
from patrol_app.ui.nav import PAGES

st.set_page_config(page_title="路政巡查日志", page_icon="🛣️", layout="wide", initial_sidebar_state="collapsed")
ensure_store(get_settings().db_url)

user = current_user()
pages = [
    st.Page(p.path, title=tr(p.title_key), icon=p.icon, url_path=p.url_path, default=p.default)
    for p in PAGES
    if user is not None and allowed(user.role, p.perm)
]
nav = st.navigation(pages, position="top")
language_switch()
nav.run()
