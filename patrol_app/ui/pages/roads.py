import pandas as pd
import streamlit as st

from patrol_app.ui.common import err, network, tr

st.title(tr("nav.roads"))
try:
    net = network()
except Exception as exc:  # no network yet: say so, plainly
    st.warning(err(exc))
    st.stop()
rows = net.describe()
df = pd.DataFrame(rows)
df["road_class"] = [tr("class." + c) for c in df["road_class"]]
df = df[["code", "name", "road_class", "start_stake", "end_stake", "length_km", "pieces"]]
df.columns = [tr("ui.col." + c) for c in df.columns]
st.caption(tr("ui.roads_summary", routes=len(rows), km=f"{sum(r['length_km'] for r in rows):,.1f}"))
st.dataframe(df, hide_index=True, width="stretch")
st.caption(tr("ui.roads_import_hint"))
