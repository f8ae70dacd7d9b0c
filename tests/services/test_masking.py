"""Parties' names and phones: one masking function, used by map popups (app and ``patrol map`` files), the
cases page's service and exports, for roles without ``Perm.VIEW_PARTY``."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from gis.linref import offset_point
from patrol_app.domain import masking
from patrol_app.io import exports
from patrol_app.services import cases, field, mapdata
from patrol_app.services.mapdata import MapFilter
from patrol_app.services.users import get_user
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import Personnel

NAME, PHONE = "欧阳娜娜", "13812345678"
DESC = f"{NAME}在路边堆放建材 电话{PHONE}"


def _incident_with_party(store) -> int:
    net = store.network()
    lon, lat = offset_point(net, "X002", 1500, 6, "left")
    with session_scope() as s:
        officer = get_user(s, "officer")
        inc = field.log_incident(
            s,
            officer,
            {
                "found_at": dt.datetime(2026, 3, 2, 9),
                "type": "materials",
                "lon": lon,
                "lat": lat,
                "party": NAME,
                "party_phone": PHONE,
                "description": DESC,
            },
        )
        ids = [
            s.execute(select(Personnel.id).where(Personnel.name == n)).scalar_one() for n in ("赵磊", "陈静")
        ]
        cases.open_case(s, officer, inc.id, ids)
        return inc.id


def test_one_masking_module_is_used_everywhere():
    assert exports.mask_name is masking.mask_name and exports.mask_phone is masking.mask_phone
    assert exports.can_see_parties is masking.can_see_parties
    assert masking.mask_name(NAME) == "欧***" and masking.mask_phone(PHONE) == "138****5678"
    assert masking.mask_text(DESC, NAME) == "欧***在路边堆放建材 电话138****5678"


def test_map_popups_and_map_files_mask_parties_for_managers(store):
    iid = _incident_with_party(store)
    f = MapFilter(dt.date(2026, 3, 2), dt.date(2026, 3, 2))
    with read_session() as s:
        for who, clear in (("manager", False), ("officer", True)):
            pts = mapdata.incident_points(s, get_user(s, who), f)
            desc = pts.description[pts.ids.tolist().index(iid)]
            assert (NAME in desc and PHONE in desc) is clear, (who, desc)
            if not clear:
                assert desc == masking.mask_text(DESC, NAME)
        html, n = mapdata.standalone_map_html(s, get_user(s, "manager"), store.network(), f)
        assert n >= 1 and NAME not in html and PHONE not in html and "138****5678" in html


def test_cases_page_data_masks_parties_for_managers(store):
    iid = _incident_with_party(store)
    with read_session() as s:
        view = next(v for v in cases.list_cases(s, get_user(s, "manager")) if v.incident_id == iid)
        assert view.incident["party"] == "欧***" and view.incident["party_phone"] == "138****5678"
        assert NAME not in view.incident["description"] and PHONE not in view.incident["description"]
        clear = next(v for v in cases.list_cases(s, get_user(s, "reviewer")) if v.incident_id == iid)
        assert clear.incident["party"] == NAME and clear.incident["party_phone"] == PHONE
