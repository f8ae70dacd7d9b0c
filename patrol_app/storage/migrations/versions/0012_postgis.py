"""PostGIS on PostgreSQL: geometry columns the database keeps itself, with GiST indexes

Revision ID: 0012
Revises: 0011

On a PostgreSQL server that has the PostGIS extension (``pg_available_extensions``), the extension is created
and ``incidents``, ``road_pieces`` and ``patrol_track_points`` get a ``geom`` column generated from the columns
the app writes (``GENERATED ALWAYS … STORED``: no write path changes), each with a GiST index; bounding-box reads
use it (``patrol_app.storage.spatial``). Without PostGIS on the server a warning says so and the store keeps its
plain longitude/latitude columns; on SQLite nothing changes. The downgrade drops the columns and indexes (the
extension stays: it may serve others).
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from patrol_app.storage import spatial

    spatial.add(op.get_bind())


def downgrade() -> None:
    from patrol_app.storage import spatial

    spatial.drop(op.get_bind())
