"""PostGIS on PostgreSQL (migration 0012, ``patrol_app.storage.spatial``): generated geometry columns with GiST
indexes, the bounding-box filter on both databases, and the store without PostGIS (an account that may not
create the extension)."""

from __future__ import annotations

import contextlib
import json
import os
import uuid

import pytest
import shapely
from sqlalchemy import create_engine, select, text

from patrol_app.services import field
from patrol_app.services.mapdata import MapFilter, incident_count
from patrol_app.services.record_filter import RecordFilter
from patrol_app.services.users import cli_actor, get_user
from patrol_app.storage import db, spatial
from patrol_app.storage.migrate import alembic_config, upgrade
from patrol_app.storage.models import Incident
from tests.conftest import pg_admin_url, postgres_demo_store, run_patrol_process

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg():
    # the demo of today, as the SQLite demo template (tests.conftest) holds it: the same records on both
    with postgres_demo_store("gis", None) as url:
        yield url


@contextlib.contextmanager
def empty_database(owner: str | None = None):  # type: ignore[no-untyped-def]
    """A fresh empty database on the test server (owned by ``owner``, a role made for it, when given); its URL
    (as that role)."""
    admin_url = pg_admin_url()
    name = f"gis_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        if owner:
            c.execute(text(f'CREATE ROLE "{owner}" LOGIN'))
            c.execute(text(f'CREATE DATABASE "{name}" OWNER "{owner}"'))
        else:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    base = admin_url.rsplit("/", 1)[0]
    if owner:
        base = base.replace("//patrol@", f"//{owner}@")
    url = base + "/" + name
    try:
        yield url
    finally:
        db.get_engine(url).dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if owner:
                c.execute(text(f'DROP ROLE IF EXISTS "{owner}"'))
        admin.dispose()


def _geom_columns(conn) -> dict[str, str]:  # type: ignore[no-untyped-def]
    rows = conn.execute(
        text(
            "SELECT f_table_name, type || ',' || srid FROM geometry_columns "
            "WHERE f_table_schema = current_schema() AND f_geometry_column = 'geom'"
        )
    ).all()
    return dict(rows)


def _gist_indexes(conn) -> dict[str, str]:  # type: ignore[no-untyped-def]
    rows = conn.execute(
        text(
            "SELECT indexname, tablename FROM pg_indexes WHERE schemaname = current_schema() "
            "AND indexdef LIKE '%USING gist (geom)%'"
        )
    ).all()
    return dict(rows)


def test_upgrade_adds_generated_geometry_with_gist_indexes(pg):
    with db.get_engine(pg).connect() as conn:
        assert _geom_columns(conn) == {
            "incidents": "POINT,4326",
            "road_pieces": "LINESTRING,4326",
            "patrol_track_points": "POINT,4326",
        }
        assert _gist_indexes(conn) == {
            "ix_incidents_geom": "incidents",
            "ix_road_pieces_geom": "road_pieces",
            "ix_patrol_track_points_geom": "patrol_track_points",
        }
        # every geometry is the row's own position, kept by the database
        for table in ("incidents", "patrol_track_points"):
            n, same = conn.execute(
                text(
                    f"SELECT count(*), count(*) FILTER (WHERE ST_X(geom) = lon AND ST_Y(geom) = lat) FROM {table}"
                )
            ).one()
            assert n == same and (table != "incidents" or n > 100)
        rows = conn.execute(text("SELECT geometry_wkb, ST_AsBinary(geom) FROM road_pieces")).all()
        assert len(rows) > 10
        for wkb, geom in rows:
            assert shapely.equals_exact(shapely.from_wkb(bytes(wkb)), shapely.from_wkb(bytes(geom)), 0)
    assert spatial.postgis_status(pg) == "in_use"


