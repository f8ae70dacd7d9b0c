"""network and ledger imports in the app: per-road settings, published control lines, import jobs, batch rollback

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "road_settings",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("half_road_land_m", sa.Float(), nullable=True),
        sa.Column("updated_by", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "control_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("road_code", sa.String(length=16), nullable=False),
        sa.Column("from_m", sa.Float(), nullable=False),
        sa.Column("to_m", sa.Float(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.Column("doc_no", sa.String(length=128), nullable=False),
        sa.Column("doc_date", sa.Date(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_control_lines_road_code"), "control_lines", ["road_code"], unique=False)
    op.create_table(
        "import_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("rows_total", sa.Integer(), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_validated", sa.Integer(), nullable=False),
        sa.Column("rows_written", sa.Integer(), nullable=False),
        sa.Column("bad_rows", sa.Integer(), nullable=False),
        sa.Column("patrols", sa.Integer(), nullable=False),
        sa.Column("incidents", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_import_jobs_status"), "import_jobs", ["status"], unique=False)
    with op.batch_alter_table("import_batches") as batch_op:
        batch_op.add_column(sa.Column("rolled_back_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("rolled_back_by", sa.Integer(), nullable=True))
    # a rolled-back batch's file may be imported again: the one-import-per-file index (0006) covers live batches
    op.drop_index("uq_import_batches_sha256", table_name="import_batches")
    op.create_index(
        "uq_import_batches_sha256",
        "import_batches",
        ["sha256"],
        unique=True,
        sqlite_where=sa.text("rolled_back_at IS NULL"),
        postgresql_where=sa.text("rolled_back_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_import_batches_sha256", table_name="import_batches")
    op.create_index("uq_import_batches_sha256", "import_batches", ["sha256"], unique=True)
    with op.batch_alter_table("import_batches") as batch_op:
        batch_op.drop_column("rolled_back_by")
        batch_op.drop_column("rolled_back_at")
    op.drop_index(op.f("ix_import_jobs_status"), table_name="import_jobs")
    op.drop_table("import_jobs")
    op.drop_index(op.f("ix_control_lines_road_code"), table_name="control_lines")
    op.drop_table("control_lines")
    op.drop_table("road_settings")
