"""staff accounts: lockout, item authority (issue 6, R-PROV-3)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(sa.Column("authorities", sa.Text(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "login_attempt",
        sa.Column("username", _S(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", _S(), nullable=False),
        sa.Column("locked_until", _S(), nullable=True),
        sa.PrimaryKeyConstraint("username"),
    )


def downgrade() -> None:
    op.drop_table("login_attempt")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("version")
        batch_op.drop_column("authorities")
