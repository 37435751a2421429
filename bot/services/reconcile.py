"""Drift between the database and Cloudflare: what is missing, what should be gone, who stands in a group."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.domain.audit import AuditEvent
from bot.domain.effects import NotifyAdmins
from bot.domain.errors import ExternalError
from bot.domain.membership import (
    email_of_rule,
    list_item_values,
    list_of,
    needed_emails,
    needs_membership,
    plan_list_change,
)
from bot.domain.model import GrantState
from bot.domain.unit_of_work import Locker
from bot.services.approval import sync_key
from bot.services.context import Deps, record
from bot.services.group_sync import forget_removed, write_group
from bot.services.list_sync import write_list


@dataclass
class GroupDrift:
    """What one group looks like against the database."""

    account_id: str
    group_id: str
    roles: list[str]
    missing: list[str] = field(default_factory=list)     # an active grant's email not in the group
    stale: list[str] = field(default_factory=list)       # an email the bot added that no grant needs
    standing: list[Any] = field(default_factory=list)    # rules the bot did not add (privilege-creep report)
    error: str | None = None
    fixed: bool = False

    @property
    def drifted(self) -> bool:
        """True when the bot's own rules disagree with the database."""
        return bool(self.missing or self.stale)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for the audit log and `--json` output."""
        return {"account_id": self.account_id, "group_id": self.group_id, "roles": self.roles,
                "missing": self.missing, "stale": self.stale, "standing": self.standing, "error": self.error,
                "fixed": self.fixed}


def _groups(deps: Deps, extra: set[tuple[str, str]]) -> dict[tuple[str, str], list[str]]:
    """Every group to compare (the policy's, and any where the bot still owns emails) with its roles."""
    out: dict[tuple[str, str], list[str]] = {}
    for role in deps.policy.roles.values():
        out.setdefault((role.account_id, role.target), []).append(role.name)
    for key in extra:
        out.setdefault(key, [])
    return out


async def reconcile(deps: Deps, locker: Locker, *, fix: bool = False, actor: str = "system") -> list[GroupDrift]:
    """Compare every managed group with the database; with `fix`, repair only what the bot owns."""
    async with deps.store.tx() as tx:
        extra = await tx.members.groups()
    report = []
    for (account_id, group_id), roles in sorted(_groups(deps, extra).items()):
        drift = GroupDrift(account_id, group_id, sorted(roles))
        async with locker.hold(f"effects:{sync_key(account_id, group_id)}"):
            try:
                await _inspect(deps, drift, fix)
            except ExternalError as exc:
                drift.error = str(exc)
        report.append(drift)
    async with deps.store.tx() as tx:
        for drift in report:
            if drift.drifted or drift.error:
                await record(deps, tx, AuditEvent(actor, "drift.detected", details=drift.as_dict()))
        bad = [d for d in report if d.drifted]
        if bad:
            summary = "; ".join(
                f"group {d.group_id} ({', '.join(d.roles) or 'no role'}): missing {d.missing or '-'}, "
                f"still present {d.stale or '-'}" + (" — fixed" if d.fixed else "") for d in bad)
            await tx.outbox.owe(NotifyAdmins("drift", summary=summary))
    return report


async def _inspect(deps: Deps, drift: GroupDrift, fix: bool) -> None:
    """Fill in one group's drift; with `fix`, repair it through the group sync's ownership protocol."""
    async with deps.store.tx() as tx:
        grants = await tx.grants.find(states=(GrantState.PENDING, GrantState.ACTIVE, GrantState.REVOKING),
                                 account_id=drift.account_id, group_id=drift.group_id)
        managed = await tx.members.emails(drift.account_id, drift.group_id)
    list_id = list_of(drift.group_id)
    if list_id is not None:
        present = list_item_values(await deps.groups.get_list_items(drift.account_id, list_id))
        drift.standing = [{"value": v} for v in sorted(present - managed)]
    else:
        group = await deps.groups.get_group(drift.account_id, drift.group_id)
        present = set()
        for rule in group.get("include") or []:
            email = email_of_rule(rule)
            if email is not None:
                present.add(email.lower())
            if email is None or email.lower() not in managed:
                drift.standing.append(rule)
    # What the grants need now, at the clock's now (one rule for every writer): a grant whose end passed
    # while the bot was down needs nothing, so its email is never reported missing nor put back.
    now = deps.clock.now()
    needed = needed_emails(grants, now)
    running = {g.email.lower() for g in grants if g.state is GrantState.ACTIVE and needs_membership(g, now)}
    drift.missing = sorted(running - present)
    drift.stale = sorted((managed - needed) & present)
    if fix and drift.drifted and list_id is not None:
        # The same write the list sync makes: own the appended emails first, PATCH once, then forget the removed.
        await write_list(deps, drift.account_id, drift.group_id, plan_list_change(set(drift.missing), set(drift.stale)))
        async with deps.store.tx() as tx:
            await tx.members.remove(drift.account_id, drift.group_id, set(drift.stale))
        drift.fixed = True
    elif fix and drift.drifted:
        # The same write the group sync makes for grants: own the added emails first, PUT, then forget the removed.
        change = await write_group(deps, drift.account_id, drift.group_id, group, set(drift.missing), set(drift.stale))
        async with deps.store.tx() as tx:
            await forget_removed(tx, drift.account_id, drift.group_id, change)
        drift.fixed = True
