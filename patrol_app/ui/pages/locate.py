"""Where am I on the road? Tap the map or type road + stake: road, stake, side, offset, control-zone verdict."""

import streamlit as st
from streamlit_folium import st_folium

from gis.errors import GisError
from gis.linref import locate, stake_to_point
from gis.maps import base_map, point_layer, road_layer
from patrol_app.config import get_settings
from patrol_app.i18n import position_text
from patrol_app.ui.common import err, lang, network, tr

st.title(tr("nav.locate"))
try:
    net = network()
except Exception as exc:
    st.warning(err(exc))
    st.stop()

state = st.session_state
state.setdefault("locate_point", None)  # (lon, lat)

@st.fragment
def map_picker() -> None:
    m = base_map(net)
    road_layer(net, {"code": tr("ui.road"), "name": tr("ui.col.name"), "stakes": tr("ui.stake")}).add_to(m)
    pts = [] if state["locate_point"] is None else [(*state["locate_point"], tr("ui.chosen_point"))]
    out = st_folium(m, key="locate_map", height=440, use_container_width=True,
                    returned_objects=["last_clicked"], feature_group_to_add=point_layer(pts))
    click = (out or {}).get("last_clicked")
    if click and click != state.get("locate_last_click"):
        state["locate_last_click"] = click
        state["locate_point"] = (click["lng"], click["lat"])
        st.rerun()


map_slot, result_slot = st.container(), st.container()
with st.form("stake_form", border=True):
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    code = c1.selectbox(tr("ui.road"), net.codes, format_func=lambda c: f"{c} {net.routes[c].name}")
    stake = c2.text_input(tr("ui.stake"), placeholder="K3+250")
    go = c3.form_submit_button(tr("ui.find_stake"), width="stretch")
if go:
    try:
        state["locate_point"] = stake_to_point(net, code, stake)
    except GisError as exc:
        st.error(err(exc))

with map_slot:
    map_picker()
with result_slot:
    if state["locate_point"] is None:
        st.caption(tr("ui.tap_hint"))
    else:
        lon, lat = state["locate_point"]
        try:
            pos = locate(net, lon, lat, get_settings().max_distance_m)
            st.success(position_text(pos, lang()))
            st.caption(f"{lon:.6f}, {lat:.6f}")
        except GisError as exc:
            st.warning(err(exc) + " " + tr("ui.zoom_in_hint"))
