"""Reusable field widgets: the GPS button, the location picker (GPS / map tap / road + stake)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st
import streamlit.components.v1 as components
from streamlit_folium import st_folium

from gis.errors import GisError
from gis.linref import RoadPosition, locate, offset_point, stake_to_point
from gis.maps import nearby_layer, picker_map
from gis.stakes import format_stake, parse_stake
from patrol_app.config import get_settings
from patrol_app.services.field import GPS_WARN_ACCURACY_M
from patrol_app.ui.common import err, tr

if TYPE_CHECKING:
    import folium

    from gis.roads import RoadNetwork

#: A picked location: (lon, lat, method "gps" / "map" / "stake", GPS accuracy in metres or None).
Loc = tuple[float, float, str, float | None]

_gps = components.declare_component("gps", path=str(Path(__file__).parent / "components" / "geolocation"))


def gps_button(key: str) -> dict[str, Any] | None:
    """A button that asks the browser for a high-accuracy fix; returns the newest fix or error (once)."""
    value = _gps(button=tr("field.gps_button"), waiting=tr("field.gps_waiting"), key=key, default=None)
    seen = st.session_state.get(f"{key}__seen")
    if value and value.get("stamp") != seen:
        st.session_state[f"{key}__seen"] = value.get("stamp")
        return value
    return None


def location_picker(net: RoadNetwork, state_key: str) -> Loc | None:
    """GPS, a tap on the map or road + stake → (lon, lat, method, accuracy) kept in session state."""
    state = st.session_state
    # one method at a time: only the chosen one renders (the map costs most of a rerun)
    restored = state.get(state_key)
    method = st.segmented_control(
        tr("field.location"),
        ["gps", "map", "stake"],
        key=f"{state_key}_method",
        default=restored[2] if restored else "gps",
        label_visibility="collapsed",
        format_func=lambda m: tr(
            {"gps": "field.loc_gps", "map": "field.loc_map", "stake": "field.loc_stake"}[m]
        ),
    )
    if method == "gps":
        fix = gps_button(f"{state_key}_gps")
        if fix:
            if fix.get("error") == "insecure":
                state[f"{state_key}_gps_msg"] = ("warning", tr("field.gps_insecure"))
            elif fix.get("error"):
                k = "field.gps_denied" if fix["error"] == "denied" else "field.gps_failed"
                state[f"{state_key}_gps_msg"] = ("warning", tr(k, message=fix.get("message", "")))
            else:
                state[state_key] = (float(fix["lon"]), float(fix["lat"]), "gps", float(fix["accuracy"]))
                state[f"{state_key}_last_fix"] = state[state_key]
                state.pop(f"{state_key}_gps_msg", None)
        msg = state.get(f"{state_key}_gps_msg")
        if msg:
            st.warning(msg[1])
        cur = state.get(state_key)
        if cur and cur[2] == "gps":
            acc = cur[3]
            st.caption(tr("field.gps_fix", lon=f"{cur[0]:.6f}", lat=f"{cur[1]:.6f}", acc=f"{acc:.0f}"))
            if acc is not None and acc > GPS_WARN_ACCURACY_M:
                st.warning(tr("field.gps_poor", acc=f"{acc:.0f}"))
    elif method == "map":
        _map_tap(net, state_key)
    elif method == "stake":
        c1, c2 = st.columns(2)
        code = c1.selectbox(
            tr("ui.road"),
            net.codes,
            format_func=lambda c: f"{c} {net.routes[c].name}",
            key=f"{state_key}_road",
        )
        stake = c2.text_input(tr("ui.stake"), placeholder="K3+250", key=f"{state_key}_stake")
        c1, c2, c3 = st.columns([2, 2, 1.4], vertical_alignment="bottom")
        side = c1.segmented_control(
            tr("field.side"),
            ["left", "right"],
            key=f"{state_key}_side",
            format_func=lambda v: tr("side." + v),
        )
        c1.caption(tr("field.side_rule"))
        offset = c2.number_input(
            tr("field.offset"), min_value=0.0, max_value=200.0, step=1.0, value=0.0, key=f"{state_key}_offset"
        )
        c3.button(tr("ui.find_stake"), key=f"{state_key}_stake_go", width="stretch")
        _locate_stake(net, state_key, code, stake, side, offset)
    else:  # no method chosen: nothing picked is shown, so nothing picked is kept
        state[state_key] = None
    cur = state.get(state_key)
    if cur and cur[2] != method:
        # a position from another method than the one on screen is not what the form shows: never save it
        state[state_key] = None
    return state.get(state_key)


def _locate_stake(
    net: RoadNetwork, state_key: str, code: str | None, stake: str, side: str | None, offset: float | None
) -> None:
    """Road + stake → the point, computed afresh from what the fields show on every run: changing the road, the
    stake, the side or the offset moves the position at once, and a stake that cannot be found leaves none."""
    state = st.session_state
    inputs = (code, (stake or "").strip(), side or "", float(offset or 0.0))
    if state.get(f"{state_key}_stake_inputs") == inputs and state.get(state_key):
        return
    state[f"{state_key}_stake_inputs"] = inputs
    state[state_key] = None
    state[f"{state_key}_stake_only"] = None
    if not inputs[1] or not code:
        return
    try:
        chainage = parse_stake(inputs[1])
        if inputs[3] and inputs[2]:  # a point beside the road: the zone verdict can be given
            lon, lat = offset_point(net, code, chainage, inputs[3], inputs[2])
        else:  # on the road itself (e.g. an over-limit truck): road + stake only
            lon, lat = stake_to_point(net, code, chainage)
            state[f"{state_key}_stake_only"] = (code, format_stake(chainage), inputs[2])
        state[state_key] = (lon, lat, "stake", None)
    except GisError as exc:
        st.error(err(exc))


@st.fragment
def _map_tap(net: RoadNetwork, state_key: str) -> None:
    from patrol_app.services.my_records import nearby_open_incidents
    from patrol_app.services.roads import invented_network
    from patrol_app.storage.db import read_session
    from patrol_app.ui.common import lang, page_user

    state = st.session_state
    cur = state.get(state_key)
    fix = state.get(f"{state_key}_last_fix")
    with read_session() as s:
        nearby = nearby_open_incidents(s, page_user(), (fix[0], fix[1]) if fix else None)
        m = _picker_map(net, lang(), invented_network(s))
    chosen = (cur[0], cur[1], tr("ui.chosen_point")) if cur else None
    out = st_folium(
        m,
        key=f"{state_key}_map",
        height=380,
        use_container_width=True,
        returned_objects=["last_clicked"],
        feature_group_to_add=nearby_layer(nearby, chosen),
    )
    click = (out or {}).get("last_clicked")
    if click and click != state.get(f"{state_key}_last_click"):
        state[f"{state_key}_last_click"] = click
        state[state_key] = (click["lng"], click["lat"], "map", None)
        st.rerun()
    st.caption(tr("ui.tap_hint") + " " + tr("field.picker_legend"))


def _picker_map(net: RoadNetwork, lng: str, invented_roads: bool) -> folium.Map:
    from patrol_app.district import district
    from patrol_app.services.mapdata import map_labels

    return picker_map(net, map_labels(lng), district=district(), invented_roads=invented_roads)


FAR_LIMIT_M = 2000.0  # beyond this, no road is offered: the map tap is the way


def position_of(
    net: RoadNetwork, loc: Loc | None, road: str | None = None, state_key: str | None = None
) -> RoadPosition | None:
    """Where a picked location lies on the road network, or None (and the reason shown).

    A GPS fix farther than the maximum distance from every road does not dead-end: the nearest road is named
    with its distance and stake, and the officer may use it (the distance is recorded) or tap the map."""
    if not loc:
        return None
    state = st.session_state
    limit = get_settings().max_distance_m
    if state_key and state.get(f"{state_key}_far_ok") == tuple(loc):
        limit = FAR_LIMIT_M
    try:
        return locate(net, loc[0], loc[1], limit, road_code=road)
    except GisError as exc:
        near = None
        if state_key and loc[2] == "gps":
            try:
                near = locate(net, loc[0], loc[1], FAR_LIMIT_M)
            except GisError:
                near = None
        if near is None:
            st.warning(err(exc) + " " + tr("ui.zoom_in_hint"))
            return None
        st.warning(
            tr(
                "field.far_from_road",
                code=near.road_code,
                name=near.road_name,
                stake=near.stake,
                distance=f"{near.offset_m:.0f}",
                max=f"{limit:g}",
            )
        )
        c1, c2 = st.columns(2)
        if c1.button(
            tr("field.far_use", code=near.road_code, distance=f"{near.offset_m:.0f}"),
            key=f"{state_key}_far_use",
            width="stretch",
        ):
            state[f"{state_key}_far_ok"] = tuple(loc)
            st.rerun()
        c2.button(
            tr("field.far_map"),
            key=f"{state_key}_far_map",
            width="stretch",
            on_click=lambda: state.__setitem__(f"{state_key}_method", "map"),
        )
        return None


def accepted_distance(state_key: str) -> float | None:
    """The distance the officer accepted for a far GPS fix (sent with the record so the service allows it)."""
    loc = st.session_state.get(state_key)
    return FAR_LIMIT_M if loc and st.session_state.get(f"{state_key}_far_ok") == tuple(loc) else None


def picked_position(
    net: RoadNetwork, state_key: str
) -> tuple[Loc | None, RoadPosition | None, tuple[str, str, str] | None, str | None]:
    """The picked location, its road position and the one-line text to show before saving.

    A road + stake without side and offset is a point on the road itself: road and stake are known, the side
    and the zone verdict are not (and are not made up)."""
    from patrol_app.i18n import position_text
    from patrol_app.ui.common import lang

    loc = st.session_state.get(state_key)
    stake_only = st.session_state.get(f"{state_key}_stake_only") if loc and loc[2] == "stake" else None
    pos = position_of(net, loc, road=stake_only[0] if stake_only else None, state_key=state_key)
    if pos is None:
        return loc, None, None, None
    if stake_only:
        side = tr("side." + stake_only[2]) if stake_only[2] else ""
        text = f"{pos.road_code} {pos.road_name} {stake_only[1]} {side} · " + tr("zone.unknown")
    else:
        text = position_text(pos, lang())
    return loc, pos, stake_only, text
