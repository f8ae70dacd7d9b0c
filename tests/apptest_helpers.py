"""The one AppTest runner for page tests: the app's entry script run by Streamlit's AppTest (no browser), signed
in the way server code does it (the page session's ``user_id``, see ``ui.common._page_only_user``), then switched
to the page under test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

#: the app's entry script
APP = str(Path(__file__).resolve().parents[1] / "streamlit_app.py")


def user_id(username: str) -> int:
    from patrol_app.storage.db import read_session
    from patrol_app.storage.models import User

    with read_session() as s:
        return s.execute(select(User.id).where(User.username == username)).scalar_one()


def run_page(
    page: str | None = None,
    as_user: str | None = "officer",
    *,
    query: dict[str, str] | None = None,
    timeout: float = 60,
    **state: Any,
) -> AppTest:
    """Run the app as ``as_user`` (None: signed out) with ``state`` in the session and ``query`` in the URL, open
    ``page`` (a path from the repository root, as ``nav.PAGES`` names it) and check that nothing raised."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    if as_user:
        state["user_id"] = user_id(as_user)
    for k, v in state.items():
        at.session_state[k] = v
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str) -> Any:
    """The button with this label."""
    return next(b for b in at.button if b.label == label)
