"""PostGIS on PostgreSQL, plain longitude/latitude columns everywhere else.

On a PostgreSQL server with the PostGIS extension, migration 0012 adds geometry columns that the database keeps
itself (``GENERATED ALWAYS … STORED`` from the columns the app writes), each with a GiST index:

- ``incidents.geom``: Point, SRID 4326, from ``lon``/``lat``;
- ``road_pieces.geom``: LineString, SRID 4326, from ``geometry_wkb`` (WGS-84 WKB, see ``gis.roads.RoadPiece``);
- ``patrol_track_points.geom``: Point, SRID 4326, from ``lon``/``lat``.

No write path changes and the ORM does not map them: the same models and inserts run on SQLite, on PostgreSQL
without PostGIS (a bureau's server may not have it) and with it. Reads that filter by place use
:func:`in_box`, which compiles to ``geom && ST_MakeEnvelope(…, 4326)`` (the GiST index) where the columns
exist and to ``lon BETWEEN … AND lat BETWEEN …`` elsewhere. Whether they exist is read once per engine, on its
first connection, and set again by the migration that adds or drops them (``dialect.patrol_postgis``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, Engine, and_, event, func, literal, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnClause, ColumnElement
from sqlalchemy.types import UserDefinedType

log = logging.getLogger(__name__)

__all__ = [
    "GEOM_COLUMNS",
    "BadBox",
    "in_box",
    "include_object",
    "parse_bbox",
    "postgis_status",
    "watch",
]

SRID = 4326

#: table → (geometry type, the expression the database computes it from, its GiST index)
GEOM_COLUMNS: dict[str, tuple[str, str, str]] = {
    "incidents": ("Point", f"ST_SetSRID(ST_MakePoint(lon, lat), {SRID})", "ix_incidents_geom"),
    # stored by services.roads.import_roads from gis.roads.RoadPiece.geometry: a 2-D WGS-84 LineString
    "road_pieces": (
        "LineString",
        f"ST_Force2D(ST_GeomFromWKB(geometry_wkb, {SRID}))",
        "ix_road_pieces_geom",
    ),
    "patrol_track_points": (
        "Point",
        f"ST_SetSRID(ST_MakePoint(lon, lat), {SRID})",
        "ix_patrol_track_points_geom",
    ),
}
#: tables the PostGIS extension itself creates in the store's schema (not the app's)
POSTGIS_TABLES = frozenset({"spatial_ref_sys"})


class Geometry(UserDefinedType[Any]):
    """PostGIS ``geometry`` as PostgreSQL's reflection names it (so that comparing the schema with the models
    reads it without a warning); never written through the ORM."""

    cache_ok = True

    def __init__(self, *args: Any, **kw: Any) -> None:  # reflection passes the type's modifiers (Point,4326)
        self.modifiers = args

    def get_col_spec(self, **kw: Any) -> str:
        return "geometry"


def _register_type() -> None:
    """PostgreSQL's reflection reads ``geometry`` as :class:`Geometry` (registered with the first PostgreSQL
    engine: importing the dialect costs a SQLite store's commands start-up time)."""
    from sqlalchemy.dialects.postgresql.base import ischema_names

    ischema_names.setdefault("geometry", Geometry)


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic autogenerate's filter: the PostGIS columns, their indexes and the extension's own table are the
    migration's and the extension's, not the models' (they exist only where PostGIS does)."""
    if type_ == "column" and name == "geom" and getattr(obj.table, "name", None) in GEOM_COLUMNS:
        return False
    if type_ == "index" and name in {ix for _, _, ix in GEOM_COLUMNS.values()}:
        return False
    return not (type_ == "table" and name in POSTGIS_TABLES and reflected and compare_to is None)


# --- which engines have it ---------------------------------------------------------------------------------

_HAS_GEOM = (
    "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('incidents') "
    "AND attname = 'geom' AND NOT attisdropped)"
)


def has_geom(conn: Any) -> bool:
    """The store's incidents carry the PostGIS column (a SQLAlchemy connection on PostgreSQL)."""
    return bool(conn.execute(text(_HAS_GEOM)).scalar())


def set_in_use(dialect: Any, in_use: bool) -> None:
    dialect.patrol_postgis = in_use


