"""Incident map for managers: filters, map (clusters or heat), charts, road coverage and hotspots.

Filters go to SQL (services.mapdata); maps and figures are cached on the filter values and a data stamp, so a
rerun that changes no filter rebuilds nothing. The map sits in a fragment: its own switches (colour, clusters
or heat, control-zone road, overlays) rerun only the map, and only its swapped layers travel to the browser.
"""

import datetime as dt

import altair as alt
import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from gis import maps
from patrol_app.clock import local_now
from patrol_app.config import get_settings
from patrol_app.district import district
from patrol_app.domain.catalog import BY_CODE, CATALOG
from patrol_app.services import mapdata
from patrol_app.services.errors import ServiceError
from patrol_app.services.roads import invented_network
from patrol_app.services.roads import network as store_network
from patrol_app.services.users import get_user
from patrol_app.storage.db import read_session, read_stale
from patrol_app.storage.models import User
from patrol_app.ui.common import batch_filter, county_choice, err, lang, network, page_user, tr


def type_name(code: str) -> str:
    """One name per violation type: the catalog's."""
    return BY_CODE[code].name(lang()) if code in BY_CODE else code


def _county_of(actor: User, f: mapdata.MapFilter) -> str | None:
    """The county whose roads the map draws: the one chosen (a city or province account), else the user's."""
    from patrol_app.domain.adcodes import is_rollup
    from patrol_app.services.users import home_county

    return f.county if f.county and not is_rollup(f.county) else home_county(actor)


MAP_HEIGHT = 560
SEGMENTS_M = (200, 500, 1000)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def figures(stamp: str, db_url: str, username: str, f: mapdata.MapFilter, segment_m: int):
    def read(s):
        actor = get_user(s, username)
        net = store_network(s, _county_of(actor, f))
        return (
            mapdata.charts(s, actor, f),
            mapdata.road_coverage(s, actor, net, f),
            mapdata.hotspots(s, actor, f, segment_m, network=net),
        )

    return read_stale(read, db_url)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def map_layers(
    stamp: str,
    db_url: str,
    username: str,
    f: mapdata.MapFilter,
    color_by: str,
    mode: str,
    zone_road: str,
    coverage,
    hotspots,
    lang_: str,
    bm: maps.Basemap,
):
    def read(s):
        actor = get_user(s, username)
        return mapdata.incident_points(s, actor, f), store_network(s, _county_of(actor, f))

    points, net = read_stale(read, db_url)
    layers = maps.incident_layers(
        points,
        net,
        mapdata.map_labels(lang_),
        bm,
        color_by=color_by,
        mode=mode,
        zone_road=zone_road or None,
        coverage=coverage,
        hotspots=hotspots,
    )
    return layers, len(points)


def bars(rows, label: str, value: str, names=None, horizontal: bool = True) -> None:
    if not rows:
        st.caption(tr("map.empty"))
        return
    df = pd.DataFrame(
        [((names(k) if names else k) or tr("map.chart.others"), v) for k, v in rows], columns=[label, value]
    )
    if horizontal:
        chart = (
            alt.Chart(df)
            .mark_bar()
            .encode(
                x=alt.X(value, title=value), y=alt.Y(label, sort="-x", title=None), tooltip=[label, value]
            )
        )
        st.altair_chart(chart.properties(height=max(120, 24 * len(df))), width="stretch")
    else:
        st.bar_chart(df.set_index(label), height=260)


def patrol_chart(rows) -> None:
    """Patrols, vehicle trips and person trips per month, side by side."""
    if not rows:
        st.caption(tr("map.empty"))
        return
    cols = [tr("map.col." + k) for k in ("month", "patrols", "vehicle_trips", "person_trips")]
    df = pd.DataFrame(rows, columns=cols).melt(cols[0], var_name="series", value_name="n")
    st.altair_chart(
        alt.Chart(df)
        .mark_bar()
        .encode(
            x=alt.X(cols[0], title=None),
            xOffset=alt.XOffset("series", sort=cols[1:]),
            y=alt.Y("n", title=None),
            color=alt.Color(
                "series", sort=cols[1:], title=None, legend=alt.Legend(orient="bottom", direction="vertical")
            ),
            tooltip=[cols[0], "series", "n"],
        )
        .properties(height=260),
        width="stretch",
    )


