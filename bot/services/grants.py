"""Ending grants (by hand or on time) and warning before they end."""

from __future__ import annotations

from bot.domain.audit import AuditEvent
from bot.domain.effects import NotifyThread, NotifyUser
from bot.domain.model import GrantState
from bot.domain.outcomes import Outcome, Refused, Revoking
from bot.domain.trace import bind
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


async def expire_grant(deps: Deps, grant_id: str) -> bool:
    """Start revoking an active grant whose time is up; re-reads state so an extended grant is left alone."""
    return await expire_grants(deps, [grant_id]) == 1


async def expire_grants(deps: Deps, grant_ids: list[str]) -> int:
    """Start revoking every listed grant whose time is up, in one transaction; returns how many."""
    now = deps.clock.now()
    groups: set[tuple[str, str]] = set()
    moved = 0
    async with deps.store.tx() as tx:
        for grant_id in grant_ids:
            grant = await tx.grants.get(grant_id, lock=True)
            if grant is None or grant.state is not GrantState.ACTIVE or grant.expires_at is None \
                    or grant.expires_at > now:
                continue
            if await tx.grants.move(grant.id, (GrantState.ACTIVE,), GrantState.REVOKING,
                                   revoke_reason="expired", revoke_actor="system"):
                moved += 1
                groups.add((grant.account_id, grant.group_id))
        for account_id, group_id in sorted(groups):
            await owe_group_sync(tx, account_id, group_id, removal=True)
    return moved


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
