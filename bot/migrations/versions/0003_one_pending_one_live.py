"""The database enforces one pending request per person and role, one pending extension per grant and one
live grant per person and role (partial unique indexes), whatever races the use cases lose.

Rows that already break a rule (left by the races this closes) are settled first, so the indexes can be
built: of several pending requests (or extensions of one grant) the oldest stays and the others are
cancelled, each audited; of several live grants of one role the one ending last stays and the others are
revoked the usual way (a group sync is owed; the email stays while the kept grant needs it).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from bot.domain.audit import GENESIS_HASH, AuditEvent, canonical_json, seal

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PENDING_NEW = "state = 'pending' AND kind = 'new'"
PENDING_EXTEND = "state = 'pending' AND kind = 'extend'"
LIVE_GRANT = "state IN ('pending', 'active')"
_AUDIT_LOCK = 727100002


def _where(clause: str) -> dict[str, object]:
    return {"sqlite_where": sa.text(clause), "postgresql_where": sa.text(clause)}


def _cancel_duplicate_requests(conn: sa.Connection, now: datetime) -> None:
    """Cancel all but the oldest of each set of pending requests the new indexes would forbid."""
    rows = conn.execute(sa.text(
        "SELECT id, requester, role, email, kind, grant_id FROM requests WHERE state = 'pending' "
        "ORDER BY created_at, id")).all()
    seen: set[tuple[str, ...]] = set()
    extra = []
    for r in rows:
        key = ("new", r.requester, r.role) if r.kind == "new" else ("extend", r.grant_id or r.id)
        if key in seen:
            extra.append(r)
        seen.add(key)
    if not extra:
        return
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK})
    last = conn.execute(sa.text("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS_HASH)
    note = "closed by migration 0003: another request of the same kind was already pending"
    for r in extra:
        conn.execute(sa.text("UPDATE requests SET state = 'cancelled', decided_by = 'system', "
                             "decided_at = :at, decision_note = :note WHERE id = :id AND state = 'pending'"),
                     {"at": now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now,
                      "note": note, "id": r.id})
        seq += 1
        rec = seal(AuditEvent("system", "request.cancelled", request_id=r.id, role=r.role, subject=r.email,
                              grant_id=r.grant_id, details={"reason": note}), seq, now, prev)
        conn.execute(sa.text("INSERT INTO audit_log (seq, at, actor, action, request_id, grant_id, role, "
                             "subject, details, prev_hash, hash) VALUES (:seq, :at, :actor, :action, "
                             ":request_id, :grant_id, :role, :subject, :details, :prev_hash, :hash)"),
                     {**rec, "details": canonical_json(rec["details"])})
        prev = rec["hash"]


def _revoke_duplicate_grants(conn: sa.Connection, now: datetime) -> None:
    """Of each set of live grants of one person and role, keep the one ending last; revoke the others."""
    rows = conn.execute(sa.text(
        "SELECT id, requester, role, account_id, group_id, state, expires_at FROM grants "
        "WHERE state IN ('pending', 'active')")).all()
    by_key: dict[tuple[str, str], list[sa.Row]] = {}
    for r in rows:
        by_key.setdefault((r.requester, r.role), []).append(r)
    groups: set[tuple[str, str]] = set()
    for found in by_key.values():
        if len(found) < 2:
            continue
        # pending grants have not started: they end after any active one
        found.sort(key=lambda g: (g.state == "pending", str(g.expires_at or "")), reverse=True)
        for g in found[1:]:
            conn.execute(sa.text("UPDATE grants SET state = 'revoking', revoke_reason = 'duplicate', "
                                 "revoke_actor = 'system' WHERE id = :id"), {"id": g.id})
            groups.add((g.account_id, g.group_id))
    stamp = now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now
    for account_id, group_id in sorted(groups):
        conn.execute(sa.text("INSERT INTO effects (kind, key, payload, state, attempts, next_at, created_at, alerts) "
                             "VALUES ('cf.sync', :key, :payload, 'pending', 0, :at, :at, 0)"),
                     {"key": f"cf:{account_id}:{group_id}",
                      "payload": canonical_json({"account_id": account_id, "group_id": group_id}), "at": stamp})


def upgrade() -> None:
    """Settle rows that break the rules, then create the three partial unique indexes."""
    conn = op.get_bind()
    now = datetime.now(UTC)
    _cancel_duplicate_requests(conn, now)
    _revoke_duplicate_grants(conn, now)
    op.create_index("uq_requests_one_pending", "requests", ["requester", "role"], unique=True,
                    **_where(PENDING_NEW))
    op.create_index("uq_requests_one_pending_extension", "requests", ["grant_id"], unique=True,
                    **_where(PENDING_EXTEND))
    op.create_index("uq_grants_one_live", "grants", ["requester", "role"], unique=True, **_where(LIVE_GRANT))


def downgrade() -> None:
    """Drop the three indexes (the rows they protected stay as they are)."""
    op.drop_index("uq_grants_one_live", table_name="grants")
    op.drop_index("uq_requests_one_pending_extension", table_name="requests")
    op.drop_index("uq_requests_one_pending", table_name="requests")
