"""hardening: a ledger file (by its SHA-256) is imported once, enforced by the database on every backend

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-29 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dup = (
        op.get_bind()
        .execute(sa.text("SELECT sha256, count(*) FROM import_batches GROUP BY sha256 HAVING count(*) > 1"))
        .first()
    )
    if dup is not None:
        raise RuntimeError(f"import_batches holds the file {dup[0]} {dup[1]} times: resolve before upgrading")
    op.create_index("uq_import_batches_sha256", "import_batches", ["sha256"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_import_batches_sha256", table_name="import_batches")
