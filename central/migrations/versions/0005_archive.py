"""archive: packages received from nodes and central's four-property check of each

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

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "archive_package",
        sa.Column("sha256", _TEXT(), nullable=False),
        sa.Column("node_id", _TEXT(), nullable=False),
        sa.Column("case_id", _TEXT(), nullable=False),
        sa.Column("case_number", _TEXT(), nullable=False),
        sa.Column("archival_number", _TEXT(), nullable=False),
        sa.Column("retention", _TEXT(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("failed_items", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("received_at", _TEXT(), nullable=False),
        sa.Column("answer_event", _TEXT(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    with op.batch_alter_table("archive_package", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_archive_package_node_id"), ["node_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_archive_package_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_archive_package_archival_number"), ["archival_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_archive_package_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    op.drop_table("archive_package")
