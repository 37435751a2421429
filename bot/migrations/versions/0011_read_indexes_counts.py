"""Big databases answer fast: indexes for the hot reads, and grants and effects counted per state by triggers
(the state_counts table) instead of GROUP BY scans of the whole tables.

Counting: every insert, delete and change of `state` on grants and effects adds to state_counts in the same
transaction, whichever code made it. SQLite (one writer at a time) keeps one row per table and state and
updates it in row triggers. PostgreSQL appends one delta row per state per statement (statement triggers
with transition tables, so a bulk change of 10,000 rows adds a few rows, and concurrent writers never
wait on a shared counter row or deadlock on two); readers sum the rows, and a single statement folds them
back to one row per state now and then (bot.storage.repos.counts).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COUNTED = ("grants", "effects")

_SQLITE_BUMP = """
    INSERT INTO state_counts (tbl, state, n) SELECT '{tbl}', {row}.state, 0
        WHERE NOT EXISTS (SELECT 1 FROM state_counts WHERE tbl = '{tbl}' AND state = {row}.state);
    UPDATE state_counts SET n = n + 1 WHERE tbl = '{tbl}' AND state = {row}.state;"""
_SQLITE_DROP = """
    UPDATE state_counts SET n = n - 1 WHERE tbl = '{tbl}' AND state = {row}.state;"""

_PG_FUNCTION = """
CREATE FUNCTION accessbot_count_states() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO state_counts (tbl, state, n)
            SELECT TG_TABLE_NAME, state, count(*) FROM new_rows GROUP BY state;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO state_counts (tbl, state, n)
            SELECT TG_TABLE_NAME, state, -count(*) FROM old_rows GROUP BY state;
    ELSE
        INSERT INTO state_counts (tbl, state, n)
            SELECT TG_TABLE_NAME, moved.state, sum(moved.d) FROM (
                SELECT n.state, 1 AS d FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE o.state <> n.state
                UNION ALL
                SELECT o.state, -1 AS d FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE o.state <> n.state
            ) AS moved GROUP BY moved.state;
    END IF;
    RETURN NULL;
END $$
"""
_PG_TRIGGERS = {
    "insert": "AFTER INSERT ON {tbl} REFERENCING NEW TABLE AS new_rows",
    "delete": "AFTER DELETE ON {tbl} REFERENCING OLD TABLE AS old_rows",
    "update": "AFTER UPDATE ON {tbl} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
}


def _sqlite_triggers(tbl: str) -> list[str]:
    """The three row triggers that keep `tbl`'s counts on SQLite."""
    bump_new, drop_old = _SQLITE_BUMP.format(tbl=tbl, row="NEW"), _SQLITE_DROP.format(tbl=tbl, row="OLD")
    return [f"CREATE TRIGGER count_{tbl}_insert AFTER INSERT ON {tbl} BEGIN{bump_new}\nEND",
            f"CREATE TRIGGER count_{tbl}_delete AFTER DELETE ON {tbl} BEGIN{drop_old}\nEND",
            f"CREATE TRIGGER count_{tbl}_update AFTER UPDATE OF state ON {tbl} WHEN OLD.state IS NOT NEW.state "
            f"BEGIN{drop_old}{bump_new}\nEND"]


def _pg_triggers(tbl: str) -> list[str]:
    """The three statement triggers that keep `tbl`'s counts on PostgreSQL."""
    return [f"CREATE TRIGGER count_{tbl}_{op_} {when.format(tbl=tbl)} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION accessbot_count_states()" for op_, when in _PG_TRIGGERS.items()]


def upgrade() -> None:
    """Add the read indexes, the state_counts table (filled from the rows there are) and its triggers."""
    op.drop_index("ix_grants_requester", table_name="grants")
    op.create_index("ix_grants_requester_state", "grants", ["requester", "state"])
    op.create_index("ix_grants_created", "grants", ["created_at", "id"])
    op.create_index("ix_grants_state_created", "grants", ["state", "created_at", "id"])
    op.create_index("ix_grants_email_created", "grants", [sa.text("lower(email)"), "created_at", "id"])
    op.drop_index("ix_requests_requester", table_name="requests")
    op.create_index("ix_requests_requester_state", "requests", ["requester", "state", "created_at"])
    op.create_table(
        "state_counts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("tbl", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
    )
    # Readers go through the index: on PostgreSQL a fold leaves dead rows behind until autovacuum comes by.
    op.create_index("ix_state_counts_tbl", "state_counts", ["tbl", "state"])
    for tbl in COUNTED:
        op.execute(f"INSERT INTO state_counts (tbl, state, n) SELECT '{tbl}', state, count(*) FROM {tbl} "
                   "GROUP BY state")
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        op.execute(_PG_FUNCTION)
    for tbl in COUNTED:
        for statement in _pg_triggers(tbl) if pg else _sqlite_triggers(tbl):
            op.execute(statement)


def downgrade() -> None:
    """Drop the triggers, the counts and the indexes; the old requester indexes come back."""
    pg = op.get_bind().dialect.name == "postgresql"
    for tbl in COUNTED:
        for op_ in _PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS count_{tbl}_{op_}" + (f" ON {tbl}" if pg else ""))
    if pg:
        op.execute("DROP FUNCTION IF EXISTS accessbot_count_states()")
    op.drop_index("ix_state_counts_tbl", table_name="state_counts")
    op.drop_table("state_counts")
    op.drop_index("ix_requests_requester_state", table_name="requests")
    op.create_index("ix_requests_requester", "requests", ["requester"])
    op.drop_index("ix_grants_email_created", table_name="grants")
    op.drop_index("ix_grants_state_created", table_name="grants")
    op.drop_index("ix_grants_created", table_name="grants")
    op.drop_index("ix_grants_requester_state", table_name="grants")
    op.create_index("ix_grants_requester", "grants", ["requester"])
