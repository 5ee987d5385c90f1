"""sessions and replay (issue 18): open logins by the digest of their session id, so a logout ends the
session server-side; the one-time challenge a node's next reconcile carries back

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_session",
        sa.Column("sid_digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("issued_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("sid_digest"),
    )
    op.create_index(op.f("ix_staff_session_username"), "staff_session", ["username"], unique=False)
    op.add_column("node", sa.Column("contact_challenge", sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    op.drop_column("node", "contact_challenge")
    op.drop_index(op.f("ix_staff_session_username"), table_name="staff_session")
    op.drop_table("staff_session")
