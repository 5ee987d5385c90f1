"""back office: department members, routed cases and their clocks, deadline alerts, e-licences, result PDFs,
catalogue versions

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backoffice_case",
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("lead_department", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("departments", sa.Text(), nullable=False),
        sa.Column("joint", sa.Boolean(), nullable=False),
        sa.Column("routed_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("due_on", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("statutory_due_on", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("level", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("remaining_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    with op.batch_alter_table("backoffice_case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_backoffice_case_due_on"), ["due_on"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_backoffice_case_lead_department"), ["lead_department"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_backoffice_case_level"), ["level"], unique=False)

    op.create_table(
        "deadline_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("level", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("due_on", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("raised_on", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("raised_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("raised_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "level", "due_on", name="uq_deadline_alert"),
    )
    with op.batch_alter_table("deadline_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deadline_alert_case_id"), ["case_id"], unique=False)

    op.create_table(
        "department_member",
        sa.Column("username", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("department_code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("department_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("position", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("username"),
    )
    with op.batch_alter_table("department_member", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_department_member_department_code"), ["department_code"], unique=False
        )

    op.create_table(
        "licence",
        sa.Column("identifier", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("licence_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("holder_code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("issuer_code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("issuer_name", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("issued_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("identifier"),
    )
    with op.batch_alter_table("licence", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_licence_case_id"), ["case_id"], unique=True)

    op.create_table(
        "licence_serial",
        sa.Column("issuer_code", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("issuer_code", "year"),
    )
    op.create_table(
        "result_document",
        sa.Column("case_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_table(
        "catalogue_version",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("issued_at", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("change", sa.Text(), nullable=False),
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("published_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("version"),
    )


def downgrade() -> None:
    op.drop_table("catalogue_version")
    op.drop_table("result_document")
    op.drop_table("licence_serial")
    with op.batch_alter_table("licence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_licence_case_id"))

    op.drop_table("licence")
    with op.batch_alter_table("department_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_department_member_department_code"))

    op.drop_table("department_member")
    with op.batch_alter_table("deadline_alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deadline_alert_case_id"))

    op.drop_table("deadline_alert")
    with op.batch_alter_table("backoffice_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backoffice_case_level"))
        batch_op.drop_index(batch_op.f("ix_backoffice_case_lead_department"))
        batch_op.drop_index(batch_op.f("ix_backoffice_case_due_on"))

    op.drop_table("backoffice_case")
