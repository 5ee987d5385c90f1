"""trust: revocation, the county key a node trusts, a node's earlier keys (issue 6, R-PROV-4)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("node") as batch:
        batch.add_column(sa.Column("county_key", _S(), nullable=True))
        batch.add_column(sa.Column("county_keys_sent", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("revoked_at", _S(), nullable=True))
        batch.add_column(sa.Column("revoked_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("revoked_after_seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("key_history", sa.Text(), nullable=True))


    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("resolution", _S(), nullable=False, server_default=""))
        batch.add_column(sa.Column("resolved_by", _S(), nullable=True))
        batch.add_column(sa.Column("resolved_at", _S(), nullable=True))
        batch.add_column(sa.Column("resolution_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        for name in ("resolution_note", "resolved_at", "resolved_by", "resolution"):
            batch.drop_column(name)
    with op.batch_alter_table("node") as batch:
        for name in ("key_history", "revoked_after_seq", "revoked_reason", "revoked_at", "county_keys_sent", "county_key"):
            batch.drop_column(name)
