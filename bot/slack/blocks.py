"""Block Kit builders: pure functions of domain values, within Slack's limits, user text made inert."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from bot.domain.durations import format_duration
from bot.domain.model import AccessRequest, Grant, RequestState
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


def when(at: datetime | None, *, seconds: bool = False) -> str:
    """A time Slack shows in each reader's own timezone, with a UTC fallback (to the second when asked)."""
    if at is None:
        return "—"
    if seconds:
        return (f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time_secs}}"
                f"|{at.strftime('%Y-%m-%d %H:%M:%S UTC')}>")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{at.strftime('%Y-%m-%d %H:%M UTC')}>"


def when_text(at: datetime | str | None, *, seconds: bool = False) -> str:
    """`when` for a time that may come as ISO 8601 text (audit rows, effect payloads); text that is not a time
    is shown as it is, made inert."""
    if isinstance(at, str):
        try:
            parsed = datetime.fromisoformat(at)
        except ValueError:
            return inert(cut(at, 64))
        at = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return when(at, seconds=seconds)


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


def confirm(title: str, text: str, verb: str) -> dict[str, Any]:
    """The confirm dialog of a destructive button: a question, what it acts on, the verb, and Back."""
    return {"title": {"type": "plain_text", "text": cut(title, 100)},
            "text": {"type": "plain_text", "text": cut(text, 300)},
            "confirm": {"type": "plain_text", "text": cut(verb, 30)},
            "deny": {"type": "plain_text", "text": "Back"},
            "style": "danger"}


def revoke_button(g: Grant) -> dict[str, Any]:
    """Revoke, with a confirm naming the grant."""
    return button("Revoke", REVOKE, g.id, "danger",
                  confirm=confirm("Revoke this grant?", f"{g.id}: {g.role} ends now and its access is removed.",
                                  "Revoke"))


def cancel_button(r: AccessRequest) -> dict[str, Any]:
    """Cancel, with a confirm naming the request."""
    return button("Cancel", CANCEL, r.id, "danger",
                  confirm=confirm("Cancel this request?", f"{r.id}: {r.role} for {format_duration(r.duration)}",
                                  "Cancel request"))


def deny_button(r: AccessRequest) -> dict[str, Any]:
    """Deny, with a confirm naming the request."""
    return button("Deny", DENY, r.id, "danger",
                  confirm=confirm("Deny this request?", f"{r.id}: {r.role} for {format_duration(r.duration)}", "Deny"))


def more_line(left: int, hint: str) -> dict[str, Any]:
    """A list was cut: say how many are not shown and where to see them."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"…and {left} more: {hint}"}]}


LIST_SHOWN = 20  # grants, and pending requests, shown by `/access list` and App Home


def grants_and_requests(grants: list[Grant], requests: list[AccessRequest], now: datetime) -> list[dict[str, Any]]:
    """The caller's active grants (time left, Revoke) and pending requests (Cancel) for `/access list`; a list
    that is cut says how many more there are."""
    blocks: list[dict[str, Any]] = []
    if not grants and not requests:
        return [mrkdwn("You hold no grants and have no pending requests. `/access roles` shows what you can ask for.")]
    if grants:
        blocks.append(mrkdwn("*Your grants*"))
    for g in grants[:LIST_SHOWN]:
        left = format_duration(g.time_left(now)) if g.expires_at else "being applied"
        glass = " :rotating_light: break-glass" if g.break_glass else ""
        blocks.append({**mrkdwn(f"`{g.id}` *{g.role}*{glass} — {g.state.value}, {left} left (until "
                                f"{when(g.expires_at)})"),
                       "accessory": revoke_button(g)})
    if len(grants) > LIST_SHOWN:
        blocks.append(more_line(len(grants) - LIST_SHOWN, "`accessbot grants` or `GET /api/grants` lists them all"))
    if requests:
        blocks.append(mrkdwn("*Your pending requests*"))
    for r in requests[:LIST_SHOWN]:
        starts = f", starts {when(r.starts_at)}" if r.starts_at else ""
        status = " (approved, scheduled)" if r.state is RequestState.SCHEDULED else ""
        escalated = ", escalated" if r.escalated_at else ""
        blocks.append({**mrkdwn(f"`{r.id}` *{r.role}* for {format_duration(r.duration)}{starts}{status}, "
                                f"asked {when(r.created_at)}{escalated}"),
                       "accessory": cancel_button(r)})
    if len(requests) > LIST_SHOWN:
        blocks.append(more_line(len(requests) - LIST_SHOWN, "`GET /api/requests` lists them all"))
    return blocks[:MAX_BLOCKS]


ROLES_PER_PAGE = 15


def roles_text(policy: Policy, roles: list[Role], page: int = 1) -> str:
    """`/access roles [PAGE]`: what the caller may request, with limits and approvers, a page at a time; a page
    that is not the last says how many more there are and how to see them."""
    if not roles:
        return "There is no role you may request."
    pages = max(1, -(-len(roles) // ROLES_PER_PAGE))
    page = min(max(page, 1), pages)
    shown = roles[(page - 1) * ROLES_PER_PAGE: page * ROLES_PER_PAGE]
    lines = ["*Roles you may request*" + (f" (page {page} of {pages})" if pages > 1 else "")]
    for r in shown:
        approvers = "granted automatically" if r.auto_approve else (
            "approvers: " + ", ".join(f"<!subteam^{a}>" if a.startswith("S") else f"<@{a}>" for a in r.approvers))
        need = f", {r.approvals_required} approvals" if r.approvals_required > 1 and not r.auto_approve else ""
        desc = f" — {inert(cut(r.description, 200))}" if r.description else ""
        lines.append(f"• `{r.name}`{desc}\n   {r.limits_text()}; {approvers}{need}"
                     + ("; signs you out of Access apps when it ends" if r.revoke_sessions else "")
                     + (f"; break-glass up to {format_duration(r.break_glass_max_duration)}: "
                        f"`/access breakglass {r.name} REASON`" if r.break_glass else ""))
    left = len(roles) - page * ROLES_PER_PAGE
    if left > 0:
        lines.append(f"…and {left} more: `/access roles {page + 1}`")
    return "\n".join(lines)


HELP = """*accessbot* — just-in-time access to apps behind Cloudflare Access
• `/access request ROLE [DURATION] [REASON…]` — ask for a role, e.g. `/access request prod-db 2h incident 4211`
• `/access request ROLE DURATION at TIME [REASON…]` — ask for access that starts later: approved ahead, applied \
at TIME (`14:00` today, `tomorrow 09:00`, `2026-12-24 08:00`, or ISO 8601 with `Z` or an offset; in your Slack \
timezone); `at` followed by anything else is part of the reason
• `/access list` — your grants (time left) and pending requests
• `/access roles [PAGE]` — the roles you may request, with limits and approvers
• `/access extend GRANT_ID DURATION [REASON…]` — ask for more time on a grant
• `/access revoke GRANT_ID [REASON…]` — end your grant now (admins: anyone's)
• `/access cancel REQUEST_ID` — withdraw a pending request (or a scheduled one before it starts)
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
    parts = [f"`#{row['seq']}` {when_text(row['at'], seconds=True)}", f"*{inert(row['action'])}*", who]
    parts += [inert(cut(str(v), 120)) for v in (row.get("role"), row.get("subject")) if v]
    parts += [f"`{row[k]}`" for k in ("request_id", "grant_id") if row.get(k)]
    details = "; ".join(f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
                        for k, v in sorted((row.get("details") or {}).items()))
    if details:
        parts.append(inert(cut(details, 200)))
    return " · ".join(parts)
