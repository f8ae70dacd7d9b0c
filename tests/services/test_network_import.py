"""Replacing the road network from a file (the 路网 page's services), per-road half road-land width and published
control lines. Real files (GeoJSON, zipped Shapefile with Chinese field names) against a copy of the demo store."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import LineString
from sqlalchemy import select

from gis.errors import RoadFileError
from gis.linref import locate, offset_point
from gis.roads import parse_features, pieces_from_features, propose_mapping
from patrol_app.demo import DEMO_ROADS_FILE
from patrol_app.i18n import position_text
from patrol_app.services import network_import as ni
from patrol_app.services import roads as road_service
from patrol_app.services.errors import PermissionDenied, ServiceError
from patrol_app.services.users import get_user
from patrol_app.storage.db import read_session, session_scope
from patrol_app.storage.models import AuditEntry, Incident

CLASS_ZH = {"national": "国道", "provincial": "省道", "county": "县道", "township": "乡道", "village": "村道"}


def demo_features() -> list[dict]:
    return json.loads(Path(DEMO_ROADS_FILE).read_text(encoding="utf-8"))["features"]


def chinese(features: list[dict]) -> dict:
    """The demo features with Chinese field names, as a county's GIS office hands them over."""
    out = []
    for f in features:
        p = f["properties"]
        out.append(
            {
                "type": "Feature",
                "geometry": f["geometry"],
                "properties": {
                    "路线编号": p["code"],
                    "路线名称": p["name"],
                    "行政等级": CLASS_ZH[p["class"]],
                    "起点桩号": p.get("start_stake") or "",
                    "用地半宽": p.get("half_road_land_m"),
                    "备注": "x",
                },
            }
        )
    return {"type": "FeatureCollection", "features": out}


def write_geojson(path: Path, fc: dict) -> Path:
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return path


def zipped_shapefile(tmp: Path, fc: dict, name: str = "路网") -> Path:
    gdf = gpd.GeoDataFrame.from_features(fc["features"], crs="EPSG:4326")
    folder = tmp / "shp"
    folder.mkdir()
    # GBK, as Chinese GIS software writes them (and 路线编号 fits the 10-byte field-name limit only so)
    gdf.to_file(folder / f"{name}.shp", encoding="GBK", engine="pyogrio")
    z = tmp / f"{name}.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in folder.iterdir():
            zf.write(p, p.name)
    return z


def admin(s):  # type: ignore[no-untyped-def]
    return get_user(s, "admin")


def incidents_by_road(code: str) -> set[int]:
    with read_session() as s:
        return set(s.execute(select(Incident.id).where(Incident.road_code == code)).scalars())


# --- field recognition and problems (gis, shared with `patrol roads import`) --------------------------------


def test_mapping_recognises_chinese_names_and_takes_overrides():
    m = propose_mapping(["路线编号", "路线名称", "行政等级", "起点桩号", "公路用地半宽", "备注"])
    assert m == {
        "code": "路线编号",
        "name": "路线名称",
        "class": "行政等级",
        "start": "起点桩号",
        "half": "公路用地半宽",
        "county": None,
    }
    assert propose_mapping(["ROUTE", "备注"], code="ROUTE")["code"] == "ROUTE"
    with pytest.raises(RoadFileError, match="not found"):
        propose_mapping(["a"], code="b")


def test_every_problem_of_a_file_is_found():
    ok = LineString([(103.80, 25.50), (103.81, 25.50)])
    far = LineString([(103.95, 25.60), (103.96, 25.60)])  # ~15 km from the other X101 piece
    cross = LineString([(103.80, 25.52), (103.82, 25.53), (103.82, 25.52), (103.80, 25.53)])
    feats = [
        (ok, {"code": "X101", "class": ""}),
        (far, {"code": "X101", "class": ""}),
        (ok, {"code": "", "class": ""}),  # missing code
        (ok, {"code": "Q12", "class": ""}),  # bad code
        (
            ok,
            {"code": "X102", "class": "机耕道"},
        ),  # unknown class (高速 is a class since the expressway rule)
        (LineString([(103.8, 25.5), (103.8, 25.5)]), {"code": "X103", "class": ""}),  # zero length
        (cross, {"code": "Y104", "class": ""}),  # self-crossing
    ]
    pieces, problems = parse_features(feats, propose_mapping(["code", "class"]))
    kinds = [(p.feature, p.kind, p.error) for p in problems]
    assert (3, "missing_code", True) in kinds and (4, "bad_code", True) in kinds
    assert (5, "unknown_class", True) in kinds and (6, "zero_length", True) in kinds
    assert (7, "self_crossing", False) in kinds
    assert {(f, k) for f, k, e in kinds if k == "far_piece"} == {(1, "far_piece"), (2, "far_piece")}
    assert sorted(p.code for p in pieces) == ["X101", "X101", "Y104"]  # warnings keep their pieces
    with pytest.raises(RoadFileError) as exc:  # the command line refuses the file, naming every bad feature
        pieces_from_features(feats)
    for i in (3, 4, 5, 6):
        assert f"feature {i}:" in str(exc.value)


