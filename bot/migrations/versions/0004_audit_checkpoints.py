"""Signed audit checkpoints: each one commits to the audit chain's size and head hash, and names the previous.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create audit_checkpoints."""
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("note_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_checkpoints_size", "audit_checkpoints", ["tree_size"])


def downgrade() -> None:
    """Drop audit_checkpoints."""
    op.drop_table("audit_checkpoints")
