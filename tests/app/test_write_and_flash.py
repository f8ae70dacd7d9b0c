"""The pages' one way to save (``ui.common.write_and_flash``), run by AppTest against the real store: on success
the message is shown once after the rerun and the form is reset; on a refusal the error is shown in the user's
language and nothing of the transaction is kept."""

from __future__ import annotations

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from patrol_app.storage.db import read_session
from patrol_app.storage.models import Vehicle


def _page() -> None:
    import streamlit as st

    from patrol_app.services import registry
    from patrol_app.services.errors import ServiceError
    from patrol_app.services.users import get_user
    from patrol_app.ui.common import show_flash, write_and_flash

    show_flash("t_flash")
    plate = st.session_state.get("t_plate", "")

    def add(s):  # type: ignore[no-untyped-def]
        v = registry.add_vehicle(s, get_user(s, "admin"), plate, "pickup")
        if st.session_state.get("t_refuse"):
            raise ServiceError("error.busy")  # after the row was written: all of it must roll back
        return v

    if st.button("save", key="t_save"):
        write_and_flash(
            add,
            "t_flash",
            lambda v: f"saved {v.plate}",
            after=lambda v: st.session_state.update(t_plate="", t_after=v.plate),
        )


def _plates() -> set[str]:
    with read_session() as s:
        return set(s.execute(select(Vehicle.plate)).scalars())


def test_success_flashes_once_and_resets_the_form(store):
    at = AppTest.from_function(_page, default_timeout=60)
    at.session_state["t_plate"] = "云D·T0001"
    at.run()
    at.button(key="t_save").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == ["saved 云D·T0001"]
    assert at.session_state["t_after"] == "云D·T0001" and at.session_state["t_plate"] == ""
    assert "云D·T0001" in _plates()
    at.run()
    assert not at.success  # shown once


def test_refusal_is_shown_in_the_users_language_and_nothing_is_written(store):
    before = _plates()
    at = AppTest.from_function(_page, default_timeout=60)
    at.session_state["t_plate"] = "云D·T0002"
    at.session_state["t_refuse"] = True
    at.session_state["lang"] = "zh"
    at.run()
    at.button(key="t_save").click().run()
    assert not at.exception, at.exception
    assert not at.success and "t_after" not in at.session_state
    from patrol_app.i18n import t

    assert [e.value for e in at.error] == [t("error.busy", "zh")]
    assert _plates() == before
