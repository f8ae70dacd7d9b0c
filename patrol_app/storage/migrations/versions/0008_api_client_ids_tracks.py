"""JSON API: client-generated ids on patrols and incidents; patrol tracks and the road coverage they give

Revision ID: 0008
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patrols", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("km_method", sa.String(length=8), nullable=True))
        batch_op.create_index("ix_patrols_client_id", ["client_id"], unique=True)
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_id", sa.String(length=36), nullable=True))
        batch_op.create_index("ix_incidents_client_id", ["client_id"], unique=True)
    op.create_table(
        "patrol_track_points",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patrol_id", sa.Integer(), nullable=False),
        sa.Column("seg", sa.Integer(), nullable=False),
        sa.Column("t", sa.DateTime(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("accuracy_m", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(["patrol_id"], ["patrols.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_patrol_track_points_patrol_id", "patrol_track_points", ["patrol_id"])
    op.create_table(
        "patrol_track_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patrol_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["patrol_id"], ["patrols.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patrol_id", "batch_id", name="uq_patrol_track_batch"),
    )
    op.create_table(
        "patrol_tracks",
        sa.Column("patrol_id", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("km", sa.Float(), nullable=False),
        sa.Column("line", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["patrol_id"], ["patrols.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("patrol_id"),
    )
    op.create_table(
        "patrol_coverage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patrol_id", sa.Integer(), nullable=False),
        sa.Column("road_code", sa.String(length=16), nullable=False),
        sa.Column("from_m", sa.Float(), nullable=False),
        sa.Column("to_m", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["patrol_id"], ["patrols.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_patrol_coverage_patrol_id", "patrol_coverage", ["patrol_id"])
    op.create_index("ix_patrol_coverage_road_code", "patrol_coverage", ["road_code"])


def downgrade() -> None:
    op.drop_index("ix_patrol_coverage_road_code", table_name="patrol_coverage")
    op.drop_index("ix_patrol_coverage_patrol_id", table_name="patrol_coverage")
    op.drop_table("patrol_coverage")
    op.drop_table("patrol_tracks")
    op.drop_table("patrol_track_batches")
    op.drop_index("ix_patrol_track_points_patrol_id", table_name="patrol_track_points")
    op.drop_table("patrol_track_points")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_client_id")
        batch_op.drop_column("client_id")
    with op.batch_alter_table("patrols", schema=None) as batch_op:
        batch_op.drop_index("ix_patrols_client_id")
        batch_op.drop_column("km_method")
        batch_op.drop_column("client_id")
