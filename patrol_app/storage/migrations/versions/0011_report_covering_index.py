"""report covering index: the yearly figures' incident scans read one narrow index, not the table

Revision ID: 0011
Revises: 0010

The report's two GROUP BY scans of a period's incidents need only ``found_at`` and a few short columns. An index
on ``found_at`` holding those columns too answers both without reading a single table row (SQLite: "USING
COVERING INDEX"; PostgreSQL: an index-only scan once the table is vacuumed), whatever share of the table the
period holds. Every read is scoped to a county (or a city's counties), so the index leads with ``adcode``, then
the date: it replaces ``ix_incidents_adcode_found`` (0010), its prefix.
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = ["adcode", "found_at", "type_code", "road_code", "status", "zone", "town", "measure"]


def upgrade() -> None:
    op.create_index("ix_incidents_report", "incidents", COLUMNS)
    op.drop_index("ix_incidents_adcode_found", table_name="incidents")


def downgrade() -> None:
    op.create_index("ix_incidents_adcode_found", "incidents", ["adcode", "found_at"])
    op.drop_index("ix_incidents_report", table_name="incidents")
