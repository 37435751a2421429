"""Cloudflare writes: one read-modify-write per group settles every add and removal due on it.

Under the group's lock: read what the database wants (emails that a grant still in its time needs, by
`bot.domain.membership.needs_membership`; emails the bot added that nothing needs any more), GET the
group, change only the bot's own email rules, record ownership of the emails about to be added (so a
crash after the PUT still knows they are ours), PUT, then mark grants active or revoked. Standing
members (rules the bot did not add) are never removed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.audit import AuditEvent
from bot.domain.effects import (
    Effect,
    NotifyAdmins,
    NotifyThread,
    NotifyUser,
    RefreshApprovalMessage,
    RefreshHome,
    RevokeSessions,
)
from bot.domain.errors import ExternalError, PermanentError
from bot.domain.membership import GroupChange, emails_in, needed_emails, needs_membership, plan_group_change
from bot.domain.model import Grant, GrantState, warn_time
from bot.domain.trace import bind_grants
from bot.domain.unit_of_work import UnitOfWork
from bot.services.context import Deps, owe_home_refresh, record, record_many
from bot.services.grants import start_expiry

LIVE = (GrantState.PENDING, GrantState.ACTIVE, GrantState.REVOKING)


async def sync_group(deps: Deps, account_id: str, group_id: str, effect_ids: list[int], *,
                     had_alerts: bool = False) -> dict[str, Any]:
    """Bring one group in line with the database; raises TransientError to be retried later.

    The caller holds the group's lock. Returns counts of what changed.
    """
    grants, managed, now = await read_wanted(deps, account_id, group_id)
    needed = needed_emails(grants, now)
    to_add = {g.email for g in grants if g.state is GrantState.PENDING and needs_membership(g, now)}
    to_remove = managed - needed
    try:
        group = await deps.groups.get_group(account_id, group_id)
        change = await write_group(deps, account_id, group_id, group, to_add, to_remove)
    except PermanentError as exc:
        await give_up(deps, grants, exc, effect_ids)
        return {"failed": len(grants)}
    standing = (emails_in(group) - managed) - set(change.added)
    async with deps.store.tx() as tx:
        await tx.outbox.finish_effects(effect_ids)
        await forget_removed(tx, account_id, group_id, change)
        applied = await mark_applied_many(deps, tx, [(g, g.email.lower() in standing) for g in grants
                                                     if g.state is GrantState.PENDING])
        after = emails_in(change.body)
        revoked = await mark_revoked_many(deps, tx, [
            (g, g.email.lower() in change.removed or g.email.lower() not in after)
            for g in grants if ending(g, now)])
        if had_alerts and revoked:
            await tx.outbox.owe(NotifyAdmins("revoke_recovered", account_id=account_id, group_id=group_id))
    return {"applied": applied, "revoked": revoked, "added": len(change.added), "removed": len(change.removed),
            "put": int(change.changed)}


async def read_wanted(deps: Deps, account_id: str, target: str) -> tuple[list[Grant], set[str], datetime]:
    """What the database wants of one group (or list), read under its lock: its live grants, the emails the bot
    added there, and the moment of the read.

    An active grant whose end has passed by then starts revoking here, as the expiry sweep would move it: the
    write at hand removes its email and marks it revoked. Left active, its email would go in this write but the
    grant would wait for the group's next write (a whole round of the Cloudflare budget later) to be marked."""
    async with deps.store.tx() as tx:
        grants = await tx.grants.find(states=LIVE, account_id=account_id, group_id=target)
        managed = await tx.members.emails(account_id, target)
        now = deps.clock.now()
        moved = {g.id: g for g in await start_expiry(tx, [g.id for g in grants if due_to_expire(g, now)], now)}
    grants = [moved.get(g.id, g) for g in grants]
    bind_grants((g.request_id, g.id) for g in grants if g.state in (GrantState.PENDING, GrantState.REVOKING))
    return grants, managed, now


def due_to_expire(g: Grant, now: datetime) -> bool:
    """An active grant whose end is at or before `now`."""
    return g.state is GrantState.ACTIVE and g.expires_at is not None and g.expires_at <= now


