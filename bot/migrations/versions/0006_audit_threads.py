"""The audit channel's thread per request: where its first event's line was posted.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create audit_threads."""
    op.create_table(
        "audit_threads",
        sa.Column("request_id", sa.String(16), primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("ts", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    """Drop audit_threads."""
    op.drop_table("audit_threads")
