"""On-call approvers: the people made approvers of a request by being on call in PagerDuty when it was filed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create oncall_approvers and its indexes."""
    op.create_table(
        "oncall_approvers",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(16), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("schedule_id", sa.String(32), nullable=False),
    )
    op.create_index("uq_oncall_approvers_request_user", "oncall_approvers", ["request_id", "user_id"], unique=True)
    op.create_index("ix_oncall_approvers_user", "oncall_approvers", ["user_id"])


def downgrade() -> None:
    """Drop oncall_approvers."""
    op.drop_index("ix_oncall_approvers_user", table_name="oncall_approvers")
    op.drop_index("uq_oncall_approvers_request_user", table_name="oncall_approvers")
    op.drop_table("oncall_approvers")
