import streamlit as st

from patrol_app.services.stats import year_totals, years_with_data
from patrol_app.storage.db import read_session
from patrol_app.ui.common import current_user, tr

user = current_user()

st.title(tr("app.title"))
with read_session() as s:
    years = years_with_data(s, user)
    year = st.selectbox(tr("ui.year"), years, index=0)
    tot = year_totals(s, user, year)

c = st.columns(3)
c[0].metric(tr("ui.patrols"), f"{tot.patrols}")
c[1].metric(tr("ui.vehicle_trips"), f"{tot.vehicle_trips}")
c[2].metric(tr("ui.person_trips"), f"{tot.person_trips}")
c = st.columns(3)
c[0].metric(tr("ui.km"), f"{tot.km:,.0f}")
c[1].metric(tr("ui.incidents"), f"{tot.incidents}")
c[2].metric(tr("ui.open_incidents"), f"{tot.open_incidents}")
st.caption(tr("ui.overview_hint"))