def test_geometry_follows_every_write(pg):
    """No write path changes: an incident moved by the ORM has its geometry moved by the database."""
    with db.session_scope(pg) as s:
        inc = s.execute(select(Incident).order_by(Incident.id).limit(1)).scalar_one()
        was = (inc.lon, inc.lat)
        inc.lon, inc.lat = inc.lon + 0.001, inc.lat - 0.001
        iid, lon, lat = inc.id, inc.lon, inc.lat
    with db.get_engine(pg).connect() as conn:
        x, y = conn.execute(
            text("SELECT ST_X(geom), ST_Y(geom) FROM incidents WHERE id = :i"), {"i": iid}
        ).one()
    assert (x, y) == (lon, lat)
    with db.session_scope(pg) as s:  # back where it was: the other tests compare the demo's records
        inc = s.get(Incident, iid)
        inc.lon, inc.lat = was


def _ids(session, f: RecordFilter) -> list[int]:  # type: ignore[no-untyped-def]
    return list(
        session.execute(select(Incident.id).where(*f.incident_conditions()).order_by(Incident.id)).scalars()
    )


def test_bbox_filter_uses_the_gist_index(pg):
    f = RecordFilter(bbox=(103.7, 25.4, 103.9, 25.6))
    stmt = select(Incident.id).where(*f.incident_conditions())
    engine = db.get_engine(pg)
    sql = str(stmt.compile(engine))
    assert "incidents.geom && ST_MakeEnvelope(" in sql and "BETWEEN" not in sql
    with engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))  # the demo's table is small: prove the index usable
        sql = str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))
        plan = "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
    assert "ix_incidents_geom" in plan, plan


def test_bbox_gives_the_same_ids_on_sqlite_and_postgresql(pg, store):
    with db.read_session(store.url) as lite, db.read_session(pg) as post:
        rows = select(Incident.id, Incident.lon, Incident.lat).order_by(Incident.id)
        points = lite.execute(rows).all()
        assert [tuple(r) for r in points] == [tuple(r) for r in post.execute(rows).all()]  # the same records
        assert "&&" in str(
            select(Incident.id)
            .where(*RecordFilter(bbox=(0, 0, 1, 1)).incident_conditions())
            .compile(post.get_bind())
        )
        lons = sorted(p.lon for p in points)
        lats = sorted(p.lat for p in points)
        q = len(points) // 4
        boxes = [
            (lons[q], lats[q], lons[3 * q], lats[3 * q]),  # a point on each edge: edges are included
            (lons[0], lats[0], lons[q], lats[-1]),
            (lons[0] - 1, lats[0] - 1, lons[-1] + 1, lats[-1] + 1),  # everything
            (lons[-1] + 0.1, lats[0], lons[-1] + 0.2, lats[-1]),  # nothing
        ]
        for box in boxes:
            f = RecordFilter(bbox=box)
            expect = sorted(p.id for p in points if box[0] <= p.lon <= box[2] and box[1] <= p.lat <= box[3])
            assert _ids(lite, f) == _ids(post, f) == expect
        assert 0 < len(_ids(post, RecordFilter(bbox=boxes[0]))) < len(points)
        # through the services too: the map's count and the API's incident list
        for s in (lite, post):
            actor = cli_actor(s)
            assert incident_count(s, actor, MapFilter(bbox=boxes[0])) == len(
                _ids(s, RecordFilter(bbox=boxes[0]))
            )
            page = field.incidents_page(s, get_user(s, "manager"), bbox=boxes[1], limit=100_000)
            assert [r.id for r in page] == _ids(s, RecordFilter(bbox=boxes[1]))


def test_nearby_incidents_use_the_index_and_agree_with_sqlite(pg, store):
    with db.read_session(store.url) as lite, db.read_session(pg) as post:
        inc = (
            lite.execute(select(Incident).where(Incident.status == "open").order_by(Incident.id))
            .scalars()
            .first()
        )
        near = (inc.lon + 0.0003, inc.lat)
        got = []
        for s in (lite, post):
            rows = field.open_incidents(s, get_user(s, "officer"), order="distance", near=near, limit=30)
            got.append([(r.id, round(d, 3)) for r, d in rows])
        assert got[0] == got[1] and got[0][0][0] == inc.id