def ending(g: Grant, now: datetime) -> bool:
    """A grant this write ends: revoking, or due to expire (the sweep moved it to revoking after the read)."""
    return g.state is GrantState.REVOKING or due_to_expire(g, now)


async def write_group(deps: Deps, account_id: str, group_id: str, group: dict[str, Any], add: set[str],
                      remove: set[str]) -> GroupChange:
    """The ownership protocol's write: plan the change to the bot's own email rules in `group` (as just read),
    record ownership of the emails about to be added (so a crash after the PUT still knows they are ours),
    then PUT if anything changed. The caller holds the group's lock, and forgets the removed emails with
    `forget_removed` once it has settled what the PUT meant."""
    change = plan_group_change(group, add, remove)
    if change.added:
        async with deps.store.tx() as tx:
            await tx.members.add(account_id, group_id, set(change.added))
    if change.changed:
        await deps.groups.put_group(account_id, group_id, change.body)
    return change


async def forget_removed(tx: UnitOfWork, account_id: str, group_id: str, change: GroupChange) -> None:
    """The ownership protocol's last step: the emails the PUT removed are no longer the bot's."""
    await tx.members.remove(account_id, group_id, set(change.removed))


async def mark_applied(deps: Deps, tx: UnitOfWork, g: Grant, *, standing: bool) -> int:
    """Cloudflare confirmed the add: the grant is active and its clock starts now."""
    return await mark_applied_many(deps, tx, [(g, standing)])


async def mark_applied_many(deps: Deps, tx: UnitOfWork, settled: list[tuple[Grant, bool]]) -> int:
    """Cloudflare confirmed the adds: each `(grant, already_member)` still pending is active and its clock starts
    now. One bulk move, one extension of the audit chain, the notices owed in one insert; returns how many."""
    if not settled:
        return 0
    now = deps.clock.now()
    ends: dict[str, tuple[datetime, datetime | None]] = {}
    for g, _ in settled:
        role = deps.policy.role(g.role)
        expires = now + g.duration
        ends[g.id] = (expires, warn_time(expires, role.warn_before, now) if role else None)
    moved = set(await tx.grants.activate_many([(gid, *times) for gid, times in ends.items()], now))
    done = [(g, standing) for g, standing in settled if g.id in moved]
    await record_many(deps, tx, [AuditEvent(
        "system", "grant.applied", request_id=g.request_id, grant_id=g.id, role=g.role, subject=g.email,
        details={"account_id": g.account_id, "group_id": g.group_id, "expires_at": ends[g.id][0].isoformat(),
                 "already_member": standing}) for g, standing in done])
    effects: list[Effect] = []
    for g, _ in done:
        effects += [NotifyUser(g.requester, "approved", grant_id=g.id), NotifyThread(g.request_id, "granted",
                    grant_id=g.id), RefreshApprovalMessage(g.request_id), RefreshHome((g.requester,), None)]
    await tx.outbox.owe_many(effects)
    return len(done)


async def mark_revoked(deps: Deps, tx: UnitOfWork, g: Grant, *, left_group: bool) -> int:
    """Cloudflare confirmed the removal (or another grant still needs the email): the grant is over."""
    return await mark_revoked_many(deps, tx, [(g, left_group)])


async def mark_revoked_many(deps: Deps, tx: UnitOfWork, settled: list[tuple[Grant, bool]]) -> int:
    """Cloudflare confirmed the removals: each `(grant, email_left_group)` still revoking is over. One bulk move
    (its RETURNING gives each grant's reason and actor), one extension of the audit chain, the notices owed in
    one insert; returns how many."""
    if not settled:
        return 0
    now = deps.clock.now()
    moved = {g.id: g for g in await tx.grants.move_many([g.id for g, _ in settled], (GrantState.REVOKING,),
                                                        GrantState.REVOKED, revoked_at=now)}
    done = [(moved[g.id], left) for g, left in settled if g.id in moved]
    await record_many(deps, tx, [AuditEvent(
        g.revoke_actor or "system", "grant.revoked", request_id=g.request_id, grant_id=g.id, role=g.role,
        subject=g.email, details={"reason": g.revoke_reason or "expired", "email_left_group": left,
                                  "overshoot_s": _overshoot(g, now)}) for g, left in done])
    effects: list[Effect] = []
    for g, left in done:
        if g.revoke_sessions and left:
            effects.append(RevokeSessions(g.account_id, g.email, g.id))
        event = "expired" if (g.revoke_reason or "expired") == "expired" else "revoked"
        effects += [RefreshHome((g.requester,), None), NotifyUser(g.requester, event, grant_id=g.id),
                    NotifyThread(g.request_id, event, grant_id=g.id),
                    RefreshApprovalMessage(g.request_id)]  # the approval message shows how it ended
    await tx.outbox.owe_many(effects)
    return len(done)


