"""Reminders, escalation and break-glass (issue 11): the requests' reminder and escalation timers, the grants'
break-glass flag and their review (acknowledgement and its reminders).

Each timer is a column the scheduler moves by compare-and-set, so with replicas and restarts each reminder,
escalation and review reminder happens once.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Add the timer columns (empty on existing rows: nothing is reminded or escalated retroactively)."""
    op.add_column("requests", sa.Column("remind_at", _TS))
    op.add_column("requests", sa.Column("reminders_sent", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("requests", sa.Column("escalate_at", _TS))
    op.add_column("requests", sa.Column("escalated_at", _TS))
    op.add_column("grants", sa.Column("break_glass", sa.Boolean()))
    op.add_column("grants", sa.Column("acknowledged_by", sa.String(64)))
    op.add_column("grants", sa.Column("acknowledged_at", _TS))
    op.add_column("grants", sa.Column("review_remind_at", _TS))
    op.add_column("grants", sa.Column("review_reminders", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_requests_state_remind", "requests", ["state", "remind_at"])
    op.create_index("ix_requests_state_escalate", "requests", ["state", "escalate_at"])
    op.create_index("ix_grants_review_remind", "grants", ["review_remind_at"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_grants_review_remind", table_name="grants")
    op.drop_index("ix_requests_state_escalate", table_name="requests")
    op.drop_index("ix_requests_state_remind", table_name="requests")
    with op.batch_alter_table("grants") as batch:
        for col in ("review_reminders", "review_remind_at", "acknowledged_at", "acknowledged_by", "break_glass"):
            batch.drop_column(col)
    with op.batch_alter_table("requests") as batch:
        for col in ("escalated_at", "escalate_at", "reminders_sent", "remind_at"):
            batch.drop_column(col)
