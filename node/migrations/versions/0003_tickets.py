"""tickets and calling (排队叫号): ticket categories (seeded A/B/C), tickets, appointments

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: The categories a new hall starts with; the lead edits them on /tickets/categories.
DEFAULT_CATEGORIES = [
    {"code": "A", "name": "综合受理", "item_codes": "[]", "active": True, "sort_order": 1},
    {"code": "B", "name": "出件领取", "item_codes": "[]", "active": True, "sort_order": 2},
    {"code": "C", "name": "咨询导办", "item_codes": "[]", "active": True, "sort_order": 3},
]


def upgrade() -> None:
    category = op.create_table(
        "ticket_category",
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("item_codes", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code"),
    )
    op.create_table(
        "ticket",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("day", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("priority", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("appointment_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("id_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("issued_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("queue_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("called_at", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("last_called_at", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("call_count", sa.Integer(), nullable=False),
        sa.Column("window", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("staff", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("transferred_from", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_ticket_day_status", "ticket", ["day", "status"], unique=False)
    op.create_table(
        "appointment",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("day", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("slot_start", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("phone", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("id_hash", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("ticket_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("booked_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_appointment_day", "appointment", ["day", "status"], unique=False)
    op.bulk_insert(category, DEFAULT_CATEGORIES)


def downgrade() -> None:
    op.drop_index("ix_appointment_day", table_name="appointment")
    op.drop_table("appointment")
    op.drop_index("ix_ticket_day_status", table_name="ticket")
    op.drop_table("ticket")
    op.drop_table("ticket_category")
