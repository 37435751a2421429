"""Block Kit builders: pure functions of domain values, within Slack's limits, user text made inert."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from bot.domain.durations import format_duration
from bot.domain.model import AccessRequest, Grant, RequestKind, RequestState, extension_total
from bot.domain.policy import Policy, Role
from bot.slack.text import cut, inert

APPROVE = "access_approve"
DENY = "access_deny"
REVOKE = "access_revoke"
CANCEL = "access_cancel"
EXTEND = "access_extend"
SECTION_LIMIT = 3000
REASON_LIMIT = 2800
MAX_BLOCKS = 50
TEXT_LIMIT = 38000  # characters of a message's text (Slack cuts at 40,000)


def when(at: datetime | None) -> str:
    """A time Slack shows in each reader's own timezone, with a UTC fallback."""
    if at is None:
        return "—"
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{at.strftime('%Y-%m-%d %H:%M UTC')}>"


def plain(text: str, limit: int = SECTION_LIMIT) -> dict[str, Any]:
    """A section whose text is plain_text: shown as typed, never formatted."""
    return {"type": "section", "text": {"type": "plain_text", "text": cut(text, limit) or " ", "emoji": False}}


def mrkdwn(text: str) -> dict[str, Any]:
    """A section of bot-written mrkdwn (callers escape anything a person typed)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_LIMIT)}}


def button(text: str, action_id: str, value: str, style: str | None = None,
           confirm: dict[str, Any] | None = None) -> dict[str, Any]:
    """A button element."""
    b: dict[str, Any] = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id,
                         "value": value}
    if style:
        b["style"] = style
    if confirm:
        b["confirm"] = confirm
    return b


_OUTCOME = {
    RequestState.APPROVED: ":white_check_mark: Approved",
    RequestState.DENIED: ":no_entry: Denied",
    RequestState.CANCELLED: ":leftwards_arrow_with_hook: Cancelled by the requester",
    RequestState.EXPIRED: ":hourglass: Expired without a decision",
}


def approval_message(req: AccessRequest, role: Role | None, grant: Grant | None = None) -> dict[str, Any]:
    """The approval message (text + blocks) for a request in its current state."""
    what = "more time on" if req.kind is RequestKind.EXTEND else "access to"
    role_name = req.role
    summary = (f"<@{req.requester}> asks for {what} *{role_name}* for *{format_duration(req.duration)}*"
               + (f" (grant `{req.grant_id}`)" if req.grant_id else ""))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Access request {req.id}"}},
        mrkdwn(summary),
        plain("Reason: " + (req.reason or "(none given)"), REASON_LIMIT),
    ]
    if role and role.description:
        blocks.append({"type": "context", "elements": [
            {"type": "plain_text", "text": cut(role.description, 2000), "emoji": False}]})
    if req.state is RequestState.PENDING and req.kind is RequestKind.EXTEND and grant is not None:
        span = extension_total(grant, req.duration)
        if span is not None:
            limit = f" (`{role_name}` allows at most {format_duration(role.max_duration)})" if role else ""
            blocks.append(mrkdwn(f"Approving extends grant `{grant.id}` to *{format_duration(span[0])} in all*, "
                                 f"ending {when(span[1])} instead of {when(grant.expires_at)}{limit}."))
    if req.state is RequestState.PENDING:
        need = role.approvals_required if role else 1
        got = len(req.approvals())
        if need > 1:
            voters = ", ".join(f"<@{v}>" for v in sorted(req.approvals())) or "nobody yet"
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"{got} of {need} approvals: {voters}"}]})
        if req.escalated_at is not None and role and role.escalate_to:  # issue 11: who may decide now
            to = ", ".join(f"<!subteam^{p}>" if p.startswith("S") else f"<@{p}>" for p in role.escalate_to)
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(
                f":arrow_double_up: Escalated {when(req.escalated_at)}: {to} may decide it too", 2000)}]})
        blocks.append({"type": "actions", "block_id": f"decide:{req.id}", "elements": [
            button("Approve", APPROVE, req.id, "primary"),
            button("Deny", DENY, req.id, "danger", confirm={
                "title": {"type": "plain_text", "text": "Deny this request?"},
                "text": {"type": "plain_text", "text": f"{req.id}: {req.role} for {format_duration(req.duration)}"},
                "confirm": {"type": "plain_text", "text": "Deny"},
                "deny": {"type": "plain_text", "text": "Back"},
                "style": "danger"}),
        ]})
    else:
        by = f" by <@{req.decided_by}>" if req.decided_by and req.decided_by != "system" else ""
        if req.state is RequestState.APPROVED and req.decided_by == "system":
            by = " automatically"
        line = f"{_OUTCOME[req.state]}{by} at {when(req.decided_at)}"
        if req.state is RequestState.DENIED and req.decision_note:
            line += f" — {inert(cut(req.decision_note, 500))}"
        if grant is not None and grant.expires_at and req.kind is RequestKind.NEW:
            line += f"\nGrant `{grant.id}` is {grant.state.value}, until {when(grant.expires_at)}"
        blocks.append(mrkdwn(line))
    text = f"Access request {req.id}: {req.role} for {format_duration(req.duration)} ({req.state.value})"
    return {"text": text, "blocks": blocks}


def grants_and_requests(grants: list[Grant], requests: list[AccessRequest], now: datetime) -> list[dict[str, Any]]:
    """The caller's active grants (time left, Revoke) and pending requests (Cancel) for `/access list`."""
    blocks: list[dict[str, Any]] = []
    if not grants and not requests:
        return [mrkdwn("You hold no grants and have no pending requests. `/access roles` shows what you can ask for.")]
    if grants:
        blocks.append(mrkdwn("*Your grants*"))
    for g in grants[:20]:
        left = format_duration(g.time_left(now)) if g.expires_at else "being applied"
        glass = " :rotating_light: break-glass" if g.break_glass else ""
        blocks.append({**mrkdwn(f"`{g.id}` *{g.role}*{glass} — {g.state.value}, {left} left (until "
                                f"{when(g.expires_at)})"),
                       "accessory": button("Revoke", REVOKE, g.id, "danger")})
    if requests:
        blocks.append(mrkdwn("*Your pending requests*"))
    for r in requests[:20]:
        escalated = ", escalated" if r.escalated_at else ""
        blocks.append({**mrkdwn(f"`{r.id}` *{r.role}* for {format_duration(r.duration)}, "
                                f"asked {when(r.created_at)}{escalated}"),
                       "accessory": button("Cancel", CANCEL, r.id)})
    return blocks[:MAX_BLOCKS]


