"""sessions (issue 18): open logins by the digest of their session id, so a logout ends the session server-side

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
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


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_session_username"), table_name="staff_session")
    op.drop_table("staff_session")
