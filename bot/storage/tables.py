"""The database schema as SQLAlchemy Core tables (migrations create it; this mirrors them)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    func,
    text,
)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # noqa: ANN201
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):  # noqa: ANN201
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()

# The rules the database itself enforces, whatever races the use cases lose (migration 0003):
# one pending request per person and role, one pending extension per grant, one live grant per person
# and role. SQLite and PostgreSQL both take `CREATE UNIQUE INDEX ... WHERE ...`.
PENDING_NEW = "state = 'pending' AND kind = 'new'"
PENDING_EXTEND = "state = 'pending' AND kind = 'extend'"
LIVE_GRANT = "state IN ('pending', 'active')"


def _where(clause: str) -> dict[str, object]:
    """The same partial-index predicate for both backends."""
    return {"sqlite_where": text(clause), "postgresql_where": text(clause)}


requests = Table(
    "requests",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("role", String(63), nullable=False),
    Column("requester", String(32), nullable=False),
    Column("email", String(320), nullable=False),
    Column("duration_s", Integer, nullable=False),
    Column("reason", Text, nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("kind", String(16), nullable=False, default="new"),
    Column("grant_id", String(16)),
    Column("decided_by", String(32)),
    Column("decided_at", UTCDateTime),
    Column("decision_note", Text, nullable=False, default=""),
    # reminders and escalation (migration 0008_reminders_breakglass)
    Column("remind_at", UTCDateTime),
    Column("reminders_sent", Integer, nullable=False, server_default="0"),
    Column("escalate_at", UTCDateTime),
    Column("escalated_at", UTCDateTime),
    Index("ix_requests_state_expires", "state", "expires_at"),
    Index("ix_requests_requester_state", "requester", "state", "created_at"),
    Index("ix_requests_state_remind", "state", "remind_at"),
    Index("ix_requests_state_escalate", "state", "escalate_at"),
    Index("uq_requests_one_pending", "requester", "role", unique=True, **_where(PENDING_NEW)),
    Index("uq_requests_one_pending_extension", "grant_id", unique=True, **_where(PENDING_EXTEND)),
    # scheduled start (migration 0007): when an approved-ahead request's grant is made
    Column("starts_at", UTCDateTime),
    Index("ix_requests_state_starts", "state", "starts_at"),
)

votes = Table(
    "votes",
    metadata,
    Column("request_id", String(16), primary_key=True),
    Column("voter", String(32), primary_key=True),
    Column("choice", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

grants = Table(
    "grants",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("request_id", String(16), nullable=False),
    Column("role", String(63), nullable=False),
    Column("requester", String(32), nullable=False),
    Column("email", String(320), nullable=False),
    Column("account_id", String(64), nullable=False),
    Column("group_id", String(64), nullable=False),
    Column("duration_s", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("granted_at", UTCDateTime),
    Column("expires_at", UTCDateTime),
    Column("warn_at", UTCDateTime),
    Column("warned", Boolean, nullable=False, default=False),
    Column("revoked_at", UTCDateTime),
    Column("revoke_reason", String(16)),
    Column("revoke_actor", String(64)),
    Column("revoke_sessions", Boolean, nullable=False, default=False),
    Column("failure", Text),
    # break-glass and its review (migration 0008_reminders_breakglass)
    Column("break_glass", Boolean),  # NULL: not break-glass (rows older than it, and every ordinary grant)
    Column("acknowledged_by", String(64)),
    Column("acknowledged_at", UTCDateTime),
    Column("review_remind_at", UTCDateTime),
    Column("review_reminders", Integer, nullable=False, server_default="0"),
    Index("ix_grants_state_expires", "state", "expires_at"),
    Index("ix_grants_group", "account_id", "group_id", "state"),
    Index("ix_grants_requester_state", "requester", "state"),
    Index("ix_grants_created", "created_at", "id"),
    Index("ix_grants_state_created", "state", "created_at", "id"),
    Index("ix_grants_review_remind", "review_remind_at"),
    Index("uq_grants_one_live", "requester", "role", unique=True, **_where(LIVE_GRANT)),
)

# /api/grants?email= pages through one person's grants (emails compare case-insensitively).
Index("ix_grants_email_created", func.lower(grants.c.email), grants.c.created_at, grants.c.id)

approval_messages = Table(
    "approval_messages",
    metadata,
    Column("request_id", String(16), primary_key=True),
    Column("channel", String(32), primary_key=True),
    Column("ts", String(32), nullable=False),
    Column("approver", String(32)),
)

managed_members = Table(
    "managed_members",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("group_id", String(64), primary_key=True),
    Column("email", String(320), primary_key=True),
    Column("added_at", UTCDateTime, nullable=False),
)

effects = Table(
    "effects",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("key", String(200), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime),
    Column("last_error", Text),
    Column("first_failed_at", UTCDateTime),
    Column("next_alert_at", UTCDateTime),
    Column("alerts", Integer, nullable=False, default=0),
    # Which lane the effect is claimed in (bot.domain.lanes.LANES): due keys are looked up per lane.
    Column("lane", SmallInteger, nullable=False, default=3, server_default="3"),
    Index("ix_effects_state_next", "state", "next_at"),
    Index("ix_effects_key_state", "key", "state"),
    Index("ix_effects_due_lane", "state", "lane", "key", "next_at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("at", String(32), nullable=False),
    Column("actor", String(320), nullable=False),
    Column("action", String(40), nullable=False),
    Column("request_id", String(16)),
    Column("grant_id", String(16)),
    Column("role", String(63)),
    Column("subject", String(320)),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_action", "action"),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tree_size", BigInteger, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("at", String(32), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("note_hash", String(64), nullable=False, unique=True),
    Column("note", Text, nullable=False),
    Index("ix_audit_checkpoints_size", "tree_size"),
)

# The audit channel's thread of each request: its first event's line, under which the later ones are replies.
audit_threads = Table(
    "audit_threads",
    metadata,
    Column("request_id", String(16), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("ts", String(32), nullable=False),
)

home_viewers = Table(
    "home_viewers",
    metadata,
    Column("user_id", String(32), primary_key=True),
    Column("opened_at", UTCDateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
)


# Grants and effects per state, kept by triggers (migration 0011): on SQLite one row per table and state, on
# PostgreSQL delta rows that readers sum and bot.storage.repos.counts folds. /metrics reads these, not the tables.
state_counts = Table(
    "state_counts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tbl", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("n", BigInteger, nullable=False),
    Index("ix_state_counts_tbl", "tbl", "state"),
)

# The Cloudflare API token's call budget (bot.domain.budget), one row per token, shared by every replica.
cf_budget = Table(
    "cf_budget",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("level", Float, nullable=False),
    Column("at", Float, nullable=False),
    Column("blocked_until", Float, nullable=False),
)

# On-call approvers of a request (a role with `oncall` and `auto_approve: false`; migration 0009): `seq` keeps
# the order they were added in, and one person is an approver of one request once.
oncall_approvers = Table(
    "oncall_approvers",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("request_id", String(16), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("email", String(320), nullable=False),
    Column("schedule_id", String(32), nullable=False),
    Index("uq_oncall_approvers_request_user", "request_id", "user_id", unique=True),
    Index("ix_oncall_approvers_user", "user_id"),
)
