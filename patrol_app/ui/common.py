"""Session helpers shared by the pages: language, the store, cached network."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from patrol_app.clock import utc_now
from patrol_app.config import get_settings
from patrol_app.i18n import error_text, t

if TYPE_CHECKING:
    from gis.roads import RoadNetwork
    from patrol_app.services.ledger_jobs import BatchInfo
    from patrol_app.storage.models import User


def lang() -> str:
    if "lang" not in st.session_state:
        st.session_state["lang"] = get_settings().lang
    return st.session_state["lang"]


def tr(key: str, **params: Any) -> str:
    return t(key, lang(), **params)


# Characters that can start Markdown that matters (links, images, HTML, emphasis, code, tables, strikethrough,
# formulas, Streamlit's :colour[...] directives), and the starts of autolinks (http://, www., e-mail).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$!{}@])|(?<=[A-Za-z]):(?=//)|(?<=www)\.", re.IGNORECASE)


def md_escape(text: object) -> str:
    """Text typed by users (or read from files), made inert for Streamlit's Markdown: the characters that could
    make a link, a remote image, HTML, emphasis, a formula or an autolink are backslash-escaped, so it shows
    exactly as typed and nothing is fetched or linked."""
    return _MD_SPECIAL.sub(lambda m: "\\" + m.group(0), str(text if text is not None else ""))


def err(exc: Exception) -> str:
    """An error in the user's language, safe to pass to ``st.error``/``st.warning`` (values in it are escaped)."""
    return md_escape(error_text(exc, lang()))


@st.cache_resource(show_spinner=False)
def ensure_store(url: str) -> None:
    """Create or migrate the database once per server process."""
    from patrol_app.storage.migrate import upgrade

    upgrade(url)


def network(user: User | None) -> RoadNetwork:
    """The road network of ``user``'s county — the page's signed-in user, already checked (cached per network
    version in the service layer)."""
    from patrol_app.services.roads import network as store_network
    from patrol_app.services.users import home_county
    from patrol_app.storage.db import read_session

    with read_session() as s:
        return store_network(s, home_county(user))


def current_user() -> User | None:
    """The signed-in user (a detached ``User``), or None.

    The browser's HttpOnly session cookie says who it is, so a reload, a new tab or a server restart stays signed
    in; right after signing in on the page (before the browser has redeemed its ticket for the cookie) the page's
    own session id does. The session row is checked on every run: sign-out elsewhere, a password reset, disabling
    the account, the idle timeout and the absolute lifetime all end it. Pages pass this user to every service,
    which checks permissions itself."""
    from patrol_app.services import sessions
    from patrol_app.storage.db import read_session, session_scope

    token = _cookie_token()
    sid: int | None = st.session_state.get("web_session_id")
    if not token and not sid:
        return _page_only_user()
    with read_session() as s:  # a page's reruns read; only a use after a while writes (below)
        if token:
            res = sessions.resolve_token(s, token, touch=False)
            if res.user is None and sid:  # a stale cookie beside a fresh page sign-in
                res = sessions.resolve_id(s, sid, touch=False)
        else:
            assert sid  # no cookie: the page's own session id (one of the two is there, see above)
            res = sessions.resolve_id(s, sid, touch=False)
        if res.user is not None:
            s.expunge(res.user)
    if res.user is None:
        _forget_user()
        if res.ended:
            st.session_state["flash"] = "auth.session_ended." + res.ended
            if token:  # the browser still holds the dead cookie: clear it, then show the sign-in form
                go_to("/auth/sign-out", next_path=current_path(), ended=res.ended)
        return None
    if res.stale and res.session_id is not None:  # (a stale use is of a session row)
        with session_scope() as s:
            sessions.mark_used(s, res.session_id)
    st.session_state["web_session_id"] = res.session_id
    st.session_state["user_id"] = res.user.id
    return res.user


def page_user() -> User:
    """The signed-in user, for a page: the app shows the pages only to a signed-in user (``streamlit_app.main``).
    Should the session end between that check and the page's (signed out elsewhere at that very moment), the
    page stops; the next run shows the sign-in form."""
    user = current_user()
    if user is None:
        st.stop()
    return user


def _cookie_token() -> str | None:
    from patrol_app.services.sessions import COOKIE

    try:
        token = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no browser context (AppTest)
        return None
    return token if isinstance(token, str) and token else None


def _page_only_user() -> User | None:
    """A user put into this page session by server code without a web session (AppTest); never from a browser."""
    from patrol_app.services.sessions import idle_timeout
    from patrol_app.storage.db import read_session
    from patrol_app.storage.models import User

    user_id = st.session_state.get("user_id")
    if not user_id:
        return None
    now = utc_now()
    last = st.session_state.get("last_seen")
    if last is not None and now - last > idle_timeout():
        _forget_user()
        st.session_state["flash"] = "auth.session_ended.idle"
        return None
    st.session_state["last_seen"] = now
    with read_session() as s:
        user = s.get(User, user_id)
        if user is None or not user.active:
            _forget_user()
            return None
        s.expunge(user)
        return user


