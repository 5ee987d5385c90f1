"""audit trail (issue 6, R-SEC-2): the append-only, hash-chained audit_entry table

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TEXT = ("at", "actor", "role", "action", "method", "path", "route", "query", "object_type", "object_id")


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        *(sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=False) for name in _TEXT),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("client", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("entry_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_at", "audit_entry", ["at"], unique=False)
    op.create_index("ix_audit_actor", "audit_entry", ["actor", "id"], unique=False)
    op.create_index("ix_audit_object", "audit_entry", ["object_id", "id"], unique=False)
    op.create_index("ix_audit_action", "audit_entry", ["action", "id"], unique=False)
    # Append-only: the database itself refuses to change or remove a row.
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_entry_no_{verb.lower()} BEFORE {verb} ON audit_entry "
            "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END"
        )


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_entry_no_update")
    op.execute("DROP TRIGGER IF EXISTS audit_entry_no_delete")
    op.drop_table("audit_entry")
