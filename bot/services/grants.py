"""Ending grants (by hand or on time) and warning before they end."""

from __future__ import annotations

from datetime import datetime

from bot.domain.audit import AuditEvent
from bot.domain.effects import NotifyThread, NotifyUser
from bot.domain.model import Grant, GrantState
from bot.domain.outcomes import Outcome, Refused, Revoking
from bot.domain.trace import bind
from bot.domain.unit_of_work import UnitOfWork
from bot.services.approval import owe_group_sync
from bot.services.context import Deps, record


async def revoke(deps: Deps, actor: str, grant_id: str, *, reason_text: str = "", via: str = "slack") -> Outcome:
    """End a grant now: the holder's own (`manual`), an admin's (`admin`) or an operator's (`cli`)."""
    async with deps.store.tx() as tx:
        grant = await tx.grants.get(grant_id, lock=True)
        is_admin = via == "cli" or deps.policy.is_admin(actor)
        if grant is None or (grant.requester != actor and not is_admin):
            await record(deps, tx, AuditEvent(actor, "request.refused", grant_id=grant_id[:16],
                                              details={"code": "unknown_grant", "op": "revoke"}))
            return Refused("unknown_grant", {"grant_id": grant_id})
        bind(request_id=grant.request_id, grant_id=grant.id)  # the log lines of whoever asked carry the ids
        reason = "cli" if via == "cli" else ("manual" if grant.requester == actor else "admin")
        if not await tx.grants.move(grant.id, (GrantState.PENDING, GrantState.ACTIVE), GrantState.REVOKING,
                                   revoke_reason=reason, revoke_actor=actor):
            return Refused("not_active", {"grant_id": grant.id, "state": grant.state.value})
        await owe_group_sync(tx, grant.account_id, grant.group_id, removal=True)
        if reason_text:
            await tx.outbox.owe(NotifyThread(grant.request_id, "revoke_requested", grant_id=grant.id, by=actor,
                                      note=reason_text[:500]))
        if reason != "manual":  # someone else ends it: the holder hears at once who, and why
            await tx.outbox.owe(NotifyUser(grant.requester, "revoke_started", grant_id=grant.id, by=actor,
                                           note=reason_text[:500] or None))
    return Revoking(grant.id, grant.role)


# Expiries moved to revoking per transaction, and at most this many transactions a tick: a sweep of 10,000
# lands in revoking (with one group sync owed per group) before the group workers read, so each group is
# written about once; a still bigger backlog lets the workers start after EXPIRE_BATCHES batches.
EXPIRE_BATCH = 1000
EXPIRE_BATCHES = 20


async def expire_grant(deps: Deps, grant_id: str) -> bool:
    """Start revoking an active grant whose time is up; re-reads state so an extended grant is left alone."""
    return await expire_grants(deps, [grant_id]) == 1


async def expire_grants(deps: Deps, grant_ids: list[str]) -> int:
    """Start revoking every listed grant whose time is up, in one transaction; returns how many.

    One UPDATE moves them all, compare-and-set on `active` and on the end being past (a grant extended or
    revoked meanwhile is left alone), then one group sync is owed per group touched."""
    async with deps.store.tx() as tx:
        return await _expire_in(deps, tx, grant_ids)


async def expire_due(deps: Deps, *, batch: int = EXPIRE_BATCH, batches: int = EXPIRE_BATCHES) -> int:
    """Start revoking every active grant whose time is up, `batch` a transaction, at most `batches`
    transactions; returns how many moved."""
    moved = 0
    for _ in range(batches):
        async with deps.store.tx() as tx:
            due = await tx.grants.due_expiries(deps.clock.now(), limit=batch)
            moved += await _expire_in(deps, tx, due)
        if len(due) < batch:
            break
    return moved


async def start_expiry(tx: UnitOfWork, grant_ids: list[str], now: datetime) -> list[Grant]:
    """Move the listed active grants whose end is at or before `now` to revoking (an expiry, by the system),
    compare-and-set, inside the caller's transaction; the grants that moved, as they are now."""
    if not grant_ids:
        return []
    return await tx.grants.move_many(grant_ids, (GrantState.ACTIVE,), GrantState.REVOKING, due_by=now,
                                     revoke_reason="expired", revoke_actor="system")


async def _expire_in(deps: Deps, tx: UnitOfWork, grant_ids: list[str]) -> int:
    """The bulk move to revoking and the group syncs it owes, inside the caller's transaction."""
    if not grant_ids:
        return 0
    moved = await start_expiry(tx, grant_ids, deps.clock.now())
    for account_id, group_id in sorted({(g.account_id, g.group_id) for g in moved}):
        await owe_group_sync(tx, account_id, group_id, removal=True)
    return len(moved)


async def warn_grant(deps: Deps, grant_id: str) -> bool:
    """Send the expiry warning once, `warn_before` ahead of the end."""
    now = deps.clock.now()
    async with deps.store.tx() as tx:
        grant = await tx.grants.get(grant_id, lock=True)
        if grant is None or grant.state is not GrantState.ACTIVE or grant.warned or grant.warn_at is None \
                or grant.warn_at > now:
            return False
        if not await tx.grants.update(grant.id, GrantState.ACTIVE, warned=True):
            return False
        await record(deps, tx, AuditEvent("system", "grant.warned", request_id=grant.request_id,
                                          grant_id=grant.id, role=grant.role, subject=grant.email,
                                          details={"expires_at": grant.expires_at.isoformat()
                                                   if grant.expires_at else None}))
        await tx.outbox.owe(NotifyUser(grant.requester, "warned", grant_id=grant.id))
        await tx.outbox.owe(NotifyThread(grant.request_id, "warned", grant_id=grant.id))
    return True
