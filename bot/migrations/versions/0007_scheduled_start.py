"""Scheduled starts: requests.starts_at (when an approved-ahead request's grant is to be made) and the index the
scheduler's due-start query reads.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add requests.starts_at (NULL: starts when approved, as every request before) and its index."""
    op.add_column("requests", sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_requests_state_starts", "requests", ["state", "starts_at"])


def downgrade() -> None:
    """Drop the index and the column."""
    op.drop_index("ix_requests_state_starts", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("starts_at")
