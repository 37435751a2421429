"""What every use case needs, gathered in one place by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.domain.audit import AuditEvent
from bot.domain.audit_channel import shows
from bot.domain.budget import CloudflareBudget
from bot.domain.clock import Clock
from bot.domain.effects import PostAuditSummary, RefreshHome
from bot.domain.ids import IdSource, random_id
from bot.domain.limits import FilingLimit
from bot.domain.model import AccessRequest, Grant
from bot.domain.policy import Decision, Policy
from bot.domain.ports import AccessGroups, Directory, OnCall
from bot.domain.repositories import Inserted
from bot.domain.unit_of_work import UnitOfWork, UnitOfWorkFactory

# Fresh IDs tried before an insert gives up (at 30^10 IDs a second collision in a row is all but impossible).
ID_ATTEMPTS = 5


@dataclass
class Deps:
    """The store, the clock, the policy and the ports the use cases call."""

    store: UnitOfWorkFactory
    clock: Clock
    policy: Policy
    directory: Directory
    groups: AccessGroups
    revoke_alert_after: timedelta = timedelta(minutes=3)
    ids: IdSource = random_id
    filing_limit: FilingLimit = field(default_factory=FilingLimit)
    # the Cloudflare token's call budget, shared by the replicas (None: unlimited, only the 429 gate)
    budget: CloudflareBudget | None = None
    oncall: OnCall | None = None  # PagerDuty, when a role has `oncall` (None: nobody is ever on call)


class RuleConflict(Exception):  # noqa: N818 - a refusal carried out of a transaction, not a failure
    """The database refused a row a rule forbids (a race the checks lost): roll back and refuse this way."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.code)
        self.decision = decision


async def insert_request(deps: Deps, tx: UnitOfWork, req: AccessRequest, conflict: Decision) -> None:
    """Insert a request under a fresh ID (another on a collision); RuleConflict(`conflict`) when an index
    says the person already has one pending."""
    await _insert_fresh(deps, "r", req, tx.requests.add, conflict)


async def insert_grant(deps: Deps, tx: UnitOfWork, grant: Grant, conflict: Decision) -> None:
    """Insert a grant under a fresh ID (another on a collision); RuleConflict(`conflict`) when an index says
    the person already holds the role."""
    await _insert_fresh(deps, "g", grant, tx.grants.add, conflict)


async def _insert_fresh(deps: Deps, prefix: str, row: Any, add: Any, conflict: Decision) -> None:
    """Give `row` a fresh `prefix` ID and `add` it, retrying on an ID collision, up to ID_ATTEMPTS times."""
    for _ in range(ID_ATTEMPTS):
        row.id = deps.ids(prefix)
        got = await add(row)
        if got is Inserted.OK:
            return
        if got is Inserted.CONFLICT:
            raise RuleConflict(conflict)
    raise RuntimeError(f"no free {'request' if prefix == 'r' else 'grant'} ID after {ID_ATTEMPTS} tries")


def summaries(deps: Deps, events: list[AuditEvent], rows: list[dict[str, Any]]) -> list[PostAuditSummary]:
    """The audit-channel lines owed for these appended events: none without an audit channel, and only the events
    its `audit_channel_events` level shows (never a mistyped command)."""
    if not deps.policy.audit_channel:
        return []
    level = deps.policy.audit_channel_events
    return [PostAuditSummary(row["seq"]) for event, row in zip(events, rows, strict=True)
            if shows(level, event.action, event.details)]


async def record(deps: Deps, tx: UnitOfWork, event: AuditEvent) -> dict[str, Any]:
    """Append an audit event and owe its one-line summary to the audit channel (when it shows it)."""
    row = await tx.audit.append(event)
    for summary in summaries(deps, [event], [row]):
        await tx.outbox.owe(summary)
    return row


async def record_many(deps: Deps, tx: UnitOfWork, events: list[AuditEvent]) -> list[dict[str, Any]]:
    """Append audit events as one extension of the chain and owe their summaries to the audit channel in bulk."""
    rows = await tx.audit.append_many(events)
    owed = summaries(deps, events, rows)
    if owed:
        await tx.outbox.owe_many(owed)
    return rows


async def owe_home_refresh(tx: UnitOfWork, *users: str, approvers_of: str | None = None) -> None:
    """Owe a refresh of these users' App Home (and, given a request ID, its approvers')."""
    await tx.outbox.owe(RefreshHome(tuple(sorted(set(users))), approvers_of))
