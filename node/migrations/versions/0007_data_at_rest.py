"""sensitive columns encrypted at rest (issue 6, R-SEC-1)

No schema change: an encrypted column keeps its type (VARCHAR or TEXT) and holds ``ow1:`` + base64 ciphertext
(`node.trust.atrest`). Encrypting the values an older version wrote in plaintext needs the node data key, which
Alembic does not have (and must not: migrations also run where no key is loaded), so it is not done here but
by `node.trust.atrest.encrypt_plaintext_rows` when the node opens the database with its key, right after migrating:
once per database (meta row ``data_at_rest``), followed by VACUUM so no plaintext stays in free pages.

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
    pass  # the data step runs at open time, with the key: node.boot.open_runtime → encrypt_plaintext_rows


def downgrade() -> None:
    pass  # values stay encrypted; an older node version cannot read them (restore its backup instead)
