"""Initial schema: requests, votes, grants, approval messages, managed members, effects, audit, deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create every table and index."""
    op.create_table(
        "requests",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("role", sa.String(63), nullable=False),
        sa.Column("requester", sa.String(32), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("duration_s", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("grant_id", sa.String(16)),
        sa.Column("decided_by", sa.String(32)),
        sa.Column("decided_at", _TS),
        sa.Column("decision_note", sa.Text, nullable=False),
    )
    op.create_index("ix_requests_state_expires", "requests", ["state", "expires_at"])
    op.create_index("ix_requests_requester", "requests", ["requester"])
    op.create_table(
        "votes",
        sa.Column("request_id", sa.String(16), primary_key=True),
        sa.Column("voter", sa.String(32), primary_key=True),
        sa.Column("choice", sa.String(16), nullable=False),
        sa.Column("at", _TS, nullable=False),
    )
    op.create_table(
        "grants",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("request_id", sa.String(16), nullable=False),
        sa.Column("role", sa.String(63), nullable=False),
        sa.Column("requester", sa.String(32), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("group_id", sa.String(64), nullable=False),
        sa.Column("duration_s", sa.Integer, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("granted_at", _TS),
        sa.Column("expires_at", _TS),
        sa.Column("warn_at", _TS),
        sa.Column("warned", sa.Boolean, nullable=False),
        sa.Column("revoked_at", _TS),
        sa.Column("revoke_reason", sa.String(16)),
        sa.Column("revoke_actor", sa.String(64)),
        sa.Column("revoke_sessions", sa.Boolean, nullable=False),
        sa.Column("failure", sa.Text),
    )
    op.create_index("ix_grants_state_expires", "grants", ["state", "expires_at"])
    op.create_index("ix_grants_group", "grants", ["account_id", "group_id", "state"])
    op.create_index("ix_grants_requester", "grants", ["requester"])
    op.create_table(
        "approval_messages",
        sa.Column("request_id", sa.String(16), primary_key=True),
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("ts", sa.String(32), nullable=False),
        sa.Column("approver", sa.String(32)),
    )
    op.create_table(
        "managed_members",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("group_id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("added_at", _TS, nullable=False),
    )
    op.create_table(
        "effects",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", _TS, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("done_at", _TS),
        sa.Column("last_error", sa.Text),
        sa.Column("first_failed_at", _TS),
        sa.Column("next_alert_at", _TS),
        sa.Column("alerts", sa.Integer, nullable=False),
    )
    op.create_index("ix_effects_state_next", "effects", ["state", "next_at"])
    op.create_index("ix_effects_key_state", "effects", ["key", "state"])
    op.create_table(
        "audit_log",
        sa.Column("seq", _ID, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("request_id", sa.String(16)),
        sa.Column("grant_id", sa.String(16)),
        sa.Column("role", sa.String(63)),
        sa.Column("subject", sa.String(320)),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_action", "audit_log", ["action"])
    op.create_table(
        "deliveries",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("at", _TS, nullable=False),
    )


def downgrade() -> None:
    """Drop every table."""
    for name in ("deliveries", "audit_log", "effects", "managed_members", "approval_messages", "grants",
                 "votes", "requests"):
        op.drop_table(name)
