"""App Home: the caller's grants and pending requests, and for approvers what waits for them."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.durations import format_duration
from bot.services import queries
from bot.services.context import Deps
from bot.slack import blocks as bk
from bot.slack.errors import call
from bot.slack.incident_blocks import review_message
from bot.slack.text import cut, inert

OPEN_MODAL = "access_open_modal"


async def home_view(deps: Deps, user: str) -> dict[str, Any]:
    """The Home tab of one user, rendered from the database as it is now."""
    mine = await queries.my_access(deps, user, waiting=True)
    grants, reqs, waiting = mine.grants, mine.requests, mine.waiting
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Your access"}},
        {"type": "actions", "elements": [bk.button("Request access", OPEN_MODAL, "open", "primary")]},
    ]
    blocks += bk.grants_and_requests(grants, reqs, deps.clock.now())
    if waiting:
        blocks.append({"type": "divider"})
        blocks.append(bk.mrkdwn(f"*{len(waiting)} request(s) wait for your decision*"))
        for r in waiting[:20]:
            escalated = " _(escalated to you)_" if r.escalated_at else ""
            blocks.append(bk.mrkdwn(f"`{r.id}` <@{r.requester}> — *{r.role}* for {format_duration(r.duration)}"
                                    f"{escalated}: {inert(cut(r.reason, 300))}"))
            blocks.append({"type": "actions", "block_id": f"decide:{r.id}", "elements": [
                bk.button("Approve", bk.APPROVE, r.id, "primary"), bk.button("Deny", bk.DENY, r.id, "danger")]})
    if deps.policy.is_admin(user):
        blocks += await _reviews(deps)
    return {"type": "home", "blocks": blocks[:100]}


async def _reviews(deps: Deps) -> list[dict[str, Any]]:
    """For an admin: the break-glass grants nobody has reviewed yet, each with Acknowledge / Revoke now."""
    unreviewed = await queries.unreviewed_break_glass(deps)
    if not unreviewed:
        return []
    blocks: list[dict[str, Any]] = [{"type": "divider"},
                                    bk.mrkdwn(f"*{len(unreviewed)} break-glass grant(s) wait for review*")]
    for grant in unreviewed[:10]:
        review = review_message(grant, None)["blocks"]
        blocks += [review[1], review[-1]]  # who took what, and the buttons
    return blocks


async def publish_home(deps: Deps, client: AsyncWebClient, user: str) -> None:
    """views.publish the user's Home tab."""
    await call(client.views_publish, user_id=user, view=await home_view(deps, user))
