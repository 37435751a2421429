"""What every use case needs, gathered in one place by the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.domain.audit import AuditEvent
from bot.domain.clock import Clock
from bot.domain.policy import Policy
from bot.domain.ports import AccessGroups, Directory
from bot.storage.store import Store, Tx


@dataclass
class Outcome:
    """What a use case tells the person who asked: done or refused, in words they can act on."""

    ok: bool
    message: str
    code: str = "ok"
    data: dict[str, Any] | None = None


@dataclass
class Deps:
    """The store, the clock, the policy and the ports the use cases call."""

    store: Store
    clock: Clock
    policy: Policy
    directory: Directory
    groups: AccessGroups
    revoke_alert_after: timedelta = timedelta(minutes=3)


async def record(deps: Deps, tx: Tx, event: AuditEvent) -> dict[str, Any]:
    """Append an audit event and owe its one-line summary to the audit channel (when there is one)."""
    row = await tx.audit(event)
    if deps.policy.audit_channel:
        await tx.enqueue("audit.summary", {"seq": row["seq"]}, key="slack")
    return row


async def owe_home_refresh(tx: Tx, *users: str, approvers_of: str | None = None) -> None:
    """Owe a refresh of these users' App Home (and, given a request ID, its approvers')."""
    await tx.enqueue("home.refresh", {"users": sorted(set(users)), "approvers_of": approvers_of}, key="slack")
