"""Where am I on the road? GPS, a tap on the map, or road + stake → road, stake, side, offset, zone verdict."""

import streamlit as st

from patrol_app.ui.common import err, md_escape, network, page_user, tr
from patrol_app.ui.widgets import location_picker, picked_position

st.title(tr("nav.locate"))
user = page_user()
try:
    net = network(user)
except Exception as exc:  # no network yet: say so, plainly
    st.warning(err(exc))
    st.stop()

location_picker(net, "locate_point")
loc, pos, _, text = picked_position(net, "locate_point")
if pos is not None and loc is not None:  # (a position is of a picked location)
    st.success(md_escape(text))
    st.caption(f"{loc[0]:.6f}, {loc[1]:.6f}")
elif loc is None:
    st.caption(tr("ui.tap_hint"))
