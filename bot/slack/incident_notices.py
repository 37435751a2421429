"""The Messenger's incident-time operations on Slack: reminders, escalation, the break-glass announcement and
its review reminders (each renders from the database as it is when it runs)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.domain.effects import BreakGlassReview, EscalateRequest, RemindApprovers
from bot.services import conversations, queries
from bot.slack import incident_blocks as ib
from bot.slack.approval_view import approval_message

if TYPE_CHECKING:
    from bot.slack.notifier import SlackMessenger


async def remind(m: SlackMessenger, effect: RemindApprovers) -> None:
    """Re-ping the approvers who have not acted: in the approval message's thread and by DM."""
    req, _, msgs = await m._messages_or_wait(effect.request_id)
    if req is None or not req.is_open:
        return  # decided since the reminder was owed: nobody needs it
    waiting = [u for u in await m._approver_users(req) if not req.has_voted(u)]
    dm_done: set[str] = set()
    for msg in msgs:
        if msg.approver:  # the approver's own DM: the reminder goes in its thread
            if msg.approver in waiting:
                await m.post(msg.channel, ib.reminder_dm(req, effect.nth), thread_ts=msg.ts)
                dm_done.add(msg.approver)
        else:
            await m.post(msg.channel, ib.reminder_text(req, effect.nth, waiting), thread_ts=msg.ts)
    for user in waiting:
        if user not in dm_done:
            await m.post(user, ib.reminder_dm(req, effect.nth))


async def escalate(m: SlackMessenger, effect: EscalateRequest) -> None:
    """Say in the thread that the request escalated, and ask each escalation target directly (their message is
    kept like an approver's, so it is updated when the request is decided)."""
    req, grant, msgs = await m._messages_or_wait(effect.request_id)
    role = m.deps.policy.role(req.role) if req else None
    if req is None or role is None or not req.is_open:
        return
    asked = {msg.approver for msg in msgs if msg.approver}
    for msg in msgs:
        if not msg.approver:
            await m.post(msg.channel, ib.escalation_text(req, role.escalate_to), thread_ts=msg.ts)
    targets = [u for u in await m._users_of(role.escalate_to) if u not in asked
               and (u != req.requester or role.allow_self_approval)]
    msg = approval_message(req, role, grant, requester_name=await m.directory.display_name(req.requester))
    for user in targets:
        resp = await m.post(user, msg["text"], msg["blocks"])
        await conversations.approval_posted(m.deps, req.id, resp["channel"], resp["ts"], user)


async def break_glass_review(m: SlackMessenger, effect: BreakGlassReview) -> None:
    """Announce a break-glass grant loudly (the audit channel and every admin, whose message asks for the
    review), or remind the admins while nobody has acknowledged it."""
    grant = await queries.grant(m.deps, effect.grant_id)
    if grant is None:
        return
    req, _, msgs = await m._load(grant.request_id)
    policy = m.deps.policy
    if effect.nth == 0:
        posted = {msg.approver for msg in msgs if msg.approver}
        msg = ib.review_message(grant, req)
        for admin in policy.admins:  # each admin's review message is kept: Acknowledge updates them all
            if admin not in posted:
                resp = await m.post(admin, msg["text"], msg["blocks"])
                await conversations.approval_posted(m.deps, grant.request_id, resp["channel"], resp["ts"], admin)
        if policy.audit_channel:  # last: a retry after a failed admin DM does not post it twice
            await m.post(policy.audit_channel, ib.loud_line(grant, req))
        return
    if grant.acknowledged_at is not None:
        return
    msg = ib.review_message(grant, req, effect.nth)
    for admin in policy.admins:
        await m.post(admin, msg["text"], msg["blocks"])
