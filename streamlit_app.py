"""Entry point: page config, store, sign-in gate, navigation over the pages the user's role may see."""

import streamlit as st

from patrol_app.config import get_settings
from patrol_app.domain.rules import allowed
from patrol_app.ui.common import current_user, ensure_store, top_bar, tr
from patrol_app.ui.login import login_page
from patrol_app.ui.nav import PAGES

st.set_page_config(page_title="路政巡查日志", page_icon="🛣️", layout="wide", initial_sidebar_state="collapsed")
ensure_store(get_settings().db_url)

user = current_user()
if user is None:
    # every page's URL shows the sign-in form, so a bookmarked or shared link opens after sign-in
    pages = [st.Page(login_page, title=tr("nav.sign_in"), url_path=p.url_path, default=p.default) for p in PAGES]
    nav = st.navigation(pages, position="hidden")
else:
    pages = [
        st.Page(p.path, title=tr(p.title_key), icon=p.icon, url_path=p.url_path, default=p.default)
        for p in PAGES
        if allowed(user.role, p.perm)
    ]
    nav = st.navigation(pages, position="top")
top_bar(user)
nav.run()