def _forget_user() -> None:
    for k in list(st.session_state.keys()):
        if k not in ("lang", "lang_choice"):
            del st.session_state[k]


def current_path() -> str:
    """The page in the browser (``/cases?incident=2``), path and query, to come back to after a redirect."""
    from urllib.parse import urlencode, urlsplit

    try:
        url = st.context.url or ""
    except Exception:  # noqa: BLE001
        url = ""
    query = {k: v for k, v in st.query_params.to_dict().items() if k != "ended"}
    return (urlsplit(url).path or "/") + ("?" + urlencode(query) if query else "")


def go_to(route: str, next_path: str = "/", **params: str) -> None:
    """Send the browser to one of the server's HTTP routes (which sets or clears the cookie and comes back)."""
    import json
    from urllib.parse import urlencode

    url = route + "?" + urlencode({**params, "next": next_path})
    st.html(f"<script>window.location.replace({json.dumps(url)});</script>", unsafe_allow_javascript=True)


def sign_in_browser(user_id: int, ticket: str | None, session_id: int) -> None:
    """After a page signed someone in: remember the session in this page and let the browser get its cookie."""
    st.session_state["web_session_id"] = session_id
    st.session_state["user_id"] = user_id
    if ticket:
        st.caption(tr("auth.signing_in"))
        go_to("/auth/redeem", next_path=current_path(), ticket=ticket)
        st.stop()


def sign_out(idle: bool = False) -> None:
    """End the session on the server (so the cookie is worthless at once), then let the browser drop it."""
    from patrol_app.services import sessions
    from patrol_app.storage.db import session_scope

    sid = st.session_state.get("web_session_id")
    token = _cookie_token()
    with session_scope() as s:
        if sid:
            sessions.revoke(s, session_id=sid)
        if token:
            sessions.revoke(s, token=token)
    _forget_user()
    if idle:
        st.session_state["flash"] = "auth.session_ended.idle"
    if token:
        go_to("/auth/sign-out", next_path=current_path())
        st.stop()


@functools.cache
def _field_css() -> str:
    return (Path(__file__).parent / "assets" / "tablet.css").read_text(encoding="utf-8")


def _streamlit_texts_css(lng: str) -> str:
    """Streamlit's file uploader prints its button and limits in English and has no option to change them: in the
    Chinese UI the catalog's words are shown in their place (see the README for what Streamlit still prints)."""
    if lng != "zh":
        return ""
    up, limit = (json.dumps(tr(k), ensure_ascii=False) for k in ("ui.uploader_button", "ui.uploader_limit"))
    return (
        "[data-testid='stFileUploaderDropzone'] [data-testid='stBaseButton-secondary'] p{font-size:0}"
        f"[data-testid='stFileUploaderDropzone'] [data-testid='stBaseButton-secondary'] p::after{{content:{up};"
        "font-size:1rem}"
        "[data-testid='stFileUploaderDropzoneInstructions'] span{font-size:0}"
        f"[data-testid='stFileUploaderDropzoneInstructions'] span::after{{content:{limit};font-size:.875rem}}"
    )


def top_bar(user: User | None) -> None:
    """Language switch and, when signed in, who I am and sign-out — top right of every page."""
    st.html(f"<style>{_field_css()}{_streamlit_texts_css(lang())}</style>")  # density, touch targets, texts
    left, mid, right = st.columns([3, 3, 1.8], vertical_alignment="center")
    if user is not None:
        from patrol_app.domain import adcodes
        from patrol_app.services.users import actor_scope

        scope = actor_scope(user)
        name = adcodes.name(scope, lang())
        left.caption(tr("county.rollup_note" if adcodes.is_rollup(scope) else "county.header", name=name))
        who = tr("auth.signed_in_as", name=user.display_name, role=tr("role." + user.role))
        if mid.button(
            f"{who} · {tr('auth.sign_out')}",
            key="sign_out",
            type="tertiary",
            icon=":material/logout:",
            help=tr("auth.sign_out"),
        ):
            sign_out()
            st.rerun()
    choice = right.segmented_control(
        t("ui.language", lang()),
        options=["zh", "en"],
        format_func=lambda v: "中文" if v == "zh" else "English",
        default=lang(),
        key="lang_choice",
        label_visibility="collapsed",
    )
    if choice and choice != st.session_state.get("lang"):
        st.session_state["lang"] = choice
        st.rerun()


def page_file(rel: str) -> str:
    """A page's script by its path from the repository root (as ``nav.PAGES`` names it), for ``st.page_link`` and
    ``st.switch_page`` — absolute, so it works whichever entry script runs the app."""
    return str(Path(__file__).resolve().parents[2] / rel)


def scroll_to_top() -> None:
    """Bring the top of the page into view (after a save, where the confirmation is shown)."""
    st.html(
        "<script>(() => { const m = document.querySelector(\"[data-testid='stMain']\");"
        " if (m) m.scrollTo({top: 0}); window.scrollTo({top: 0}); })();</script>",
        unsafe_allow_javascript=True,
    )


