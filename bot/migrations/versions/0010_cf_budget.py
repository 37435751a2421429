"""The Cloudflare call budget: one token bucket row per API token, shared by every replica.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add cf_budget (name, level, at, blocked_until); rows are made on first use."""
    op.create_table(
        "cf_budget",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("level", sa.Float(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("blocked_until", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    """Drop cf_budget."""
    op.drop_table("cf_budget")