def watch(engine: Engine) -> None:
    """Read, on the engine's first connection, whether the store has the PostGIS columns."""
    if engine.dialect.name != "postgresql":
        return
    _register_type()
    dialect = engine.dialect

    def first(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute(_HAS_GEOM)
            found = bool(cur.fetchone()[0])
        finally:
            cur.close()
            dbapi_conn.rollback()
        set_in_use(dialect, found)

    event.listen(engine, "first_connect", first)


def in_use(dialect: Any) -> bool:
    return bool(getattr(dialect, "patrol_postgis", False))


def postgis_status(url: str) -> str:
    """What ``patrol info`` says: ``sqlite`` (not used), ``in_use`` (PostGIS columns present), ``available``
    (the server has the extension; the store does not use it yet: ``patrol db upgrade``), ``absent`` (the
    server lacks it) or ``unknown`` (the database does not answer)."""
    if not url.startswith("postgresql"):
        return "sqlite"
    from sqlalchemy.exc import SQLAlchemyError

    from patrol_app.storage.db import get_engine

    try:
        with get_engine(url).connect() as conn:
            if has_geom(conn):
                return "in_use"
            return "available" if available(conn) else "absent"
    except SQLAlchemyError:
        return "unknown"


# --- creating it ------------------------------------------------------------------------------------------


def available(conn: Any) -> bool:
    """This PostgreSQL server has the PostGIS extension installed (it may not be created in the store yet)."""
    return bool(
        conn.execute(
            text("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'postgis')")
        ).scalar()
    )


def add(conn: Any) -> bool:
    """Create the extension (when missing) and the geometry columns and indexes; True when the store has them
    afterwards. Without PostGIS on the server, or without the right to create the extension, a warning says so
    and the store keeps its plain columns (the transaction goes on: the attempt runs in a savepoint)."""
    if conn.dialect.name != "postgresql":
        return False
    if has_geom(conn):
        set_in_use(conn.dialect, True)
        return True
    if not available(conn):
        log.warning(
            "PostGIS is not installed on this PostgreSQL server: the store keeps plain longitude/latitude "
            "columns (maps and filters work, without spatial indexes). To use it, install the server's PostGIS "
            "package (Debian: postgresql-<major>-postgis-3) and run `patrol db upgrade` again."
        )
        return False
    from sqlalchemy.exc import DBAPIError

    try:
        with conn.begin_nested():
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    except DBAPIError as exc:
        log.warning(
            "PostGIS is installed on this server but could not be created in the store (%s): the store keeps "
            "plain longitude/latitude columns. Have a superuser run `CREATE EXTENSION postgis;` in the "
            "database, then `patrol db upgrade` again.",
            str(getattr(exc, "orig", exc)).splitlines()[0],
        )
        return False
    for table, (kind, expr, index) in GEOM_COLUMNS.items():
        conn.execute(
            text(
                f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS geom geometry({kind}, {SRID}) "
                f"GENERATED ALWAYS AS ({expr}) STORED"
            )
        )
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {index} ON {table} USING gist (geom)"))
    set_in_use(conn.dialect, True)
    return True


def drop(conn: Any) -> None:
    """Drop the geometry columns and their indexes (the extension stays: it may serve others)."""
    if conn.dialect.name != "postgresql":
        return
    for table, (_, _, index) in GEOM_COLUMNS.items():
        conn.execute(text(f"DROP INDEX IF EXISTS {index}"))
        conn.execute(text(f"ALTER TABLE {table} DROP COLUMN IF EXISTS geom"))
    set_in_use(conn.dialect, False)


# --- reading with it --------------------------------------------------------------------------------------


class BadBox(ValueError):
    """A bounding box that cannot be read: ``key`` is the message's catalog key."""

    def __init__(self, key: str, value: str) -> None:
        super().__init__(f"{key}: {value!r}")
        self.key = key
        self.value = value


def parse_bbox(value: str) -> tuple[float, float, float, float]:
    """``W,S,E,N`` (WGS-84 degrees: west, south, east, north) → a tuple; BadBox naming what is wrong."""
    import unicodedata

    shown = value[:80]
    parts = [p.strip() for p in unicodedata.normalize("NFKC", value).replace("，", ",").split(",")]
    if len(parts) != 4:
        raise BadBox("bbox.bad_count", shown)
    try:
        w, s, e, n = (float(p) for p in parts)
    except ValueError:
        raise BadBox("bbox.bad_number", shown) from None
    return check_bbox((w, s, e, n), shown)


def check_bbox(box: Sequence[float], shown: str = "") -> tuple[float, float, float, float]:
    """A box given as numbers, checked as :func:`parse_bbox` checks text; BadBox naming what is wrong."""
    shown = shown or ",".join(str(v) for v in box)
    if len(box) != 4:
        raise BadBox("bbox.bad_count", shown)
    w, s, e, n = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise BadBox("bbox.bad_number", shown)
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
        raise BadBox("bbox.out_of_range", shown)
    if w >= e or s >= n:
        raise BadBox("bbox.inverted", shown)
    return (w, s, e, n)


class _InBox(ColumnElement[bool]):
    """``lon``/``lat`` (a table's columns) within a box; see :func:`in_box`. Compiled per database, and not
    cached: whether the store has PostGIS is read from the dialect when the statement is compiled."""

    inherit_cache = False
    type = Boolean()

    def __init__(self, lon: Any, lat: Any, box: tuple[float, float, float, float]) -> None:
        self.lon = getattr(lon, "expression", lon)
        self.lat = getattr(lat, "expression", lat)
        self.box = box

    def plain(self) -> ColumnElement[bool]:
        w, s, e, n = self.box
        return and_(self.lon.between(w, e), self.lat.between(s, n))

    @property
    def _from_objects(self) -> list[Any]:
        return [self.lon.table]


@compiles(_InBox)
def _compile_plain(element: _InBox, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.plain(), **kw))


@compiles(_InBox, "postgresql")
def _compile_pg(element: _InBox, compiler: Any, **kw: Any) -> str:
    if not in_use(compiler.dialect):
        return _compile_plain(element, compiler, **kw)
    geom = ColumnClause("geom", type_=Geometry(), _selectable=element.lon.table)
    envelope = func.ST_MakeEnvelope(*(literal(v) for v in element.box), literal(SRID))
    return str(compiler.process(geom.op("&&")(envelope), **kw))


def in_box(lon: Any, lat: Any, box: tuple[float, float, float, float]) -> ColumnElement[bool]:
    """WHERE term: the point (``lon``, ``lat``: columns of one of :data:`GEOM_COLUMNS`' point tables) lies in
    ``box`` (west, south, east, north; edges included). ``geom && ST_MakeEnvelope(…)`` on a PostGIS store
    (its GiST index), ``lon BETWEEN … AND lat BETWEEN …`` elsewhere: the same rows."""
    return _InBox(lon, lat, box)
