"""The pages' script (what ``patrol serve`` runs): page config, store, sign-in gate, navigation over the pages the
user's role may see.

It lives in the package so that an installed ``patrol`` finds it from any directory; Streamlit serves the
``static/`` folder beside it (Leaflet and its plugins) at ``/app/static/``. The top-level ``streamlit_app.py`` of
a checkout calls :func:`main` too.
"""

from pathlib import Path

import streamlit as st

from patrol_app.config import get_settings
from patrol_app.services.users import may
from patrol_app.ui.common import current_user, ensure_store, top_bar, tr
from patrol_app.ui.login import login_page
from patrol_app.ui.nav import PAGES

#: The folder holding the ``patrol_app`` package: page paths in ``nav.PAGES`` are relative to it.
ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    st.set_page_config(
        page_title="路政巡查日志", page_icon="🛣️", layout="wide", initial_sidebar_state="collapsed"
    )
    ensure_store(get_settings().db_url)

    user = current_user()
    if user is None:
        # every page's URL shows the sign-in form, so a bookmarked or shared link opens after sign-in
        pages = [
            st.Page(login_page, title=tr("nav.sign_in"), url_path=p.url_path, default=p.default)
            for p in PAGES
        ]
        nav = st.navigation(pages, position="hidden")
    else:
        pages = [
            st.Page(ROOT / p.path, title=tr(p.title_key), icon=p.icon, url_path=p.url_path, default=p.default)
            for p in PAGES
            if may(user, p.perm)  # a city or province account: no page that writes records
        ]
        nav = st.navigation(pages, position="top")
    top_bar(user)
    nav.run()


if __name__ == "__main__":
    main()
