import streamlit as st

from patrol_app.reports.rollup import Period
from patrol_app.services.stats import default_year, year_totals, years_with_data
from patrol_app.storage.db import read_session
from patrol_app.ui.common import county_choice, page_user, tr

user = page_user()

st.title(tr("app.title"))
county = county_choice(user, "overview_county")  # city and province accounts: all their counties, or one
with read_session() as s:
    years = years_with_data(s, user, county)
    year = st.selectbox(tr("ui.year"), years, index=years.index(default_year(years)), key="overview_year")
    period = Period.year_to_date(int(year))
    prev = period.previous()
    tot = year_totals(s, user, year, period.start, period.end, county)
    before = year_totals(s, user, prev.start.year, prev.start, prev.end, county)
has_before = before.patrols > 0 or before.incidents > 0


def delta(now: float, then: float) -> float | None:
    return (now - then) if has_before else None


c = st.columns(3)
c[0].metric(tr("ui.patrols"), f"{tot.patrols}", delta(tot.patrols, before.patrols))
c[1].metric(tr("ui.vehicle_trips"), f"{tot.vehicle_trips}", delta(tot.vehicle_trips, before.vehicle_trips))
c[2].metric(tr("ui.person_trips"), f"{tot.person_trips}", delta(tot.person_trips, before.person_trips))
c = st.columns(3)
c[0].metric(tr("ui.km"), f"{tot.km:,.0f}", None if not has_before else round(tot.km - before.km))
c[1].metric(
    tr("ui.incidents"), f"{tot.incidents}", delta(tot.incidents, before.incidents), delta_color="inverse"
)
c[2].metric(tr("ui.open_incidents"), f"{tot.open_incidents}")
st.caption(
    tr(
        "ui.compared_with",
        start=f"{prev.start:%Y-%m-%d}",
        end=f"{prev.end:%Y-%m-%d}",
        now_start=f"{period.start:%Y-%m-%d}",
        now_end=f"{period.end:%Y-%m-%d}",
    )
)
st.caption(tr("ui.overview_hint"))
