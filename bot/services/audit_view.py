"""Reading the audit log from Slack: the last events, for the policy's admins only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.domain.errors import PermanentError
from bot.domain.outcomes import Refused
from bot.services.context import Deps
from bot.services.identity import profile_email
from bot.services.requests import refuse

DEFAULT_EVENTS = 20
MAX_EVENTS = 100


@dataclass(frozen=True)
class AuditQuery:
    """Which events an admin asked for: all, one role's, or one person's; the newest `limit` of them."""

    role: str | None = None
    user_id: str | None = None
    limit: int = DEFAULT_EVENTS


async def recent_events(deps: Deps, actor: str, query: AuditQuery) -> Refused | list[dict[str, Any]]:
    """The newest matching audit events, oldest first; a refusal (audited) when `actor` is not an admin.

    A person's events are those they acted in and those about them (their email is the subject),
    so the email is looked up in Slack; a user Slack no longer knows is matched as actor only."""
    if not deps.policy.is_admin(actor):
        return await refuse(deps, actor, Refused("not_admin"))
    email: str | None = None
    if query.user_id:
        try:
            profile = await deps.directory.user_profile(query.user_id)
        except PermanentError:
            profile = {}
        email = profile_email(profile)
    async with deps.store.tx() as tx:
        return await tx.audit.rows(role=query.role, actor=query.user_id, subject=email,
                                   limit=max(1, min(query.limit, MAX_EVENTS)), newest=True)
