"""audit integrity: keyed seals, recorded record states, append-only protections

Revision ID: 0004
Revises: 0002

The upgrade of an existing trail adds and rewrites nothing of what is there: every entry keeps its id, content,
``prev_hash`` and ``hash`` (the unkeyed chain stays checkable as before). It only *adds* to each entry a seal,
``mac = HMAC-SHA256(key, previous mac + hash)``, with the key kept outside the database, then appends an
``audit.sealed`` entry (how many entries were sealed, the unkeyed head they were sealed at, the key's public
fingerprint) and one ``audit.baseline`` entry per existing record, recording its state at the upgrade: from then
on every record is checked against the trail. Entries written before the upgrade were protected only by the
unkeyed chain up to that moment; from the upgrade on, nobody without the key can rewrite them unnoticed.

Then the protections: on SQLite triggers refuse UPDATE and DELETE of audit rows (and keep the head row in step
with the log); on PostgreSQL a trigger function does the same and, when ``PATROL_DB_APP_ROLE`` names the
app's own role, the role may only SELECT and INSERT audit rows.
"""

import os

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0007"
branch_labels = None
depends_on = None

GENESIS = "0" * 64

SQLITE_TRIGGERS = [
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be changed'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
       BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: entries cannot be deleted'); END""",
    """CREATE TRIGGER audit_log_in_order BEFORE INSERT ON audit_log
       WHEN NEW.id IS NOT (SELECT coalesce(max(id), 0) + 1 FROM audit_log) OR NEW.mac IS NULL
       BEGIN SELECT RAISE(ABORT, 'audit_log: entries are appended in order, sealed'); END""",
    """CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
       BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END""",
    """CREATE TRIGGER audit_head_one_row BEFORE INSERT ON audit_head
       WHEN NEW.id != 1 OR NEW.last_id != 0 OR (SELECT count(*) FROM audit_log) != 0
       BEGIN SELECT RAISE(ABORT, 'audit_head: one row, created with the trail'); END""",
    """CREATE TRIGGER audit_head_follows_log BEFORE UPDATE ON audit_head
       WHEN NEW.id != 1 OR NEW.last_id IS NOT (SELECT coalesce(max(id), 0) FROM audit_log)
         OR NEW.last_mac IS NOT coalesce((SELECT mac FROM audit_log WHERE id = NEW.last_id), NEW.last_mac)
         OR NEW.last_hash IS NOT coalesce((SELECT hash FROM audit_log WHERE id = NEW.last_id), NEW.last_hash)
       BEGIN SELECT RAISE(ABORT, 'audit_head only follows the last audit entry'); END""",
]
SQLITE_TRIGGER_NAMES = [
    "audit_log_no_update",
    "audit_log_no_delete",
    "audit_log_in_order",
    "audit_head_no_delete",
    "audit_head_one_row",
    "audit_head_follows_log",
]

PG_FUNCTIONS = [
    """CREATE OR REPLACE FUNCTION patrol_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$""",
    """CREATE OR REPLACE FUNCTION patrol_audit_in_order() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.mac IS NULL OR NEW.id <> (SELECT coalesce(max(id), 0) + 1 FROM audit_log) THEN
        RAISE EXCEPTION 'audit_log: entries are appended in order, sealed' USING ERRCODE = 'insufficient_privilege';
      END IF;
      RETURN NEW;
    END $$""",
    """CREATE OR REPLACE FUNCTION patrol_audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE last_row audit_log%ROWTYPE;
    BEGIN
      IF TG_OP = 'DELETE' OR TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'audit_head cannot be deleted' USING ERRCODE = 'insufficient_privilege';
      END IF;
      IF TG_OP = 'INSERT' THEN
        IF NEW.id <> 1 OR NEW.last_id <> 0 OR EXISTS (SELECT 1 FROM audit_log) THEN
          RAISE EXCEPTION 'audit_head: one row, created with the trail' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NEW;
      END IF;
      SELECT * INTO last_row FROM audit_log ORDER BY id DESC LIMIT 1;
      IF NEW.id <> 1 OR NEW.last_id IS DISTINCT FROM coalesce(last_row.id, 0)
         OR (last_row.id IS NOT NULL AND (NEW.last_mac IS DISTINCT FROM last_row.mac
                                          OR NEW.last_hash IS DISTINCT FROM last_row.hash)) THEN
        RAISE EXCEPTION 'audit_head only follows the last audit entry' USING ERRCODE = 'insufficient_privilege';
      END IF;
      RETURN NEW;
    END $$""",
]
PG_TRIGGERS = [
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION patrol_audit_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION patrol_audit_append_only()",
    "CREATE TRIGGER audit_log_in_order BEFORE INSERT ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION patrol_audit_in_order()",
    "CREATE TRIGGER audit_head_guard BEFORE INSERT OR UPDATE OR DELETE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION patrol_audit_head_guard()",
    "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION patrol_audit_head_guard()",
]


