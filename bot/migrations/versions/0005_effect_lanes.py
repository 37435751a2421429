"""Outbox lanes: each effect belongs to a lane (Cloudflare removals, adds, other Cloudflare work, the rest),
and due work is claimed lane by lane, so a Slack backlog can never hold back a revocation.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add effects.lane (filled from the kind; pending Cloudflare syncs count as removals) and its index."""
    op.add_column("effects", sa.Column("lane", sa.SmallInteger(), nullable=False, server_default="3"))
    # Whether an old cf.sync removes or adds is not recorded: treat it as the more urgent, a removal.
    op.execute("UPDATE effects SET lane = 0 WHERE kind IN ('cf.sync', 'cf.revoke_sessions')")
    op.execute("UPDATE effects SET lane = 2 WHERE kind LIKE 'cf.%' AND kind NOT IN ('cf.sync', 'cf.revoke_sessions')")
    op.create_index("ix_effects_due_lane", "effects", ["state", "lane", "key", "next_at"])


def downgrade() -> None:
    """Drop the lane and its index."""
    op.drop_index("ix_effects_due_lane", table_name="effects")
    with op.batch_alter_table("effects") as batch:
        batch.drop_column("lane")
