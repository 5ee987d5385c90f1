"""sync: attachments (tus uploads, arrived and expected blobs), node clock skew, self-report and counters

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
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.add_column(sa.Column("skew_ms", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("reported", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("counters", sa.Text(), nullable=True))
    op.create_table(
        "blob",
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("node_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_index(op.f("ix_blob_node_id"), "blob", ["node_id"], unique=False)
    op.create_table(
        "expected_blob",
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("node_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("first_seen_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_index(op.f("ix_expected_blob_node_id"), "expected_blob", ["node_id"], unique=False)
    op.create_index(op.f("ix_expected_blob_case_id"), "expected_blob", ["case_id"], unique=False)
    op.create_table(
        "upload",
        sa.Column("upload_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("node_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("compression", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("completed_at", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("upload_id"),
    )
    op.create_index(op.f("ix_upload_node_id"), "upload", ["node_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_upload_node_id"), table_name="upload")
    op.drop_table("upload")
    op.drop_index(op.f("ix_expected_blob_case_id"), table_name="expected_blob")
    op.drop_index(op.f("ix_expected_blob_node_id"), table_name="expected_blob")
    op.drop_table("expected_blob")
    op.drop_index(op.f("ix_blob_node_id"), table_name="blob")
    op.drop_table("blob")
    with op.batch_alter_table("node", schema=None) as batch_op:
        batch_op.drop_column("counters")
        batch_op.drop_column("reported")
        batch_op.drop_column("skew_ms")