st.title(tr("nav.incident_map"))
user = page_user()
if user is None:
    st.stop()
try:
    net = network(user)
except Exception as exc:  # no road network yet
    st.warning(err(exc))
    st.stop()
try:
    bm = mapdata.basemap_from_env()
except ServiceError as exc:
    st.warning(err(exc) + " " + tr("map.basemap_fallback"))
    bm = maps.NO_BASEMAP
db_url = get_settings().db_url
today = local_now().date()
default_period = (dt.date(today.year, 1, 1), today)

# ?batch=N (from the ledger import page): only that imported batch, over its dates
batch = batch_filter()
if batch is not None:
    default_period = (batch.first_date or default_period[0], batch.last_date or default_period[1])
    c1, c2 = st.columns([4, 1], vertical_alignment="center")
    c1.info(tr("imports.map.batch_only", batch=batch.id, file=batch.filename))
    if c2.button(tr("imports.map.show_all"), key="map_batch_clear"):
        st.query_params.pop("batch", None)
        st.session_state.pop("map_period", None)
        st.rerun()

with st.container(border=True):
    county = county_choice(user, "map_county")  # city and province accounts: all their counties, or one
    c = st.columns([2, 1.3, 1.3])
    period = c[0].date_input(tr("map.period"), value=default_period, format="YYYY-MM-DD", key="map_period")
    statuses = c[1].multiselect(
        tr("map.statuses"),
        ["open", "closed"],
        format_func=lambda v: tr("map.status." + v),
        placeholder=tr("map.all"),
        key="map_statuses",
    )
    town_names = c[2].multiselect(
        tr("map.towns"), list(district().town_names), placeholder=tr("map.all"), key="map_towns"
    )
    row2 = st.columns(2)
    types = row2[0].multiselect(
        tr("map.types"),
        [v.code for v in CATALOG],
        format_func=lambda v: type_name(v),
        placeholder=tr("map.all"),
        key="map_types",
    )
    roads = row2[1].multiselect(
        tr("map.roads"),
        net.codes,
        format_func=lambda v: f"{v} {net.routes[v].name}",
        placeholder=tr("map.all"),
        key="map_roads",
    )
picked = tuple(period or ())  # none, the start only (while picking) or both dates
f = mapdata.MapFilter(
    picked[0] if picked else None,
    picked[1] if len(picked) > 1 else None,
    tuple(types),
    tuple(roads),
    tuple(statuses),
    tuple(town_names),
    batch.id if batch is not None else None,
    county,
)
with read_session(stale_ok=True) as s:  # the stamp of the data the figures read (the replica's)
    stamp = mapdata.data_stamp(s, user)
    invented = invented_network(s)

# Map and charts side by side on a desk screen; stacked (map full width) on a portrait tablet.
st.html(
    "<style>@media (max-width: 900px) { .st-key-map_layout [data-testid='stHorizontalBlock']"
    ":not([data-testid='stColumn'] *) { flex-wrap: wrap; } .st-key-map_layout [data-testid='stColumn']"
    ":not([data-testid='stColumn'] *) { min-width: 100% !important; } }</style>"
)
with st.container(key="map_layout"):
    map_col, chart_col = st.columns([3, 2], gap="medium")
    coverage_col, hotspot_col = st.columns(2, gap="medium")
with hotspot_col:
    st.subheader(tr("map.hotspots.title"))
    segment_m = (
        st.segmented_control(
            tr("map.segment"),
            SEGMENTS_M,
            default=500,
            key="map_segment",
            format_func=lambda m: tr("map.segment_m", m=m),
        )
        or 500
    )
charts, coverage, hotspots = figures(stamp, db_url, user.username, f, segment_m)


