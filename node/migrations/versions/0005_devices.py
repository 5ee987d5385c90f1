"""devices: capture sessions, scan-folder files, ID card reads

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "capture_session",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("window", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("material_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("staff", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_capture_active", "capture_session", ["ended_at", "started_at"], unique=False)
    op.create_index(op.f("ix_capture_session_case_id"), "capture_session", ["case_id"], unique=False)
    op.create_table(
        "scan_file",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("session_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("material_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("window", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("received_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("moved_to", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_scan_file_sha256"), "scan_file", ["sha256"], unique=False)
    op.create_index(op.f("ix_scan_file_case_id"), "scan_file", ["case_id"], unique=False)
    op.create_table(
        "idcard_read",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("read_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("staff", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("window", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("id_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("photo_blob", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("photo_decoded_blob", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("idcard_read")
    op.drop_index(op.f("ix_scan_file_case_id"), table_name="scan_file")
    op.drop_index(op.f("ix_scan_file_sha256"), table_name="scan_file")
    op.drop_table("scan_file")
    op.drop_index(op.f("ix_capture_session_case_id"), table_name="capture_session")
    op.drop_index("ix_capture_active", table_name="capture_session")
    op.drop_table("capture_session")
