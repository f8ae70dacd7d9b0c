"""Migration 0005 corrects stored verdicts: road land is not "in the control zone"; village roads have no zone;
historical patrols with fewer than two personnel are flagged, not changed."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from patrol_app.storage.db import get_engine
from patrol_app.storage.migrate import alembic_config


def test_0005_corrects_stored_verdicts_and_flags_small_patrols(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = get_engine(url)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    cols = (
        "found_at, type_code, road_code, chainage_m, stake, side, lon, lat, zone, in_control_zone, "
        "location_method, town, description, party, party_phone, measure, status, source, created_by, created_at"
    )
    row = (
        "'2024-01-01', 'materials', '{road}', 0, 'K0+000', 'left', 103.8, 25.5, '{zone}', {inz}, 'ledger', '', "
        "'', '', '', '', 'open', 'ledger', 1, '2024-01-01'"
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, display_name, role, active, created_at) "
                "VALUES (1, 'cli', 'cli', 'admin', 1, '2024-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO road_pieces (code, name, road_class, county_code, geometry_wkb, source, "
                "imported_at) VALUES ('C001', '', 'village', '', x'00', '', '2024-01-01')"
            )
        )
        for road, zone, inz in (
            ("X001", "road_land", 1),
            ("X001", "control_zone", 1),
            ("C001", "outside", 0),
            ("X001", "unknown", "NULL"),
        ):
            conn.execute(
                text(
                    f"INSERT INTO incidents ({cols}) VALUES ("
                    + row.format(road=road, zone=zone, inz=inz)
                    + ")"
                )
            )
        for n in (1, 3):
            conn.execute(
                text(
                    "INSERT INTO patrols (date, vehicles, personnel, crew, joint, weather, notes, status, "
                    f"source, created_by, created_at) VALUES ('2024-01-01', 1, {n}, '', '', '', '', "
                    "'closed', 'ledger', 1, '2024-01-01')"
                )
            )
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT road_code, zone, in_control_zone FROM incidents ORDER BY id")).all()
        flags = conn.execute(text("SELECT personnel, flags FROM patrols ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [
        ("X001", "road_land", 0),
        ("X001", "control_zone", 1),
        ("C001", "none", 0),
        ("X001", "unknown", None),
    ]
    assert [tuple(r) for r in flags] == [(1, "few_personnel"), (3, "")]
