"""the clerk's day (issue 19): the applicant's ID number as a keyed hash on the case list (search), the ID card's
image kept with its read (it becomes the ID material's page), capture sessions that walk the checklist

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.add_column(sa.Column("applicant_id_hash", _S(), nullable=False, server_default=""))
        batch_op.create_index("ix_case_applicant_id_hash", ["applicant_id_hash"], unique=False)
    with op.batch_alter_table("idcard_read", schema=None) as batch_op:
        batch_op.add_column(sa.Column("card_blob", _S(), nullable=False, server_default=""))
    with op.batch_alter_table("capture_session", schema=None) as batch_op:
        batch_op.add_column(sa.Column("walk", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("capture_session", schema=None) as batch_op:
        batch_op.drop_column("walk")
    with op.batch_alter_table("idcard_read", schema=None) as batch_op:
        batch_op.drop_column("card_blob")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_index("ix_case_applicant_id_hash")
        batch_op.drop_column("applicant_id_hash")
