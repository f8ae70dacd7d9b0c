"""several counties in one store: every record and account carries its county (adcode)

Revision ID: 0010
Revises: 0004

Route codes are unique only within a county (X001 exists in every county), so roads, patrols, incidents, people,
vehicles, accounts, import batches and published control lines get an ``adcode`` column (6-digit 区划代码), and a
road's settings are keyed by (adcode, code). An existing single-county store is moved in place: every row gets the
configured county (``PATROL_COUNTY``, default 530302); that stays the column's server default, so a row written
around the app lands in the store's own county. An account's adcode is its scope: a county, a city (530300) or a
province (530000).

The audit trail records each record's state: the upgrade appends one ``county.assigned`` entry per audited record
with its state including the county (and the downgrade one ``county.removed`` entry), so ``patrol audit verify``
still finds every record as the app left it.
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0004"
branch_labels = None
depends_on = None

#: tables that get an ``adcode`` column, and their indexes on it
TABLES = (
    "users",
    "personnel",
    "vehicles",
    "road_pieces",
    "import_batches",
    "patrols",
    "incidents",
    "control_lines",
)
INDEXES = (
    ("ix_users_adcode", "users", ["adcode"]),
    ("ix_personnel_adcode", "personnel", ["adcode"]),
    ("ix_vehicles_adcode", "vehicles", ["adcode"]),
    ("ix_import_batches_adcode", "import_batches", ["adcode"]),
    ("ix_control_lines_adcode", "control_lines", ["adcode"]),
    ("ix_road_pieces_adcode_code", "road_pieces", ["adcode", "code"]),
    ("ix_patrols_adcode_date", "patrols", ["adcode", "date"]),
    ("ix_incidents_adcode_found", "incidents", ["adcode", "found_at"]),
)
#: audited entities whose state now holds the county
ENTITIES = ("incident", "patrol", "personnel", "vehicle", "user", "import_batch", "road_piece")


def _county() -> str:
    from patrol_app.config import get_settings

    county = get_settings().county_code
    if not re.fullmatch(r"\d{6}", county or ""):
        raise SystemExit(f"PATROL_COUNTY must be a 6-digit county code (区划代码), not {county!r}")
    return county


def _record_states(bind, action: str) -> None:
    """One audit entry per audited record of ``ENTITIES``, holding its state as it is now."""
    from patrol_app.services import audit, audit_state
    from patrol_app.services.audit_key import load_key

    if not bind.execute(sa.text("SELECT 1 FROM audit_log LIMIT 1")).first():
        return  # no trail yet (an empty store): nothing recorded, nothing to keep in step
    inspector = sa.inspect(bind)
    key = None
    for entity in ENTITIES:
        spec = audit_state.SPECS[entity]
        existing = {c["name"] for c in inspector.get_columns(spec.table.name)}
        current = audit_state.states(bind, entity, existing=existing)
        if not current:
            continue
        key = key or load_key()
        audit.append_entries(
            bind,
            key,
            None,
            "system(upgrade)",
            action,
            [
                (entity, rid, None, None, state)
                for rid, state in sorted(current.items(), key=lambda kv: int(kv[0]))
            ],
        )


def _road_settings(bind, with_county: bool, county: str = "") -> None:
    """Key ``road_settings`` by (adcode, code), or back by code alone. PostgreSQL changes the primary key in
    place (the table keeps its grants, e.g. the app role's); SQLite rebuilds the small table (no foreign key
    points at it)."""
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE road_settings DROP CONSTRAINT road_settings_pkey")
        if with_county:
            op.add_column(
                "road_settings",
                sa.Column("adcode", sa.String(length=6), nullable=False, server_default=county),
            )
            op.execute(
                "ALTER TABLE road_settings ADD CONSTRAINT road_settings_pkey PRIMARY KEY (adcode, code)"
            )
        else:
            op.drop_column("road_settings", "adcode")
            op.execute("ALTER TABLE road_settings ADD CONSTRAINT road_settings_pkey PRIMARY KEY (code)")
        return
    cols: list[sa.schema.SchemaItem] = [
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("half_road_land_m", sa.Float(), nullable=True),
        sa.Column("updated_by", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["updated_by"], ["users.id"]),
    ]
    if with_county:
        cols.insert(0, sa.Column("adcode", sa.String(length=6), nullable=False, server_default=county))
        cols.append(sa.PrimaryKeyConstraint("adcode", "code"))
        copy = f"INSERT INTO road_settings_new (adcode, code, half_road_land_m, updated_by, updated_at) SELECT '{county}', code, half_road_land_m, updated_by, updated_at FROM road_settings"  # noqa: E501
    else:
        cols.append(sa.PrimaryKeyConstraint("code"))
        copy = "INSERT INTO road_settings_new (code, half_road_land_m, updated_by, updated_at) SELECT code, half_road_land_m, updated_by, updated_at FROM road_settings"  # noqa: E501
    op.create_table("road_settings_new", *cols)
    op.execute(copy)
    op.drop_table("road_settings")
    op.rename_table("road_settings_new", "road_settings")


def upgrade() -> None:
    county = _county()
    bind = op.get_bind()
    # a plain ADD COLUMN with a constant default fills every existing row (no batch rebuild: tables that
    # foreign keys point at cannot be dropped and recreated on a store that holds records)
    for table in TABLES:
        op.add_column(table, sa.Column("adcode", sa.String(length=6), nullable=False, server_default=county))
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    _road_settings(bind, True, county)
    _record_states(bind, "county.assigned")


def downgrade() -> None:
    bind = op.get_bind()
    counties = set()
    for table in TABLES:
        counties |= {r[0] for r in bind.execute(sa.text(f"SELECT DISTINCT adcode FROM {table}"))}
    if len({c for c in counties if c[4:] != "00"}) > 1:
        raise SystemExit(
            "the store holds records of several counties ("
            + ", ".join(sorted(counties))
            + "): a single-county "
            "schema cannot hold them"
        )
    _road_settings(bind, False)
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN adcode")
    _record_states(bind, "county.removed")
