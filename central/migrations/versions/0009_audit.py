"""audit trail (issue 6, R-SEC-2)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from alembic import op  # noqa: F401

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved: filled in by the work on this part of issue 6


def downgrade() -> None:
    pass