def show_flash(state_key: str) -> None:
    """Show (once) what the last save on this page left under ``state_key`` (see :func:`write_and_flash`): a
    text, or ``{"text": …, "incident": id}`` — then with a link to the saved incident, at the top of the page
    and scrolled into view."""
    saved = st.session_state.pop(state_key, None)
    if not saved:
        return
    if isinstance(saved, str):
        st.success(saved)
        return
    st.success(saved["text"], icon=":material/check_circle:")
    if saved.get("incident"):
        st.page_link(
            page_file("patrol_app/ui/pages/records.py"),
            label=tr("field.open_saved", id=saved["incident"]),
            icon=":material/open_in_new:",
            query_params={"incident": str(saved["incident"])},
        )
    scroll_to_top()


def show_error(exc: Exception) -> None:
    """A service's refusal in the user's language: each finding of a ``ValidationFailed`` on its own line, a
    refusal's listed problems (a case that cannot move on) under it."""
    from patrol_app.services.errors import ValidationFailed

    if isinstance(exc, ValidationFailed):
        for e in exc.errors:
            st.error(md_escape(e.render(lang())))
        return
    st.error(err(exc))
    for p in getattr(exc, "problems", []):
        st.markdown("- " + md_escape(p.render(lang())))


def write_and_flash(
    fn: Callable[[Any], Any],
    flash_key: str,
    done: Any = None,
    *,
    after: Callable[[Any], None] | None = None,
    on_error: Callable[[Any], None] | None = None,
) -> bool:
    """The pages' one way to save: ``fn(session)`` (service calls, which check the user and write the audit
    entry) in one transaction. On success the page's message is kept under ``flash_key`` — ``done``, or
    ``done(result)`` (run inside the transaction, so it may read what was saved), or with ``done`` None ``fn``'s
    own result — ``after(result)`` resets the form, and the page runs again, where :func:`show_flash` shows the
    message once. A refusal (``ServiceError``) is shown by ``on_error`` (default :func:`show_error`), nothing is
    saved, and False is returned."""
    from patrol_app.services.errors import ServiceError
    from patrol_app.storage.db import session_scope

    try:
        with session_scope() as s:
            result = fn(s)
            message = result if done is None else done(result) if callable(done) else done
    except ServiceError as exc:
        (on_error or show_error)(exc)
        return False
    st.session_state[flash_key] = message
    if after is not None:
        after(result)
    st.rerun()
    return True  # not reached: st.rerun() ends the run


def confirm_button(label: str, key: str, question: str, confirm_label: str, **kwargs: Any) -> bool:
    """A button for a final or destructive act: the first tap asks, the second (on 确认) acts; 取消 backs out."""
    state = st.session_state
    if not state.get(f"{key}__ask"):
        if st.button(label, key=key, **kwargs):
            state[f"{key}__ask"] = True
            st.rerun()
        return False
    st.warning(question, icon=":material/help:")
    c1, c2 = st.columns(2)
    if c1.button(confirm_label, key=f"{key}__yes", type="primary", width="stretch"):
        state.pop(f"{key}__ask", None)
        return True
    if c2.button(tr("ui.cancel"), key=f"{key}__no", width="stretch"):
        state.pop(f"{key}__ask", None)
        st.rerun()
    return False


def county_choice(user: User, key: str) -> str | None:
    """For a city or province account, a choice of 全部 (None: the roll-up of all its counties) or one county;
    None without showing anything (and without asking the store) for a county account, whose county is the only
    one it reads."""
    from patrol_app.domain import adcodes
    from patrol_app.services.users import actor_scope

    if not adcodes.is_rollup(actor_scope(user)):
        return None
    choices = _county_choices(get_settings().db_url, user.username)
    if not choices:
        return None
    picked = st.selectbox(
        tr("county.select"),
        [""] + choices,
        format_func=lambda c: adcodes.name(c, lang()) if c else tr("county.all"),
        key=key,
    )
    return picked or None


@st.cache_data(ttl=300, show_spinner=False)
def _county_choices(db_url: str, username: str) -> list[str]:
    """The counties a roll-up account chooses between, asked once in five minutes (not on every rerun: it reads
    the distinct counties of the record tables)."""
    from patrol_app.services.stats import county_choices
    from patrol_app.services.users import get_user
    from patrol_app.storage.db import read_session

    with read_session(db_url) as s:
        return county_choices(s, get_user(s, username))


def batch_filter() -> BatchInfo | None:
    """The imported ledger batch named by the page's ``?batch=N`` (a link from the import page), or None."""
    raw = st.query_params.get("batch")
    user = current_user()
    if not raw or user is None:
        return None
    from patrol_app.services.errors import PermissionDenied
    from patrol_app.services.ledger_jobs import batch_info
    from patrol_app.storage.db import read_session

    try:
        with read_session() as s:
            info = batch_info(s, user, int(raw))
    except (ValueError, PermissionDenied):
        return None
    if info is None or info.rolled_back_at is not None:
        return None
    return info
