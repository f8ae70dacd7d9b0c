"""demo marker on accounts, personnel and vehicles (records already carry source 'demo')

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("users", "personnel", "vehicles")


def upgrade() -> None:
    # a plain ADD COLUMN (SQLite supports it with a constant default): a batch rebuild would drop and recreate
    # tables that other tables' foreign keys point at, which fails on a store that holds records
    for table in TABLES:
        op.add_column(table, sa.Column("demo", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("demo")
