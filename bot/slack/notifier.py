"""The Messenger port on Slack: approval messages, DMs, thread notes, alerts and App Home refreshes."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.audit_digest import AuditDigest
from bot.domain.durations import format_duration
from bot.domain.effects import (
    AskOnCall,
    BreakGlassReview,
    EscalateRequest,
    NotifyAdmins,
    NotifyApprovers,
    NotifyThread,
    NotifyUser,
    PostApproval,
    PostAuditSummary,
    RefreshApprovalMessage,
    RefreshHome,
    RemindApprovers,
    encode,
)
from bot.domain.errors import TransientError
from bot.domain.ids import ID_PATTERN
from bot.domain.incident import role_for
from bot.domain.membership import list_of
from bot.domain.model import AccessRequest, Grant
from bot.services import conversations, queries
from bot.services.context import Deps
from bot.slack import blocks as bk
from bot.slack import incident_blocks as ib
from bot.slack import incident_notices
from bot.slack.approval_view import approval_message, ended_how
from bot.slack.audit_lines import audit_line, digest_message
from bot.slack.directory import SlackDirectory
from bot.slack.errors import call
from bot.slack.home import publish_home
from bot.slack.text import cut, inert

log = logging.getLogger(__name__)


class SlackMessenger:
    """The Messenger port on Slack: each operation renders from the database as it is now."""

    def __init__(self, deps: Deps, client: AsyncWebClient, directory: SlackDirectory) -> None:
        self.deps = deps
        self.client = client
        self.directory = directory

    # ---- helpers --------------------------------------------------------------------------
    async def _load(self, request_id: str) -> tuple[AccessRequest | None, Grant | None, list[Any]]:
        """The request, its grant and where its approval message(s) were posted."""
        view = await queries.request_view(self.deps, request_id)
        return view.request, view.grant, view.messages

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None = None,
                   thread_ts: str | None = None) -> dict[str, Any]:
        """chat.postMessage (a user ID as channel sends a DM)."""
        kwargs: dict[str, Any] = {"channel": channel, "text": cut(text, 3900)}
        if blocks:
            kwargs["blocks"] = blocks
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        resp = await call(self.client.chat_postMessage, **kwargs)
        return dict(resp.data) if hasattr(resp, "data") else dict(resp)

    async def _approver_users(self, req: AccessRequest) -> list[str]:
        """The people asked to decide the request, in policy order, without the requester (unless allowed)."""
        role = self.deps.policy.role(req.role)
        if role is None:
            return []
        role = role_for(role, req)  # once escalated, its escalate_to are asked too
        return [u for u in await self._users_of(role.approvers) if u != req.requester or role.allow_self_approval]

    async def _users_of(self, principals: tuple[str, ...]) -> list[str]:
        """The people user and user-group IDs name, in order, each once."""
        users = [p for p in principals if not p.startswith("S")]
        for gid in (p for p in principals if p.startswith("S")):
            users.extend(sorted(await self.directory.members(gid)))
        return list(dict.fromkeys(users))

    async def _messages_or_wait(self, request_id: str) -> tuple[AccessRequest | None, Grant | None, list[Any]]:
        """The request, its grant and approval messages; retry later while the approval post is still owed.

        The post shares the request's outbox key, so only that key's few pending rows are read."""
        req, grant, msgs = await self._load(request_id)
        if req is not None and not msgs and await queries.approval_post_owed(self.deps, request_id):
            raise TransientError("approval message not posted yet", retry_after=1.0)
        return req, grant, msgs

    async def _grant(self, grant_id: str | None) -> Grant | None:
        """The grant, or None."""
        if not grant_id:
            return None
        return await queries.grant(self.deps, grant_id)

    # ---- the Messenger operations ---------------------------------------------------------
    async def post_approval(self, effect: PostApproval) -> None:
        """Post the approval message to the role's channel, or to each approver directly."""
        req, grant, msgs = await self._load(effect.request_id)
        if req is None:
            return
        role = self.deps.policy.role(req.role)
        msg = approval_message(req, role, grant, requester_name=await self.directory.display_name(req.requester))
        targets = [(role.approval_channel, None)] if role and role.approval_channel else \
            [(u, u) for u in await self._approver_users(req)]
        done = {m.approver or m.channel for m in msgs}
        for channel, approver in targets:
            if (approver or channel) in done:
                continue
            resp = await self.post(channel, msg["text"], msg["blocks"])
            await conversations.approval_posted(self.deps, req.id, resp["channel"], resp["ts"], approver)

    async def ask_oncall(self, effect: AskOnCall) -> None:
        """Send the approval message to each on-call approver directly (once each, across retries)."""
        req, grant, msgs = await self._load(effect.request_id)
        if req is None or not req.is_open:
            return
        msg = approval_message(req, self.deps.policy.role(req.role), grant,
                               requester_name=await self.directory.display_name(req.requester))
        done = {m.approver for m in msgs if m.approver}
        for person in await queries.oncall_approvers(self.deps, req.id):
            if person.user in done:
                continue
            why = (f":pager: You are on call (PagerDuty schedule `{inert(person.schedule_id)}`), so you are asked to "
                   "decide this request too.")
            resp = await self.post(person.user, f"{why} {msg['text']}", [bk.mrkdwn(why), *msg["blocks"]])
            await conversations.approval_posted(self.deps, req.id, resp["channel"], resp["ts"], person.user)
            done.add(person.user)

    async def refresh_approval(self, effect: RefreshApprovalMessage) -> None:
        """Update the approval message(s) in place to show the request as it is now."""
        req, grant, msgs = await self._messages_or_wait(effect.request_id)
        if req is None or not msgs:
            return
        role = self.deps.policy.role(req.role)
        msg = ib.review_message(grant, req) if grant is not None and grant.break_glass else \
            approval_message(req, role, grant, requester_name=await self.directory.display_name(req.requester))
        for m in msgs:
            await call(self.client.chat_update, channel=m.channel, ts=m.ts, text=msg["text"], blocks=msg["blocks"])

    async def notify_thread(self, effect: NotifyThread) -> None:
        """A later event of the grant, in the approval message's thread."""
        req, _, msgs = await self._messages_or_wait(effect.request_id)
        if req is None or not msgs:
            return
        text = thread_text(effect, await self._grant(effect.grant_id))
        for m in msgs:
            await self.post(m.channel, text, thread_ts=m.ts)

    async def notify_user(self, effect: NotifyUser) -> None:
        """A direct message to the requester."""
        grant = await self._grant(effect.grant_id)
        req = None
        if effect.request_id:
            req, _, _ = await self._load(effect.request_id)
        text, blocks = user_message(effect, grant, req)
        await self.post(effect.user, text, blocks)

    async def notify_approvers(self, effect: NotifyApprovers) -> None:
        """Tell approvers who were asked directly that someone else decided, or that it expired."""
        req, _, msgs = await self._load(effect.request_id)
        if req is None:
            return
        by = f" by <@{req.decided_by}>" if req.decided_by and req.decided_by != "system" else ""
        text = (f"Request `{req.id}` from <@{req.requester}> for *{req.role}* was {effect.event}{by}; "
                "nothing more is needed from you.")
        for m in msgs:
            if m.approver and m.approver != effect.except_:
                await self.post(m.channel, text, thread_ts=m.ts)

    async def notify_admins(self, effect: NotifyAdmins) -> None:
        """An alert to the audit channel, or to each admin directly when there is none."""
        text = admin_text(effect)
        targets = [self.deps.policy.audit_channel] if self.deps.policy.audit_channel else \
            list(self.deps.policy.admins)
        for target in targets:
            await self.post(target, text)

    async def refresh_home(self, effect: RefreshHome) -> None:
        """Republish the App Home of people whose grants or requests changed (and of a request's approvers).

        Only for people who have opened the Home at least once; nobody else would ever see it.
        """
        users = list(effect.users)
        if effect.approvers_of:
            req, _, _ = await self._load(effect.approvers_of)
            if req is not None:
                users += await self._approver_users(req)
                users += [a.user for a in await queries.oncall_approvers(self.deps, req.id)]
        viewers = await queries.home_viewers(self.deps, users)
        for user in viewers:
            await publish_home(self.deps, self.client, user)

    async def remind_approvers(self, effect: RemindApprovers) -> None:
        """Re-ping the approvers who have not acted (thread + DM)."""
        await incident_notices.remind(self, effect)

    async def escalate(self, effect: EscalateRequest) -> None:
        """Ask the escalation targets, and say so in the thread."""
        await incident_notices.escalate(self, effect)

    async def break_glass_review(self, effect: BreakGlassReview) -> None:
        """Announce a break-glass grant to the audit channel and every admin, or remind them of its review."""
        await incident_notices.break_glass_review(self, effect)

    async def post_audit_digest(self, digest: AuditDigest) -> None:
        """A backlog's audit events as one top-level message in the audit channel (bot.slack.audit_lines)."""
        channel = self.deps.policy.audit_channel
        if not channel:
            return
        message = digest_message(digest, await queries.audit_events(self.deps, list(digest.seqs)))
        if message is not None:
            await self.post(channel, message["text"], message["blocks"])

    async def post_audit_summary(self, effect: PostAuditSummary) -> None:
        """One line per audit event in the audit channel."""
        channel = self.deps.policy.audit_channel
        if not channel:
            return
        found = await queries.audit_event(self.deps, effect.seq)
        if not found:
            return
        request_id = found.get("request_id")
        if not (isinstance(request_id, str) and ID_PATTERN.match(request_id)):
            await self.post(channel, audit_line(found))
            return
        # One thread per request: its first event starts it, the rest are replies (the audit key is worked in
        # order, one worker at a time, so the first line is posted before any reply looks for it).
        thread = await conversations.audit_thread(self.deps, request_id, channel)
        resp = await self.post(channel, audit_line(found), thread_ts=thread)
        if thread is None:
            await conversations.audit_thread_started(self.deps, request_id, channel, str(resp["ts"]))


