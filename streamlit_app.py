"""Entry point: page config, language, navigation. Nothing else lives here."""

import streamlit as st

from patrol_app.config import get_settings
from patrol_app.ui.common import ensure_store, language_switch, tr

st.set_page_config(page_title="路政巡查日志", page_icon="🛣️", layout="wide", initial_sidebar_state="collapsed")
ensure_store(get_settings().db_url)

pages = [
    st.Page("patrol_app/ui/pages/overview.py", title=tr("nav.overview"), icon=":material/dashboard:", url_path="overview", default=True),
    st.Page("patrol_app/ui/pages/locate.py", title=tr("nav.locate"), icon=":material/pin_drop:", url_path="locate"),
    st.Page("patrol_app/ui/pages/roads.py", title=tr("nav.roads"), icon=":material/route:", url_path="roads"),
]
nav = st.navigation(pages, position="top")
language_switch()
nav.run()
