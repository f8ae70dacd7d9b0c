"""The road network: its routes for everyone; for administrators, replacing it from a road file (field mapping,
preview, diff, problems, incidents re-located) and per-road settings (half road-land width, published control
lines). Thin: the work is in services.network_import and services.roads."""

import datetime as dt
import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy.orm import Session
from streamlit.runtime.uploaded_file_manager import UploadedFile
from streamlit_folium import st_folium

from gis.maps import network_preview_map
from gis.roads import FIELD_ROLES, RoadFile, RoadNetwork
from patrol_app.config import get_settings
from patrol_app.domain.catalog import BY_CODE
from patrol_app.domain.rules import Perm, allowed
from patrol_app.services import network_import as ni
from patrol_app.services import roads as road_service
from patrol_app.services.errors import ServiceError
from patrol_app.services.mapdata import map_labels
from patrol_app.storage.db import read_session
from patrol_app.storage.models import User
from patrol_app.ui.common import err, lang, network, page_user, show_flash, tr, write_and_flash

st.title(tr("nav.roads"))
user = page_user()
can_manage = user is not None and allowed(user.role, Perm.MANAGE_ROADS)
net: RoadNetwork | None
try:
    net = network(user)
except Exception as exc:  # no network yet: say so, plainly
    net = None
    if not can_manage:
        st.warning(err(exc))
        st.stop()
    st.info(tr("roads.ui.empty_admin"))

show_flash("roads_flash")


def routes_table() -> None:
    if net is None:
        return
    rows = net.describe()
    df = pd.DataFrame(rows)
    df["road_class"] = [tr("class." + c) for c in df["road_class"]]
    df["half_road_land_m"] = [
        net.routes[c].verdict(net.routes[c].start_m, 0.0).half_road_land_m for c in df["code"]
    ]
    df["control_lines"] = [len(net.routes[c].control_lines) for c in df["code"]]
    df = df[
        [
            "code",
            "name",
            "road_class",
            "start_stake",
            "end_stake",
            "length_km",
            "pieces",
            "half_road_land_m",
            "control_lines",
        ]
    ]
    df.columns = [
        tr("ui.col." + c)
        if c in ("code", "name", "road_class", "start_stake", "end_stake", "length_km", "pieces")
        else tr("roads.col." + c)
        for c in df.columns
    ]
    st.caption(tr("ui.roads_summary", routes=len(rows), km=f"{sum(r['length_km'] for r in rows):,.1f}"))
    st.dataframe(df, hide_index=True, width="stretch")


def _actor(s: Session) -> User:
    return s.get_one(User, user.id)


def _road_file(up: UploadedFile) -> tuple[str, RoadFile]:
    """The uploaded road file, read once per upload (kept in the session)."""
    data = up.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    cached = st.session_state.get("roads_file")
    if cached and cached[0] == digest:
        return digest, cached[1]
    folder = get_settings().data_dir / "uploads" / "roads" / digest[:16]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / Path(up.name).name
    path.write_bytes(data)
    rf = ni.read_road_upload(path, up.name)
    st.session_state["roads_file"] = (digest, rf)
    st.session_state.pop("roads_preview", None)
    return digest, rf


def import_panel() -> None:
    st.caption(tr("roads.ui.import_intro"))
    n = st.session_state.get("roads_upload_n", 0)
    up = st.file_uploader(
        tr("roads.ui.upload"), type=["geojson", "json", "gpkg", "zip"], key=f"roads_upload_{n}"
    )
    if up is None:
        return
    try:
        digest, rf = _road_file(up)
    except ServiceError as exc:
        st.error(err(exc))
        return
    proposed = ni.proposed_mapping(rf)
    st.markdown(f"**{tr('roads.ui.mapping')}**")
    st.caption(tr("roads.ui.mapping_hint", n=len(rf.features)))
    options = ["", *rf.fields]
    mapping: dict[str, str | None] = {}
    cols = st.columns(3)
    for i, role in enumerate(FIELD_ROLES):
        default = proposed.get(role) or ""
        choice = cols[i % 3].selectbox(
            tr("roads.role." + role),
            options,
            index=options.index(default),
            key=f"roads_map_{role}_{digest[:8]}",
            format_func=lambda v: v if v else tr("roads.ui.no_field"),
        )
        mapping[role] = choice or None
    gcj02 = st.toggle(tr("roads.ui.gcj02"), key=f"roads_gcj02_{digest[:8]}", help=tr("roads.ui.gcj02_help"))
    if not mapping["code"]:
        st.warning(tr("roads.error.code_field_required"))
        return
    key = (digest, tuple(sorted((k, v or "") for k, v in mapping.items())), gcj02)
    cached = st.session_state.get("roads_preview")
    if cached and cached[0] == key:
        pv = cached[1]
    else:
        with st.spinner(tr("roads.ui.previewing")), read_session() as s:
            try:
                pv = ni.preview_network(s, _actor(s), rf, mapping, gcj02)
            except ServiceError as exc:
                st.error(err(exc))
                return
        st.session_state["roads_preview"] = (key, pv)
    show_preview(pv)