def roles_text(policy: Policy, roles: list[Role]) -> str:
    """`/access roles`: what the caller may request, with limits and approvers."""
    if not roles:
        return "There is no role you may request."
    lines = ["*Roles you may request*"]
    for r in roles:
        approvers = "granted automatically" if r.auto_approve else (
            "approvers: " + ", ".join(f"<!subteam^{a}>" if a.startswith("S") else f"<@{a}>" for a in r.approvers))
        need = f", {r.approvals_required} approvals" if r.approvals_required > 1 and not r.auto_approve else ""
        desc = f" — {inert(r.description)}" if r.description else ""
        lines.append(f"• `{r.name}`{desc}\n   {r.limits_text()}; {approvers}{need}"
                     + ("; signs you out of Access apps when it ends" if r.revoke_sessions else "")
                     + (f"; break-glass up to {format_duration(r.break_glass_max_duration)}: "
                        f"`/access breakglass {r.name} REASON`" if r.break_glass else ""))
    return cut("\n".join(lines), 3900)


HELP = """*accessbot* — just-in-time access to apps behind Cloudflare Access
• `/access request ROLE [DURATION] [REASON…]` — ask for a role, e.g. `/access request prod-db 2h incident 4211`
• `/access list` — your grants (time left) and pending requests
• `/access roles` — the roles you may request, with limits and approvers
• `/access extend GRANT_ID DURATION [REASON…]` — ask for more time on a grant
• `/access revoke GRANT_ID [REASON…]` — end your grant now (admins: anyone's)
• `/access cancel REQUEST_ID` — withdraw a pending request
• `/access pending` — requests waiting for your approval
• `/access approve REQUEST_ID` / `/access deny REQUEST_ID [REASON…]` — decide without the buttons
• `/access audit [ROLE|@user] [N]` — admins: the last N (default 20) audit events
• `/access breakglass ROLE [DURATION] REASON` — emergencies, on roles that allow it: granted at once, the admins \
are told and review it
• `/access help` — this text
Durations: `90s`, `15m`, `2h`, `1d`, `1h30m`."""


def extend_button(grant: Grant) -> dict[str, Any]:
    """The Extend button on the expiry warning."""
    return {"type": "actions", "elements": [button("Extend", EXTEND, grant.id, "primary")]}


USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")  # a Slack user ID, safe to show as a <@mention>


def audit_text(rows: list[dict[str, Any]], scope: str, limit: int = TEXT_LIMIT) -> str:
    """The audit events as an ephemeral message: one line each, oldest first; typed text stays inert.

    When the lines would pass Slack's message length, the oldest are left out and the message says so."""
    if not rows:
        return f"No audit events{scope}."
    lines = [_audit_line(row) for row in rows]
    kept: list[str] = []
    size = 200  # the heading and the note
    for line in reversed(lines):
        if size + len(line) + 1 > limit:
            break
        kept.insert(0, line)
        size += len(line) + 1
    head = f"*The last {len(kept)} audit event(s){scope}*, oldest first"
    if len(kept) < len(lines):
        head += f" ({len(lines) - len(kept)} older one(s) left out to fit; `accessbot audit export` has them all)"
    return "\n".join([head, *kept])


def _audit_line(row: dict[str, Any]) -> str:
    actor = str(row["actor"])
    who = f"<@{actor}>" if USER_ID.match(actor) else f"`{inert(cut(actor, 64))}`"
    parts = [f"`#{row['seq']}` {str(row['at'])[:19].replace('T', ' ')}Z", f"*{inert(row['action'])}*", who]
    parts += [inert(cut(str(v), 120)) for v in (row.get("role"), row.get("subject")) if v]
    parts += [f"`{row[k]}`" for k in ("request_id", "grant_id") if row.get(k)]
    details = "; ".join(f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
                        for k, v in sorted((row.get("details") or {}).items()))
    if details:
        parts.append(inert(cut(details, 200)))
    return " · ".join(parts)
