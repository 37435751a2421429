"""Slack conversation state the adapters record: deliveries seen, App Home openers, approval messages posted."""

from __future__ import annotations

from bot.services.context import Deps


async def first_delivery(deps: Deps, key: str) -> bool:
    """True the first time a delivery key is seen (Slack retries carry the same event_id)."""
    async with deps.store.tx() as tx:
        return await tx.deliveries.first(key)


async def first_deliveries(deps: Deps, keys: list[str]) -> set[str]:
    """The delivery keys among `keys` seen for the first time, all recorded by one statement."""
    async with deps.store.single() as tx:
        return await tx.deliveries.first_of(keys)


async def saw_home(deps: Deps, user_id: str) -> None:
    """Remember that this user opened the App Home (their Home is kept fresh from now on)."""
    async with deps.store.tx() as tx:
        await tx.slack.saw_home(user_id)


async def approval_posted(deps: Deps, request_id: str, channel: str, ts: str, approver: str | None) -> None:
    """Remember where an approval message was posted (to update it and thread under it later)."""
    async with deps.store.tx() as tx:
        await tx.slack.add_approval_message(request_id, channel, ts, approver)


async def audit_thread(deps: Deps, request_id: str, channel: str) -> str | None:
    """The ts of the request's thread in the audit channel, or None when its first line is still to be posted."""
    async with deps.store.tx() as tx:
        return await tx.slack.audit_thread(request_id, channel)


async def audit_thread_started(deps: Deps, request_id: str, channel: str, ts: str) -> None:
    """Remember the line that starts the request's thread in the audit channel."""
    async with deps.store.tx() as tx:
        await tx.slack.add_audit_thread(request_id, channel, ts)