def app_role_grants(role: str) -> list[str]:
    """What the app's own role may do: everything the app does, but never rewrite or remove audit rows."""
    q = '"' + role.replace('"', '""') + '"'
    return [
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {q}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {q}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_log FROM {q}",
        f"REVOKE DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_head FROM {q}",
        f"GRANT SELECT, INSERT ON audit_log TO {q}",
        f"GRANT SELECT, INSERT, UPDATE ON audit_head TO {q}",
    ]


def _seal_existing(bind: sa.Connection) -> None:
    """Add the keyed seal to every entry there is, then record the sealing and a baseline of every record."""
    from patrol_app.services import audit, audit_state
    from patrol_app.services.audit_key import key_id, load_key

    rows = bind.execute(sa.text("SELECT id, hash FROM audit_log ORDER BY id")).fetchall()
    if not rows and not audit_state.has_records(bind):
        return
    key = load_key()
    prev_mac = GENESIS
    seals = []
    for id_, h in rows:
        prev_mac = audit.entry_mac(key, prev_mac, h)
        seals.append({"i": id_, "m": prev_mac})
    if seals:
        bind.execute(sa.text("UPDATE audit_log SET mac = :m WHERE id = :i"), seals)
    head = bind.execute(sa.text("SELECT last_id, last_hash FROM audit_head WHERE id = 1")).first()
    last = (rows[-1][0], rows[-1][1]) if rows else (0, GENESIS)
    if head is None:
        bind.execute(
            sa.text("INSERT INTO audit_head (id, last_id, last_hash, last_mac) VALUES (1, :i, :h, :m)"),
            {"i": last[0], "h": last[1], "m": prev_mac},
        )
    else:
        bind.execute(sa.text("UPDATE audit_head SET last_mac = :m WHERE id = 1"), {"m": prev_mac})
    label = "system(upgrade)"
    audit.append_entries(
        bind,
        key,
        None,
        label,
        "audit.sealed",
        [
            (
                "audit_log",
                "",
                None,
                {
                    "legacy_entries": len(rows),
                    "legacy_last_id": last[0],
                    "legacy_last_hash": last[1],
                    "legacy_head_found": head is not None and (head[0], head[1]) == last,
                    "key_id": key_id(key),
                },
                None,
            )
        ],
    )
    inspector = sa.inspect(bind)
    for entity, spec in audit_state.SPECS.items():
        # the columns there are now: later migrations add more (and record the states they change)
        existing = {c["name"] for c in inspector.get_columns(spec.table.name)}
        current = audit_state.states(bind, entity, existing=existing)
        if current:
            audit.append_entries(
                bind,
                key,
                None,
                label,
                "audit.baseline",
                [
                    (entity, rid, None, None, state)
                    for rid, state in sorted(current.items(), key=lambda kv: int(kv[0]))
                ],
            )


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state", sa.JSON(none_as_null=True), nullable=True))
        batch_op.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_audit_log_state_of",
            ["entity", "entity_id", "id"],
            unique=False,
            sqlite_where=sa.text("state IS NOT NULL"),
            postgresql_where=sa.text("state IS NOT NULL"),
        )
        batch_op.create_index("ix_audit_log_actor_id", ["actor_id"], unique=False)
        batch_op.create_index("ix_audit_log_action", ["action"], unique=False)
        batch_op.create_index("ix_audit_log_ts", ["ts"], unique=False)
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_mac", sa.String(length=64), nullable=True))

    bind = op.get_bind()
    _seal_existing(bind)
    if bind.dialect.name == "sqlite":
        for sql in SQLITE_TRIGGERS:
            op.execute(sql)
    elif bind.dialect.name == "postgresql":
        for sql in PG_FUNCTIONS + PG_TRIGGERS:
            op.execute(sql)
        role = os.environ.get("PATROL_DB_APP_ROLE")
        if role:
            for sql in app_role_grants(role):
                op.execute(sql)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for name in SQLITE_TRIGGER_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif bind.dialect.name == "postgresql":
        for t, table in (
            ("audit_log_append_only", "audit_log"),
            ("audit_log_no_truncate", "audit_log"),
            ("audit_log_in_order", "audit_log"),
            ("audit_head_guard", "audit_head"),
            ("audit_head_no_truncate", "audit_head"),
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {t} ON {table}")
        for f in ("patrol_audit_append_only", "patrol_audit_in_order", "patrol_audit_head_guard"):
            op.execute(f"DROP FUNCTION IF EXISTS {f}()")
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("last_mac")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_ts")
        batch_op.drop_index("ix_audit_log_action")
        batch_op.drop_index("ix_audit_log_actor_id")
        batch_op.drop_index("ix_audit_log_state_of")
        batch_op.drop_column("mac")
        batch_op.drop_column("state")
