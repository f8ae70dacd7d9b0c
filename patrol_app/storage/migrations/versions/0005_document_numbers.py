"""document numbers; zone verdict road, 第七十七条 effects and stated basis on incidents; patrol flags;
collective discussion and major-case grounds on cases; verdicts of stored incidents corrected

Revision ID: 0005
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("county_code", sa.String(length=12), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False, server_default=""),
        sa.Column("issued_by", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issued_by"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "county_code", "year", "seq", name="uq_document_numbers_seq"),
        sa.UniqueConstraint("number", name="uq_document_numbers_number"),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("zone_road_code", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("effects", sa.String(length=64), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("basis_note", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("patrols", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flags", sa.String(length=64), nullable=False, server_default=""))
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("major_grounds", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("collective_at", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("collective_participants", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("collective_conclusion", sa.Text(), nullable=False, server_default=""))
    # Stored verdicts under the corrected rules: road land is not "in the control zone"; village roads have
    # no statutory zone. Historical patrols with fewer than two personnel are flagged, not changed.
    op.execute("UPDATE incidents SET in_control_zone = (zone = 'control_zone') WHERE zone <> 'unknown'")
    op.execute(
        "UPDATE incidents SET zone = 'none', in_control_zone = "
        + ("false" if op.get_bind().dialect.name == "postgresql" else "0")
        + " WHERE zone <> 'unknown' AND road_code IN "
        "(SELECT code FROM road_pieces WHERE road_class = 'village')"
    )
    op.execute("UPDATE patrols SET flags = 'few_personnel' WHERE personnel < 2")


def downgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        for c in ("collective_conclusion", "collective_participants", "collective_at", "major_grounds"):
            batch_op.drop_column(c)
    with op.batch_alter_table("patrols", schema=None) as batch_op:
        batch_op.drop_column("flags")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        for c in ("basis_note", "effects", "zone_road_code"):
            batch_op.drop_column(c)
    op.drop_table("document_numbers")