def test_patrol_info_and_map_on_postgis(pg, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PATROL_") or k == "PATROL_AUDIT_KEY"}
    env.update(PATROL_DB_URL=pg, PATROL_DATA_DIR=str(tmp_path), PATROL_LANG="en")
    p = run_patrol_process(["info", "--json"], env)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["postgis"] == "in_use"
    p = run_patrol_process(["info"], env)
    assert "PostGIS" in p.stdout and "in use" in p.stdout
    with db.read_session(pg) as s:
        expect = len(_ids(s, RecordFilter(bbox=(103.0, 25.0, 103.8, 26.0))))
    p = run_patrol_process(["map", "--bbox", "103.0,25.0,103.8,26.0", "--out", tmp_path / "m.html"], env)
    assert p.returncode == 0, p.stderr
    assert f": {expect} incidents (" in p.stdout and "Area: longitude 103.0–103.8" in p.stdout, p.stdout


def test_downgrade_drops_the_columns_and_upgrade_brings_them_back():
    from alembic import command

    with empty_database() as url:
        upgrade(url)
        engine = db.get_engine(url)
        cfg = alembic_config(url)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0011")
        with engine.connect() as conn:
            assert _gist_indexes(conn) == {}
            assert not spatial.has_geom(conn)
            assert "BETWEEN" in str(
                select(Incident.id)
                .where(*RecordFilter(bbox=(0, 0, 1, 1)).incident_conditions())
                .compile(conn)
            )
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        with engine.connect() as conn:
            assert set(_gist_indexes(conn)) == {ix for _, _, ix in spatial.GEOM_COLUMNS.values()}
        assert spatial.postgis_status(url) == "in_use"


def test_without_the_right_to_create_postgis_the_store_keeps_plain_columns(caplog, tmp_path):
    """A bureau's database account that may not create the extension (PostGIS is not a trusted extension):
    the migration warns, the store works on plain columns, bbox reads use BETWEEN; ``patrol info`` says so."""
    role = f"clerk_{uuid.uuid4().hex[:6]}"
    with empty_database(owner=role) as url:
        with caplog.at_level("WARNING", logger="patrol_app.storage.spatial"):
            upgrade(url)
        assert any("CREATE EXTENSION postgis" in r.getMessage() for r in caplog.records)
        engine = db.get_engine(url)
        with engine.connect() as conn:
            assert not spatial.has_geom(conn)
            assert not conn.execute(
                text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname='postgis')")
            ).scalar()
        assert spatial.postgis_status(url) == "available"
        with db.read_session(url) as s:
            assert _ids(s, RecordFilter(bbox=(103.0, 25.0, 104.0, 26.0))) == []
        env = {k: v for k, v in os.environ.items() if not k.startswith("PATROL_") or k == "PATROL_AUDIT_KEY"}
        env.update(PATROL_DB_URL=url, PATROL_DATA_DIR=str(tmp_path), PATROL_LANG="en")
        p = run_patrol_process(["info"], env)
        assert "run patrol db upgrade" in p.stdout, p.stdout
        # the server's superuser creates the extension (README); `patrol db upgrade` then adds the columns
        admin = create_engine(pg_admin_url().rsplit("/", 1)[0] + "/" + url.rsplit("/", 1)[1])
        with admin.begin() as conn:
            conn.execute(text("CREATE EXTENSION postgis"))
        admin.dispose()
        p = run_patrol_process(["db", "upgrade"], env)
        assert p.returncode == 0, p.stderr
        assert spatial.postgis_status(url) == "in_use"
        with engine.connect() as conn:
            assert set(_gist_indexes(conn)) == {ix for _, _, ix in spatial.GEOM_COLUMNS.values()}
