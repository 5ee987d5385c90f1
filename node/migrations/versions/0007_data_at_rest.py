"""sensitive columns encrypted at rest (issue 6, R-SEC-1)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from alembic import op  # noqa: F401

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # reserved: filled in by the work on this part of issue 6


def downgrade() -> None:
    pass
