"""App Home: the caller's grants and pending requests, and for approvers what waits for them."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.durations import format_duration
from bot.domain.model import AccessRequest, Grant, GrantState
from bot.services import queries
from bot.services.context import Deps
from bot.slack import blocks as bk
from bot.slack.approval_view import ended_how
from bot.slack.errors import call
from bot.slack.incident_blocks import review_message
from bot.slack.text import cut, inert

OPEN_MODAL = "access_open_modal"


WAITING_SHOWN = 15  # requests waiting for the viewer's decision shown on the Home tab


async def home_view(deps: Deps, user: str) -> dict[str, Any]:
    """The Home tab of one user, rendered from the database as it is now: their grants and pending requests,
    what waits for their decision, and their last few ended grants."""
    mine = await queries.my_access(deps, user, waiting=True)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Your access"}},
        {"type": "actions", "elements": [bk.button("Request access", OPEN_MODAL, "open", "primary")]},
    ]
    blocks += bk.grants_and_requests(mine.grants, mine.requests, deps.clock.now())
    blocks += waiting_blocks(mine.waiting)
    blocks += history_blocks(mine.history)
    if deps.policy.is_admin(user):
        blocks += await _reviews(deps)
    return {"type": "home", "blocks": blocks[:100]}


def waiting_blocks(waiting: list[AccessRequest]) -> list[dict[str, Any]]:
    """The requests waiting for the viewer's decision, each with Approve and a confirmed Deny."""
    if not waiting:
        return []
    blocks: list[dict[str, Any]] = [{"type": "divider"},
                                    bk.mrkdwn(f"*{len(waiting)} request(s) wait for your decision*")]
    for r in waiting[:WAITING_SHOWN]:
        starts = f", starting {bk.when(r.starts_at)}" if r.starts_at else ""
        escalated = " _(escalated to you)_" if r.escalated_at else ""
        blocks.append(bk.mrkdwn(f"`{r.id}` <@{r.requester}> — *{r.role}* for {format_duration(r.duration)}"
                                f"{starts}, asked {bk.when(r.created_at)}{escalated}: {inert(cut(r.reason, 300))}"))
        blocks.append({"type": "actions", "block_id": f"decide:{r.id}", "elements": [
            bk.button("Approve", bk.APPROVE, r.id, "primary"), bk.deny_button(r)]})
    if len(waiting) > WAITING_SHOWN:
        blocks.append(bk.more_line(len(waiting) - WAITING_SHOWN, "`/access pending` lists them"))
    return blocks


def history_blocks(history: list[Grant]) -> list[dict[str, Any]]:
    """The viewer's last ended grants: role, from when to when, and how each ended."""
    if not history:
        return []
    lines = [f"`{g.id}` *{g.role}* {bk.when(g.granted_at or g.created_at)} → {bk.when(g.revoked_at)}"
             f"{ended_how(g) if g.state is GrantState.REVOKED else ' — failed'}" for g in history]
    return [{"type": "divider"}, bk.mrkdwn("*Your recent grants*\n" + "\n".join(lines))]


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