# --- preview and confirm -----------------------------------------------------------------------------------


def test_zipped_shapefile_with_chinese_fields_previews_and_diffs(store, tmp_path):
    feats = demo_features()
    removed = (
        "Y012" if any(f["properties"]["code"] == "Y012" for f in feats) else feats[-1]["properties"]["code"]
    )
    restaked = "X002"
    kept = [f for f in feats if f["properties"]["code"] != removed]
    for f in kept:
        if f["properties"]["code"] == restaked:
            f["properties"]["start_stake"] = "K2+000"
    fc = chinese(kept)
    far_away = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[104.9, 26.4], [104.92, 26.41]]},
        "properties": {
            "路线编号": "X901",
            "路线名称": "新建公路",
            "行政等级": "县道",
            "起点桩号": "",
            "用地半宽": 9.0,
            "备注": "",
        },
    }
    fc["features"].append(far_away)
    path = zipped_shapefile(tmp_path, fc)
    rf = ni.read_road_upload(path)
    mapping = ni.proposed_mapping(rf)
    assert mapping["code"] == "路线编号" and mapping["class"] == "行政等级" and mapping["start"] == "起点桩号"
    before = store.counts()
    with read_session() as s:
        pv = ni.preview_network(s, admin(s), rf, mapping)
    assert store.counts() == before  # a preview writes nothing
    assert not pv.errors
    changes = {c.code: c for c in pv.changes}
    assert changes["X901"].change == "added" and changes[removed].change == "removed"
    assert changes[restaked].change == "changed" and changes[restaked].new_stakes.startswith("K2+000")
    assert changes["X001"].change == "same"
    moved = {r.incident_id for r in pv.relocations}
    assert moved == incidents_by_road(removed) | incidents_by_road(restaked)
    assert pv.incidents_checked == before_incidents(store)


def before_incidents(store) -> int:  # type: ignore[no-untyped-def]
    return store.counts(("incidents",))["incidents"]


def test_changed_mapping_changes_the_preview(store, tmp_path):
    fc = chinese(demo_features())
    for f in fc["features"]:
        f["properties"]["编码"] = f["properties"].pop("路线编号")
    rf = ni.read_road_upload(write_geojson(tmp_path / "roads.geojson", fc))
    mapping = ni.proposed_mapping(rf)
    assert mapping["code"] is None  # 编码 is not a recognised name: the user picks it
    with read_session() as s:
        with pytest.raises(ServiceError, match="code_field_required"):
            ni.preview_network(s, admin(s), rf, mapping)
        pv = ni.preview_network(s, admin(s), rf, {**mapping, "code": "编码"})
        # the same network: only incidents recorded on another road than the nearest one (at a junction) differ
        baseline, _ = ni.relocations(s, admin(s), None, store.network())
    assert pv.count("same") == len(store.network().codes)
    assert [r.incident_id for r in pv.relocations] == [r.incident_id for r in baseline]
    assert len(baseline) < 5


def test_confirm_replaces_the_network_in_one_audited_transaction(store, tmp_path):
    feats = [f for f in demo_features() if f["properties"]["code"] != "X003"]
    fc = chinese(feats)
    fc["features"].append(
        {
            "type": "Feature",
            "geometry": None,
            "properties": {
                "路线编号": "X950",
                "路线名称": "",
                "行政等级": "县道",
                "起点桩号": "",
                "用地半宽": None,
                "备注": "",
            },
        }
    )
    rf = ni.read_road_upload(write_geojson(tmp_path / "roads.geojson", fc))
    stakes_before = {i: s_ for i, s_ in _stakes()}
    with read_session() as s:
        pv = ni.preview_network(s, admin(s), rf, ni.proposed_mapping(rf))
    assert [p.kind for p in pv.errors] == ["empty_geometry"]
    with session_scope() as s, pytest.raises(ServiceError, match="has_errors"):
        ni.confirm_network(s, admin(s), pv)
    with session_scope() as s, pytest.raises(PermissionDenied):
        ni.confirm_network(s, get_user(s, "leader"), pv, skip_bad=True)
    assert "X003" in store.network().codes
    with session_scope() as s:
        res = ni.confirm_network(s, admin(s), pv, skip_bad=True)
    assert res["relocated"] == len(pv.relocations) > 0
    assert "X003" not in store.network().codes and "X950" not in store.network().codes
    assert dict(_stakes()) == stakes_before  # incidents keep their recorded stakes
    with read_session() as s:
        actions = [a for (a,) in s.execute(select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(2))]
    assert actions == ["roads.replace", "roads.import"]


def _stakes():  # type: ignore[no-untyped-def]
    with read_session() as s:
        return s.execute(select(Incident.id, Incident.stake).order_by(Incident.id)).all()


def test_unreadable_and_wrong_files_are_refused_by_name(tmp_path):
    bad = tmp_path / "路网.geojson"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ServiceError) as exc:
        ni.read_road_upload(bad)
    assert exc.value.key == "roads.error.unreadable" and exc.value.params["file"] == "路网.geojson"
    with pytest.raises(ServiceError, match="roads.error.format"):
        ni.read_road_upload(tmp_path / "roads.kml")