def thread_text(p: NotifyThread, grant: Grant | None) -> str:
    """The thread note for a grant event."""
    event = p.event
    gid = f"`{grant.id}`" if grant else "the grant"
    if event == "granted" and grant:
        return f":unlock: Granted {gid} to <@{grant.requester}> until {bk.when(grant.expires_at)}."
    if event == "warned" and grant:
        return f":hourglass_flowing_sand: {gid} ends {bk.when(grant.expires_at)}; <@{grant.requester}> was warned."
    if event == "extended" and grant:
        return f":arrow_forward: {gid} is extended until {bk.when(grant.expires_at)}."
    if event == "expired":
        return f":lock: {gid} expired and was removed at Cloudflare."
    if event == "revoked" and grant:
        by = f" by <@{grant.revoke_actor}>" if grant.revoke_actor and grant.revoke_actor not in ("system", "cli") \
            else (" from the command line" if grant.revoke_actor == "cli" else "")
        return f":lock: {gid} was revoked{by}."
    if event == "revoke_requested":
        return f"<@{p.by}> is revoking {gid}: {inert(cut(p.note or '', 500))}"
    return f"{gid}: {event}"


def user_message(p: NotifyUser, grant: Grant | None,
                 req: AccessRequest | None) -> tuple[str, list[dict[str, Any]] | None]:
    """The DM to the requester for an event."""
    event = p.event
    if event in SCHEDULED_EVENTS and req:
        return scheduled_message(event, req), None
    if event == "approved" and grant:
        return (f":unlock: Your access to *{grant.role}* is active (grant `{grant.id}`) until "
                f"{bk.when(grant.expires_at)} ({format_duration(grant.duration)}).", None)
    if event == "denied" and req:
        note = f" Reason: {inert(cut(req.decision_note, 500))}" if req.decision_note else ""
        by = (" when it was checked again before approval" if req.decided_by == "system"
              else f" by <@{req.decided_by}>")
        return (f":no_entry: Your request `{req.id}` for *{req.role}* was denied{by}.{note}", None)
    if event == "warned" and grant:
        text = (f":hourglass_flowing_sand: Your access to *{grant.role}* (grant `{grant.id}`) ends "
                f"{bk.when(grant.expires_at)}. Need longer? `/access extend {grant.id} 1h why`")
        return text, [bk.mrkdwn(text), bk.extend_button(grant)]
    if event == "expired" and grant:
        return f":lock: Your access to *{grant.role}* (grant `{grant.id}`) has expired and was removed.", None
    if event == "revoked" and grant:
        by = " by you" if grant.revoke_actor == grant.requester else ended_how(grant).removeprefix(" — revoked")
        return f":lock: Your access to *{grant.role}* (grant `{grant.id}`) was revoked{by}.", None
    if event == "revoke_started" and grant:
        note = f" Their reason: {inert(cut(p.note, 500))}" if p.note else " No reason was given."
        who = f"<@{p.by}>" if p.by and p.by[:1] in "UW" else "An operator, from the command line,"
        return (f":rotating_light: {who} is revoking your access to *{grant.role}* (grant `{grant.id}`) "
                f"now.{note}", None)
    if event == "extended" and grant:
        return (f":arrow_forward: Your access to *{grant.role}* (grant `{grant.id}`) now ends "
                f"{bk.when(grant.expires_at)}.", None)
    if event == "failed" and grant:
        stage = "apply" if p.stage == "apply" else "remove"
        return (f":warning: Cloudflare refused to {stage} your access to *{grant.role}* (grant `{grant.id}`): "
                f"{inert(cut(grant.failure or 'unknown error', 400))}. The admins have been told.", None)
    if event == "approval_not_posted" and req:
        return (f":warning: Your request `{req.id}` for *{req.role}* could not be shown to its approvers "
                f"({inert(cut(p.error or '', 200))}). The admins have been told; it stays open until "
                f"{bk.when(req.expires_at)}, and approvers can still find it with `/access pending`.", None)
    if event == "oncall_approved" and req:
        return (f":pager: You are on call in PagerDuty schedule `{inert(p.schedule or '')}`, so your request "
                f"`{req.id}` for *{req.role}* was approved at once; I will message you once Cloudflare has "
                "applied it.", None)
    if event == "request_expired" and req:
        return (f":hourglass: Your request `{req.id}` for *{req.role}* expired without a decision. "
                "You can ask again.", None)
    return f"accessbot: {event}", None


