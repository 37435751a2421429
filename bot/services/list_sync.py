"""Cloudflare writes for a list role: one PATCH of its Zero Trust EMAIL list settles every add and removal due.

Under the target's lock (the outbox key of `list:<list_id>`): read what the database wants (emails a grant
still in its time needs, by `bot.domain.membership.needs_membership`; emails the bot added that nothing needs
any more), record ownership of the emails about to be appended (so a crash after the PATCH still knows they
are ours), PATCH once, then mark grants active or revoked. No GET: the list is the bot's, and Cloudflare
treats the append and the removal as changes, not as a replacement, so nobody's hand edit is overwritten.
"""

from __future__ import annotations

from typing import Any

from bot.domain.effects import NotifyAdmins
from bot.domain.errors import PermanentError
from bot.domain.membership import ListChange, list_of, needed_emails, needs_membership, plan_list_change
from bot.domain.model import Grant, GrantState
from bot.services.context import Deps
from bot.services.group_sync import ending, give_up, mark_applied, mark_revoked, read_wanted


async def sync_list(deps: Deps, account_id: str, target: str, effect_ids: list[int], *,
                    had_alerts: bool = False) -> dict[str, Any]:
    """Bring one list in line with the database; raises TransientError to be retried later.

    The caller holds the target's lock. Returns counts of what changed."""
    list_id = list_of(target) or target
    grants, managed, now = await read_wanted(deps, account_id, target)
    # A pending grant's email is appended (again, after a crash: appending is idempotent) unless a running
    # grant's confirmed PATCH already put it there: Cloudflare is not asked to append a value it holds.
    running = {g.email.lower() for g in grants if g.state is GrantState.ACTIVE and needs_membership(g, now)}
    to_add = {g.email for g in grants if g.state is GrantState.PENDING and g.email.lower() not in running}
    change = plan_list_change(to_add, managed - needed_emails(grants, now))
    try:
        change = await _write_or_fall_back(deps, account_id, target, change, grants)
    except PermanentError as exc:
        await give_up(deps, grants, exc, effect_ids)
        return {"failed": len(grants)}
    removed = set(change.remove)
    async with deps.store.tx() as tx:
        await tx.outbox.finish_effects(effect_ids)
        await tx.members.remove(account_id, target, removed)
        applied = revoked = 0
        for g in grants:
            if g.state is GrantState.PENDING:  # (a pending grant failed above is no longer pending: a no-op)
                applied += await mark_applied(deps, tx, g, standing=False)
            elif ending(g, now):
                revoked += await mark_revoked(deps, tx, g, left_group=g.email.lower() in removed)
        if had_alerts and revoked:
            await tx.outbox.owe(NotifyAdmins("revoke_recovered", account_id=account_id, group_id=target))
    return {"applied": applied, "revoked": revoked, "added": len(change.append), "removed": len(removed),
            "patch": int(change.changed), "list_id": list_id}


async def _write_or_fall_back(deps: Deps, account_id: str, target: str, change: ListChange,
                              grants: list[Grant]) -> ListChange:
    """PATCH `change`; when Cloudflare refuses a PATCH that also appends (e.g. the list is full), fail the
    pending grants (their adds were refused) and still make the removals on their own. What was done."""
    try:
        await write_list(deps, account_id, target, change)
        return change
    except PermanentError as exc:
        if not (change.append and change.remove):
            raise
        removals = ListChange((), change.remove)
        await write_list(deps, account_id, target, removals)
        await give_up(deps, [g for g in grants if g.state is GrantState.PENDING], exc, [])
        return removals


async def write_list(deps: Deps, account_id: str, target: str, change: ListChange) -> None:
    """The ownership protocol's write for a list: record ownership of the emails about to be appended, then
    PATCH once if anything changes. The caller forgets the removed emails once the PATCH succeeded.

    A PATCH refused for good changed nothing at Cloudflare, so the ownership just recorded is taken back (else
    the next sync would ask Cloudflare to remove values it never held); after a timeout it stays (it may have
    landed)."""
    fresh: set[str] = set()
    if change.append:
        async with deps.store.tx() as tx:
            fresh = set(change.append) - await tx.members.emails(account_id, target)
            await tx.members.add(account_id, target, fresh)
    if not change.changed:
        return
    try:
        await deps.groups.patch_list(account_id, list_of(target) or target, list(change.append), list(change.remove))
    except PermanentError:
        if fresh:
            async with deps.store.tx() as tx:
                await tx.members.remove(account_id, target, fresh)
        raise
