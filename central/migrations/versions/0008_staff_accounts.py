"""node staff accounts managed at central, lockout (issue 6, R-PROV-3)

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
    op.create_table(
        "node_staff",
        sa.Column("node_id", _S(), nullable=False),
        sa.Column("username", _S(), nullable=False),
        sa.Column("display_name", _S(), nullable=False),
        sa.Column("role", _S(), nullable=False),
        sa.Column("password_hash", _S(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("authorities", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", _S(), nullable=False),
        sa.Column("updated_by", _S(), nullable=False),
        sa.PrimaryKeyConstraint("node_id", "username"),
    )
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
    op.drop_table("node_staff")
