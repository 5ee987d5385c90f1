"""staff accounts: lockout, item authority (issue 6, R-PROV-3)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op  # noqa: F401

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved: filled in by the work on this part of issue 6


def downgrade() -> None:
    pass
