"""mail: parcels, courier manifests, applicant messages (logistics window, issue 9)

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

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "mail_parcel",
        sa.Column("id", _S(), nullable=False),
        sa.Column("direction", _S(), nullable=False),
        sa.Column("kind", _S(), nullable=False),
        sa.Column("tracking_number", _S(), nullable=False),
        sa.Column("is_s10", sa.Boolean(), nullable=False),
        sa.Column("party", _S(), nullable=False),
        sa.Column("phone", _S(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("contents", sa.Text(), nullable=False),
        sa.Column("destination", _S(), nullable=False),
        sa.Column("photo_blob", _S(), nullable=False),
        sa.Column("status", _S(), nullable=False),
        sa.Column("case_id", _S(), nullable=True),
        sa.Column("manifest_id", _S(), nullable=True),
        sa.Column("registered_at", _S(), nullable=False),
        sa.Column("registered_by", _S(), nullable=False),
        sa.Column("signed_by", _S(), nullable=False),
        sa.Column("updated_at", _S(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mail_parcel_state", "mail_parcel", ["direction", "status"], unique=False)
    op.create_index(op.f("ix_mail_parcel_tracking_number"), "mail_parcel", ["tracking_number"], unique=False)
    op.create_index(op.f("ix_mail_parcel_case_id"), "mail_parcel", ["case_id"], unique=False)
    op.create_index(op.f("ix_mail_parcel_manifest_id"), "mail_parcel", ["manifest_id"], unique=False)
    op.create_table(
        "mail_manifest",
        sa.Column("id", _S(), nullable=False),
        sa.Column("number", _S(), nullable=False),
        sa.Column("courier_name", _S(), nullable=False),
        sa.Column("courier_phone", _S(), nullable=False),
        sa.Column("courier_company", _S(), nullable=False),
        sa.Column("created_at", _S(), nullable=False),
        sa.Column("created_by", _S(), nullable=False),
        sa.Column("handed_at", _S(), nullable=True),
        sa.Column("signature_blob", _S(), nullable=False),
        sa.Column("confirm_days", sa.Integer(), nullable=False),
        sa.Column("due_by", _S(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
    )
    op.create_table(
        "mail_message",
        sa.Column("id", _S(), nullable=False),
        sa.Column("case_id", _S(), nullable=False),
        sa.Column("channel", _S(), nullable=False),
        sa.Column("recipient", _S(), nullable=False),
        sa.Column("phone", _S(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("subject", _S(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", _S(), nullable=False),
        sa.Column("queued_at", _S(), nullable=False),
        sa.Column("sent_at", _S(), nullable=True),
        sa.Column("sent_by", _S(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mail_message_status", "mail_message", ["status", "queued_at"], unique=False)
    op.create_index(op.f("ix_mail_message_case_id"), "mail_message", ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_mail_message_case_id"), table_name="mail_message")
    op.drop_index("ix_mail_message_status", table_name="mail_message")
    op.drop_table("mail_message")
    op.drop_table("mail_manifest")
    op.drop_index(op.f("ix_mail_parcel_manifest_id"), table_name="mail_parcel")
    op.drop_index(op.f("ix_mail_parcel_case_id"), table_name="mail_parcel")
    op.drop_index(op.f("ix_mail_parcel_tracking_number"), table_name="mail_parcel")
    op.drop_index("ix_mail_parcel_state", table_name="mail_parcel")
    op.drop_table("mail_parcel")