SCHEDULED_EVENTS = ("scheduled", "start_refused", "start_missed")


def scheduled_message(event: str, req: AccessRequest) -> str:
    """The DM about a request with a scheduled start: approved ahead, refused at its start, or missed."""
    what = f"`{req.id}` for *{req.role}* ({format_duration(req.duration)})"
    if event == "scheduled":
        return (f":calendar: Your request {what} is approved; access starts {bk.when(req.starts_at)}. "
                f"`/access cancel {req.id}` withdraws it before then.")
    if event == "start_refused":
        return (f":no_entry: Your scheduled request {what} was checked again at its start and not applied: "
                f"{inert(cut(req.decision_note, 500))}")
    return (f":hourglass: Your scheduled request {what} was not applied: its whole window (from "
            f"{bk.when(req.starts_at)}) passed while accessbot was not running. You can ask again.")


def _target(target: str | None) -> str:
    """`group `G`` or `Zero Trust list `L``: what a sync's target names, for people."""
    list_id = list_of(target or "")
    return f"Zero Trust list `{list_id}`" if list_id else f"group `{target}`"


def admin_text(p: NotifyAdmins) -> str:
    """An alert for the admins."""
    event = p.event
    if event == "revoke_failing":
        grants = ", ".join(f"`{g}`" for g in p.grants or ())
        return (f":rotating_light: Revoking {grants} from Cloudflare {_target(p.group_id)} has been failing "
                f"since {bk.when_text(p.since)}: {inert(cut(p.error or '', 400))}. The bot keeps trying; "
                "access is still open until it succeeds.")
    if event == "revoke_recovered":
        return (f":white_check_mark: Revocations on Cloudflare {_target(p.group_id)} succeed again; "
                "the pending removals are done.")
    if event == "grant_failed":
        return (f":warning: Cloudflare refused to {p.stage} grant `{p.grant_id}` for good: "
                f"{inert(cut(p.error or '', 400))}. Check the token and the group, then "
                "`accessbot reconcile`.")
    if event == "sessions_failed":
        return (f":warning: Ending the Access sessions of grant `{p.grant_id}` failed: "
                f"{inert(cut(p.error or '', 400))}.")
    if event == "drift":
        return f":mag: Drift at Cloudflare: {inert(cut(p.summary or '', 2500))}"
    if event == "approval_not_posted":
        return (f":warning: The approval message for request `{p.request_id}` (role `{p.role}`) could "
                f"not be posted: {inert(cut(p.error or '', 400))}. Is the bot in the approval channel? The "
                f"approvers can still decide with `/access pending`.")
    return f"accessbot alert: {inert(str(encode(p).payload)[:500])}"