@st.fragment
def map_panel() -> None:
    c = st.columns(2)
    color_by = (
        c[0].segmented_control(
            tr("map.color_by"),
            ["type", "status"],
            default="type",
            key="map_color_by",
            format_func=lambda v: tr("map.color." + v),
        )
        or "type"
    )
    mode = (
        c[1].segmented_control(
            tr("map.view"),
            ["cluster", "heat"],
            default="cluster",
            key="map_mode",
            format_func=lambda v: tr("map.view." + v),
        )
        or "cluster"
    )
    c = st.columns(2)
    zone_road = c[0].selectbox(
        tr("map.zone_road"),
        ["", *net.codes],
        key="map_zone_road",
        format_func=lambda v: f"{v} {net.routes[v].name}" if v else tr("map.zone_none"),
    )
    overlays = c[1].pills(
        tr("map.overlays"),
        ["hotspots", "coverage"],
        selection_mode="multi",
        default=["hotspots"],
        format_func=lambda v: tr("map.overlay." + v),
        key="map_overlays",
    )
    layers, count = map_layers(
        stamp,
        db_url,
        user.username,
        f,
        color_by,
        mode,
        zone_road,
        [c.as_row() for c in coverage] if "coverage" in overlays else None,
        hotspots if "hotspots" in overlays else None,
        lang(),
        bm,
    )
    base = maps.district_map(
        net, mapdata.map_labels(lang()), bm, district=district(), invented_roads=invented
    )
    st_folium(
        base,
        key="incident_map",
        height=MAP_HEIGHT,
        use_container_width=True,
        returned_objects=[],
        feature_group_to_add=layers,
    )
    st.caption(tr("map.shown", count=f"{count:,}", summary=mapdata.filter_summary(f, lang())))
    if not count:
        st.info(tr("map.empty"))


with map_col:
    map_panel()

with chart_col:
    st.subheader(tr("map.charts"))
    tabs = st.tabs([tr("map.chart." + k) for k in ("month", "type", "road", "town", "patrols")])
    incidents = tr("map.col.incidents")
    with tabs[0]:
        bars(charts.incidents_per_month, tr("map.col.month"), incidents, horizontal=False)
    with tabs[1]:
        bars(charts.by_type, tr("map.col.type"), incidents, names=lambda v: type_name(v))
    with tabs[2]:
        bars(mapdata.top(charts.by_road, 15), tr("map.col.road"), incidents)
    with tabs[3]:
        bars(charts.by_town, tr("map.col.town"), incidents)
    with tabs[4]:
        patrol_chart(charts.patrols_per_month)

with coverage_col:
    st.subheader(tr("map.coverage.title"))
    never = [c.code for c in coverage if c.times == 0]
    if never:
        st.warning(tr("map.coverage.unpatrolled", count=len(never), codes="、".join(never)))
    else:
        st.success(tr("map.coverage.all_patrolled"))
    st.dataframe(
        pd.DataFrame(
            [
                (c.code, c.name, tr("class." + c.road_class), c.length_km, c.times, c.last_date)
                for c in coverage
            ],
            columns=[
                tr("map.col." + k) for k in ("road", "name", "class", "length_km", "times", "last_date")
            ],
        ),
        hide_index=True,
        width="stretch",
        height=280,
    )

with hotspot_col:
    st.caption(tr("map.hotspots.hint", segment=segment_m, min=mapdata.DEFAULT_HOTSPOT_MIN_COUNT))
    if hotspots:
        st.dataframe(
            pd.DataFrame(
                [
                    (
                        h.code,
                        net.routes[h.code].name if h.code in net.routes else "",
                        h.stakes,
                        h.count,
                        h.open_count,
                        type_name(h.top_type) if h.top_type else "",
                    )
                    for h in hotspots
                ],
                columns=[tr("map.col." + k) for k in ("road", "name", "stakes", "count", "open", "top_type")],
            ),
            hide_index=True,
            width="stretch",
            height=280,
        )
    else:
        st.info(tr("map.hotspots.none"))