def _overshoot(g: Grant, now: datetime) -> float | None:
    """Seconds between the planned expiry and the confirmed removal (expiries only)."""
    if g.expires_at is None or g.revoke_reason not in (None, "expired"):
        return None
    return round((now - g.expires_at).total_seconds(), 3)


async def give_up(deps: Deps, grants: list[Grant], exc: ExternalError, effect_ids: list[int]) -> None:
    """Cloudflare refused for good: mark the grants failed, tell the requester and the admins, audit why."""
    now = deps.clock.now()
    async with deps.store.tx() as tx:
        await tx.outbox.finish_effects(effect_ids, state="failed", error=str(exc)[:2000])
        for g in grants:
            if g.state is GrantState.ACTIVE:
                continue
            if not await tx.grants.move(g.id, (g.state,), GrantState.FAILED, failure=str(exc)[:2000]):
                continue
            action = "grant.apply_failed" if g.state is GrantState.PENDING else "grant.revoke_failed"
            await record(deps, tx, AuditEvent("system", action, request_id=g.request_id, grant_id=g.id,
                                              role=g.role, subject=g.email,
                                              details={"final": True, "at": now.isoformat(), **exc.details()}))
            stage = "apply" if g.state is GrantState.PENDING else "revoke"
            await tx.outbox.owe(NotifyUser(g.requester, "failed", grant_id=g.id, stage=stage))
            await owe_home_refresh(tx, g.requester)
            await tx.outbox.owe(NotifyAdmins("grant_failed", grant_id=g.id, stage=stage, error=str(exc)[:500]))


async def revoke_sessions(deps: Deps, account_id: str, email: str, grant_id: str, effect_id: int) -> None:
    """End the person's open Access sessions (every app of the account) and audit it, once."""
    try:
        await deps.groups.revoke_user(account_id, email)
    except PermanentError as exc:
        async with deps.store.tx() as tx:
            await tx.outbox.finish_effects([effect_id], state="failed", error=str(exc)[:2000])
            g = await tx.grants.get(grant_id)
            await record(deps, tx, AuditEvent("system", "grant.revoke_failed", grant_id=grant_id,
                                              request_id=g.request_id if g else None, role=g.role if g else None,
                                              subject=email, details={"stage": "sessions", **exc.details()}))
            await tx.outbox.owe(NotifyAdmins("sessions_failed", grant_id=grant_id, error=str(exc)[:500]))
        return
    async with deps.store.tx() as tx:
        await tx.outbox.finish_effects([effect_id])
        g = await tx.grants.get(grant_id)
        await record(deps, tx, AuditEvent("system", "session.revoked", grant_id=grant_id,
                                          request_id=g.request_id if g else None, role=g.role if g else None,
                                          subject=email, details={"account_id": account_id}))


async def alert_revoke_failing(deps: Deps, account_id: str, group_id: str, error: str, since: datetime,
                               attempt: int) -> bool:
    """A revocation on this group keeps failing: audit `grant.revoke_failed` and alert the admins."""
    async with deps.store.tx() as tx:
        revoking = await tx.grants.find(states=(GrantState.REVOKING,), account_id=account_id, group_id=group_id)
        if not revoking:
            return False
        for g in revoking:
            await record(deps, tx, AuditEvent("system", "grant.revoke_failed", request_id=g.request_id,
                                              grant_id=g.id, role=g.role, subject=g.email,
                                              details={"final": False, "error": error[:500],
                                                       "failing_since": since.isoformat(), "attempt": attempt}))
        await tx.outbox.owe(NotifyAdmins("revoke_failing", account_id=account_id, group_id=group_id,
                                  grants=tuple(g.id for g in revoking), error=error[:500], since=since.isoformat()))
    return True
