"""PostgreSQL's state counting stays linear in the rows a statement changes.

Migration 0011's update trigger found the rows whose state changed by joining the statement's old and new
transition tables on `id`. Transition tables carry no statistics, so PostgreSQL planned that join as a nested
loop: an UPDATE of 10,000 grants (a sweep's batch, a benchmark shifting expiries) spent 20 s in the trigger.
The net change per state needs no join: the new rows counted by state, less the old rows counted by state
(a row whose state did not change adds one and takes one away). SQLite's row triggers are unchanged.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The counting function; only what an UPDATE adds differs between the two versions.
_FUNCTION = """
CREATE OR REPLACE FUNCTION accessbot_count_states() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO state_counts (tbl, state, n)
            SELECT TG_TABLE_NAME, state, count(*) FROM new_rows GROUP BY state;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO state_counts (tbl, state, n)
            SELECT TG_TABLE_NAME, state, -count(*) FROM old_rows GROUP BY state;
    ELSE
        INSERT INTO state_counts (tbl, state, n)
            SELECT TG_TABLE_NAME, moved.state, sum(moved.d) FROM ({moved}) AS moved GROUP BY moved.state{having};
    END IF;
    RETURN NULL;
END $$
"""
# This migration's: every new row counted by state, every old row taken away (an unchanged state nets zero).
_BY_STATE = _FUNCTION.format(moved="SELECT state, 1 AS d FROM new_rows UNION ALL SELECT state, -1 AS d FROM old_rows",
                             having=" HAVING sum(moved.d) <> 0")
# Migration 0011's: the rows whose state changed, found by joining old and new rows on `id`.
_JOINED = _FUNCTION.format(
    moved="SELECT n.state, 1 AS d FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE o.state <> n.state "
          "UNION ALL SELECT o.state, -1 AS d FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE o.state <> n.state",
    having="")


def upgrade() -> None:
    """Replace PostgreSQL's counting function with the join-free one."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_BY_STATE)


def downgrade() -> None:
    """Put migration 0011's counting function back."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_JOINED)
