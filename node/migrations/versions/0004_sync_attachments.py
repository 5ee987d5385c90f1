"""sync: attachment upload state on blobs; central's verdict and lost receipts on up entries

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("blob", schema=None) as batch_op:
        batch_op.add_column(sa.Column("upload_url", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("spool_sha256", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column("spool_size", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("compression", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("uploaded_at", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.create_index("ix_blob_upload", ["uploaded_at", "size"], unique=False)
    with op.batch_alter_table("up_entry", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("central_status", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("central_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("lost_receipt", sa.Text(), nullable=True))
    op.create_index(
        "ix_up_entry_unreceipted", "up_entry", ["seq"], unique=False, sqlite_where=sa.text("receipt IS NULL")
    )
    op.create_index(
        "ix_up_entry_quarantined",
        "up_entry",
        ["seq"],
        unique=False,
        sqlite_where=sa.text("central_status = 'quarantined'"),
    )


def downgrade() -> None:
    op.drop_index("ix_up_entry_quarantined", table_name="up_entry")
    op.drop_index("ix_up_entry_unreceipted", table_name="up_entry")
    with op.batch_alter_table("up_entry", schema=None) as batch_op:
        batch_op.drop_column("lost_receipt")
        batch_op.drop_column("central_reason")
        batch_op.drop_column("central_status")
    with op.batch_alter_table("blob", schema=None) as batch_op:
        batch_op.drop_index("ix_blob_upload")
        for name in ("uploaded_at", "compression", "spool_size", "spool_sha256", "upload_url"):
            batch_op.drop_column(name)