# --- half road-land width and published control lines ---------------------------------------------------------


def _position(store, lon, lat):  # type: ignore[no-untyped-def]
    return locate(store.network(), lon, lat)


def test_half_width_set_in_the_app_drives_verdicts(store):
    net = store.network()
    lon, lat = offset_point(net, "X002", 3000.0, 15.0, "left")
    assert _position(store, lon, lat).zone == "control_zone"  # X002's file gives 12 m of half road land
    with session_scope() as s:
        road_service.set_half_width(s, admin(s), "X002", 16.0)
    p = _position(store, lon, lat)
    assert p.zone == "road_land" and p.half_road_land_m == 16.0 and not p.half_road_land_assumed
    with session_scope() as s:
        with pytest.raises(ServiceError, match="bad_width"):
            road_service.set_half_width(s, admin(s), "X002", -1)
    with session_scope() as s:
        road_service.set_half_width(s, admin(s), "X002", None)
    assert _position(store, lon, lat).zone == "control_zone"
    with read_session() as s:
        assert (
            s.execute(select(AuditEntry.action).order_by(AuditEntry.id.desc()).limit(1)).scalar()
            == "roads.half_width"
        )


def test_published_control_line_prevails_in_its_stake_range_and_says_so(store):
    import datetime as dt

    net = store.network()
    inside = offset_point(net, "X002", 3000.0, 25.0, "right")
    beyond = offset_point(net, "X002", 6000.0, 25.0, "right")
    assert _position(store, *inside).zone == "outside"  # county road: 10 m beyond road land
    with session_scope() as s:
        line_id = road_service.add_control_line(
            s, admin(s), "X002", "K2+000", "K4+500", 30.0, "麒政发〔2024〕12号", dt.date(2024, 5, 6)
        )
    p = _position(store, *inside)
    assert p.zone == "control_zone" and p.in_control_zone and p.control_line_m == 30.0
    assert p.published_doc == "麒政发〔2024〕12号" and "第十二条" in p.legal_basis
    text = position_text(p, "zh")
    assert "麒政发〔2024〕12号" in text and "2024-05-06" in text and "在建筑控制区内" in text
    assert _position(store, *beyond).zone == "outside" and not _position(store, *beyond).published_doc
    with session_scope() as s:
        road_service.withdraw_control_line(s, admin(s), line_id)
    assert _position(store, *inside).zone == "outside"


@pytest.mark.parametrize(
    "args,key",
    [
        (("K4+000", "K2+000", 30.0, "A号"), "roads.error.bad_range"),
        (("K2+000", "K4+000", 5.0, "A号"), "roads.error.bad_line"),
        (("K2+000", "K4+000", 30.0, " "), "roads.error.doc_required"),
        (("K2+000", "K999+000", 30.0, "A号"), "error.stake_out_of_range"),
        (("K2+", "K4+000", 30.0, "A号"), "error.stake_format"),
    ],
)
def test_control_line_refusals_name_the_problem(store, args, key):
    import datetime as dt

    with session_scope() as s:
        with pytest.raises(ServiceError) as exc:
            road_service.add_control_line(s, admin(s), "X002", *args, dt.date(2024, 1, 1))
    assert exc.value.key == key


def test_no_control_line_on_a_village_road(store):
    """条例 第十一条 gives village roads no building control zone: no published line is recorded for one."""
    import datetime as dt

    from gis.roads import RoadPiece

    piece = RoadPiece("C901", LineString([(103.80, 25.50), (103.81, 25.50)]), "村道", "village")
    with session_scope() as s:
        road_service.import_roads(s, admin(s), [piece], source="test")
    with session_scope() as s:
        with pytest.raises(ServiceError) as exc:
            road_service.add_control_line(
                s, admin(s), "C901", "K0+000", "K0+500", 20.0, "A号", dt.date(2024, 1, 1)
            )
    assert exc.value.key == "roads.error.no_statutory_zone"


def test_ledger_incidents_use_the_published_line(store, tmp_path):
    import datetime as dt

    from patrol_app.services.records import import_ledger

    net = store.network()
    lon, lat = offset_point(net, "X002", 3000.0, 25.0, "right")
    with session_scope() as s:
        road_service.add_control_line(
            s, admin(s), "X002", "K2+000", "K4+500", 30.0, "A号", dt.date(2024, 5, 6)
        )
    csv = tmp_path / "问题.csv"
    csv.write_text(f"发现时间,违法类型,经度,纬度\n2025-03-05 09:30,堆放物品,{lon},{lat}\n", encoding="utf-8")
    with session_scope() as s:
        res = import_ledger(s, get_user(s, "leader"), csv)
    with read_session() as s:
        inc = s.execute(select(Incident).where(Incident.import_batch_id == res.batch_id)).scalar_one()
    assert inc.zone == "control_zone" and inc.in_control_zone is True