def show_preview(pv: "ni.NetworkPreview") -> None:
    st.subheader(tr("roads.ui.preview"))
    c = st.columns(4)
    c[0].metric(tr("roads.ui.routes_in_file"), len(pv.network.codes) if pv.network else 0)
    c[1].metric(tr("roads.ui.pieces"), len(pv.pieces))
    c[2].metric(tr("roads.ui.errors"), len(pv.errors))
    c[3].metric(tr("roads.ui.warnings"), len(pv.warnings))
    if pv.problems:
        (st.error if pv.errors else st.warning)(
            tr("roads.ui.problems_found", errors=len(pv.errors), warnings=len(pv.warnings))
        )
        st.dataframe(
            pd.DataFrame(
                [
                    (
                        p.feature,
                        p.code,
                        tr("roads.severity." + ("error" if p.error else "warning")),
                        tr("roads.problem." + p.kind, **p.params),
                    )
                    for p in pv.problems
                ],
                columns=[
                    tr("roads.col.feature"),
                    tr("ui.col.code"),
                    tr("roads.col.severity"),
                    tr("roads.col.problem"),
                ],
            ),
            hide_index=True,
            width="stretch",
            height=min(36 * (len(pv.problems) + 1), 300),
            key="roads_problems",
        )
    if pv.network_error:
        st.error(tr("roads.error.network", detail=pv.network_error))
    if pv.network is None:
        return
    changed = [ch for ch in pv.changes if ch.change != "same"]
    st.markdown(f"**{tr('roads.ui.diff')}**")
    st.caption(
        tr(
            "roads.ui.diff_summary",
            added=pv.count("added"),
            changed=pv.count("changed"),
            removed=pv.count("removed"),
            same=pv.count("same"),
        )
    )
    if changed:
        st.dataframe(
            pd.DataFrame(
                [
                    (
                        tr("roads.change." + ch.change),
                        ch.code,
                        ch.name,
                        tr("class." + ch.road_class),
                        ch.old_length_km,
                        ch.new_length_km,
                        ch.old_stakes,
                        ch.new_stakes,
                    )
                    for ch in changed
                ],
                columns=[
                    tr("roads.col." + k)
                    for k in (
                        "change",
                        "code",
                        "name",
                        "class",
                        "old_km",
                        "new_km",
                        "old_stakes",
                        "new_stakes",
                    )
                ],
            ),
            hide_index=True,
            width="stretch",
            key="roads_diff",
        )
    st_folium(
        network_preview_map(pv.network, map_labels(lang())),
        key="roads_preview_map",
        height=420,
        use_container_width=True,
        returned_objects=[],
    )
    st.caption(tr("roads.ui.map_caption"))
    if pv.relocations:
        st.warning(
            tr(
                "roads.ui.relocated",
                n=len(pv.relocations),
                total=pv.incidents_checked,
                tol=f"{ni.RELOCATE_TOLERANCE_M:g}",
            )
        )
        st.dataframe(
            pd.DataFrame(
                [
                    (
                        r.incident_id,
                        r.found_at.strftime("%Y-%m-%d"),
                        BY_CODE[r.type_code].name(lang()) if r.type_code in BY_CODE else r.type_code,
                        r.old_road,
                        r.old_stake,
                        r.new_road or "",
                        r.new_stake or tr("roads.ui.out_of_reach"),
                    )
                    for r in pv.relocations
                ],
                columns=[
                    tr("roads.col." + k)
                    for k in ("incident", "found", "type", "old_road", "old_stake", "new_road", "new_stake")
                ],
            ),
            hide_index=True,
            width="stretch",
            height=260,
            key="roads_relocations",
        )
    elif pv.incidents_checked:
        st.success(tr("roads.ui.none_relocated", total=pv.incidents_checked))
    skip = False
    if pv.errors:
        skip = st.checkbox(
            tr("roads.ui.skip_bad", n=len({p.feature for p in pv.errors})), key="roads_skip_bad"
        )
    if st.button(
        tr("roads.ui.confirm"),
        type="primary",
        disabled=bool(pv.errors) and not skip,
        key="roads_confirm",
        icon=":material/published_with_changes:",
    ):

        def fresh_upload(res: dict) -> None:
            st.session_state["roads_upload_n"] = st.session_state.get("roads_upload_n", 0) + 1
            for k in ("roads_file", "roads_preview"):
                st.session_state.pop(k, None)

        write_and_flash(
            lambda s: ni.confirm_network(s, _actor(s), pv, skip_bad=skip),
            "roads_flash",
            lambda res: tr(
                "roads.ui.replaced", routes=res["routes"], pieces=res["pieces"], relocated=res["relocated"]
            ),
            after=fresh_upload,
        )


