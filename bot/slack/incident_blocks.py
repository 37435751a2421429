"""Block Kit for the incident-time workflow: the break-glass review message and the reminder/escalation notes."""

from __future__ import annotations

from typing import Any

from bot.domain.durations import format_duration
from bot.domain.model import AccessRequest, Grant
from bot.slack.blocks import REASON_LIMIT, button, mrkdwn, plain, when
from bot.slack.text import cut, inert

BG_ACK = "access_breakglass_ack"
BG_REVOKE = "access_breakglass_revoke"


def principal(pid: str) -> str:
    """A user or user-group ID as a Slack mention."""
    return f"<!subteam^{pid}>" if pid.startswith("S") else f"<@{pid}>"


def review_message(grant: Grant, req: AccessRequest | None, nth: int = 0) -> dict[str, Any]:
    """The break-glass message the admins review: who took what and why, and Acknowledge / Revoke now while
    nobody has acknowledged it (`nth` > 0: the nth reminder)."""
    length = format_duration(grant.duration)
    until = f", until {when(grant.expires_at)}" if grant.expires_at else ""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Break-glass: {cut(grant.role, 120)}"}},
        mrkdwn(f":rotating_light: <@{grant.requester}> took *{grant.role}* for *{length}* without approval "
               f"(grant `{grant.id}`, {grant.state.value}{until})."),
        plain("Reason: " + ((req.reason if req else "") or "(none given)"), REASON_LIMIT),
    ]
    if nth:
        blocks.insert(0, {"type": "context", "elements": [
            {"type": "mrkdwn", "text": f":bell: Reminder {nth}: this break-glass grant has not been reviewed yet."}]})
    if grant.acknowledged_at is not None:
        blocks.append(mrkdwn(f":white_check_mark: Reviewed by <@{grant.acknowledged_by}> at "
                             f"{when(grant.acknowledged_at)}"))
    else:
        blocks.append({"type": "actions", "block_id": f"review:{grant.id}", "elements": [
            button("Acknowledge", BG_ACK, grant.id, "primary"),
            button("Revoke now", BG_REVOKE, grant.id, "danger", confirm={
                "title": {"type": "plain_text", "text": "Revoke this grant now?"},
                "text": {"type": "plain_text",
                         "text": cut(f"{grant.id}: {grant.role} held by the requester ends now", 300)},
                "confirm": {"type": "plain_text", "text": "Revoke now"},
                "deny": {"type": "plain_text", "text": "Back"},
                "style": "danger"}),
        ]})
    text = f"Break-glass: {grant.role} for {length} by {grant.requester} (grant {grant.id}) needs review"
    return {"text": text, "blocks": blocks}


def loud_line(grant: Grant, req: AccessRequest | None) -> str:
    """The audit channel's announcement of a break-glass grant."""
    reason = inert(cut((req.reason if req else "") or "", 300))  # typed text: never pings, links or formats
    return (f":rotating_light: *Break-glass*: <@{grant.requester}> took *{grant.role}* for "
            f"*{format_duration(grant.duration)}* without approval (grant `{grant.id}`). Reason: {reason}")


def reminder_text(req: AccessRequest, nth: int, waiting: list[str]) -> str:
    """The reminder in an approval message's thread, naming who has not acted."""
    who = " ".join(f"<@{u}>" for u in waiting[:30]) + (f" and {len(waiting) - 30} more" if len(waiting) > 30 else "")
    return (f":bell: Reminder {nth}: request `{req.id}` from <@{req.requester}> for *{req.role}* "
            f"({format_duration(req.duration)}) is still waiting for a decision{': ' + who if who else ''}. "
            f"It expires {when(req.expires_at)}.")


def reminder_dm(req: AccessRequest, nth: int) -> str:
    """The reminder sent to one approver directly."""
    return (f":bell: Reminder {nth}: <@{req.requester}> is waiting for your decision on request `{req.id}` for "
            f"*{req.role}* ({format_duration(req.duration)}). Decide with the buttons on the request, or "
            f"`/access approve {req.id}` / `/access deny {req.id} REASON`.")


def escalation_text(req: AccessRequest, to: tuple[str, ...]) -> str:
    """The note in the approval message's thread when the request escalates."""
    names = ", ".join(principal(p) for p in to)
    return (f":arrow_double_up: Request `{req.id}` had no decision in time, so it is escalated: {names} may decide "
            "it too.")
