"""ratings (好差评) with follow-ups, and complaints

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TEXT = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "rating",
        sa.Column("rating_id", _TEXT(), nullable=False),
        sa.Column("origin_node", _TEXT(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("channel", _TEXT(), nullable=False),
        sa.Column("rated_at", _TEXT(), nullable=False),
        sa.Column("case_number", _TEXT(), nullable=False),
        sa.Column("item_name", _TEXT(), nullable=False),
        sa.Column("staff", _TEXT(), nullable=False),
        sa.Column("window", _TEXT(), nullable=False),
        sa.Column("comment", _TEXT(), nullable=False),
        sa.Column("followup_due", _TEXT(), nullable=False),
        sa.Column("called_back_at", _TEXT(), nullable=False),
        sa.Column("closed_at", _TEXT(), nullable=False),
        sa.Column("rectification", _TEXT(), nullable=False),
        sa.PrimaryKeyConstraint("rating_id"),
    )
    with op.batch_alter_table("rating", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rating_origin_node"), ["origin_node"], unique=False)
        batch_op.create_index(batch_op.f("ix_rating_level"), ["level"], unique=False)
        batch_op.create_index(batch_op.f("ix_rating_rated_at"), ["rated_at"], unique=False)
    op.create_table(
        "complaint",
        sa.Column("complaint_id", _TEXT(), nullable=False),
        sa.Column("origin_node", _TEXT(), nullable=False),
        sa.Column("channel", _TEXT(), nullable=False),
        sa.Column("complainant", _TEXT(), nullable=False),
        sa.Column("content", _TEXT(), nullable=False),
        sa.Column("case_number", _TEXT(), nullable=False),
        sa.Column("registered_at", _TEXT(), nullable=False),
        sa.Column("assignee", _TEXT(), nullable=False),
        sa.Column("due", _TEXT(), nullable=False),
        sa.Column("resolution", _TEXT(), nullable=False),
        sa.Column("resolved_at", _TEXT(), nullable=False),
        sa.PrimaryKeyConstraint("complaint_id"),
    )
    with op.batch_alter_table("complaint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_complaint_origin_node"), ["origin_node"], unique=False)
        batch_op.create_index(batch_op.f("ix_complaint_registered_at"), ["registered_at"], unique=False)


def downgrade() -> None:
    op.drop_table("complaint")
    op.drop_table("rating")