def settings_panel() -> None:
    if net is None:
        st.info(tr("roads.ui.settings_need_network"))
        return
    code = st.selectbox(
        tr("ui.road"), net.codes, format_func=lambda c: f"{c} {net.routes[c].name}", key="roads_settings_code"
    )
    route = net.routes[code]
    v = route.verdict(route.start_m, 0.0)
    with read_session() as s:
        set_value = road_service.half_width_set(s, _actor(s), code)
        lines = road_service.control_lines(s, _actor(s), code)
    source = "app" if set_value is not None else ("class" if v.half_road_land_assumed else "file")
    st.markdown(f"**{tr('roads.ui.half_width')}**")
    st.caption(
        tr("roads.ui.half_width_now", half=f"{v.half_road_land_m:g}", source=tr("roads.source." + source))
    )
    with st.form("roads_half_form", border=False):
        c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
        value = c1.number_input(
            tr("roads.ui.half_width_m"),
            min_value=0.5,
            max_value=road_service.MAX_WIDTH_M,
            value=float(v.half_road_land_m),
            step=0.5,
            key=f"roads_half_{code}",
        )
        save = c2.form_submit_button(tr("roads.ui.save"), type="primary")
        clear = c3.form_submit_button(tr("roads.ui.clear_half"), disabled=set_value is None)
    if save or clear:
        write_and_flash(
            lambda s: road_service.set_half_width(s, _actor(s), code, None if clear else float(value)),
            "roads_flash",
            tr("roads.ui.half_saved", code=code),
        )

    st.markdown(f"**{tr('roads.ui.control_lines')}**")
    st.caption(tr("roads.ui.control_lines_note"))
    if lines:
        st.dataframe(
            pd.DataFrame(
                [
                    (ln["from_stake"], ln["to_stake"], ln["distance_m"], ln["doc_no"], ln["doc_date"])
                    for ln in lines
                ],
                columns=[tr("roads.col." + k) for k in ("from", "to", "distance", "doc_no", "doc_date")],
            ),
            hide_index=True,
            width="stretch",
            key="roads_lines",
        )
    else:
        st.caption(tr("roads.ui.no_lines", code=code))
    with st.form("roads_line_form"):
        c = st.columns(3)
        a = c[0].text_input(tr("roads.col.from"), value=route.start_stake, key="roads_line_from")
        b = c[1].text_input(tr("roads.col.to"), value=route.end_stake, key="roads_line_to")
        d = c[2].number_input(
            tr("roads.ui.distance_m"),
            min_value=0.0,
            max_value=road_service.MAX_WIDTH_M,
            value=float(v.control_line_m or v.half_road_land_m + 10),
            step=0.5,
            key="roads_line_distance",
        )
        row2 = st.columns(2)
        doc = row2[0].text_input(
            tr("roads.col.doc_no"), key="roads_line_doc", placeholder=tr("roads.ui.doc_placeholder")
        )
        day = row2[1].date_input(
            tr("roads.col.doc_date"), value=dt.date.today(), key="roads_line_date", format="YYYY-MM-DD"
        )
        add = st.form_submit_button(tr("roads.ui.add_line"), type="primary")
    if add:
        write_and_flash(
            lambda s: road_service.add_control_line(s, _actor(s), code, a, b, float(d), doc, day),
            "roads_flash",
            tr("roads.ui.line_saved", code=code),
        )
    if lines:
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        which = c1.selectbox(
            tr("roads.ui.withdraw_which"),
            [ln["id"] for ln in lines],
            key="roads_withdraw_id",
            format_func=lambda i: next(
                f"{ln['from_stake']}–{ln['to_stake']} · {ln['doc_no']}" for ln in lines if ln["id"] == i
            ),
        )
        if c2.button(tr("roads.ui.withdraw"), key="roads_withdraw"):
            write_and_flash(
                lambda s: road_service.withdraw_control_line(s, _actor(s), int(which)),
                "roads_flash",
                tr("roads.ui.line_withdrawn", code=code),
            )


if can_manage:
    tab_routes, tab_import, tab_settings = st.tabs(
        [tr("roads.tab.routes"), tr("roads.tab.import"), tr("roads.tab.settings")]
    )
    with tab_routes:
        routes_table()
    with tab_import:
        import_panel()
    with tab_settings:
        settings_panel()
else:
    routes_table()
