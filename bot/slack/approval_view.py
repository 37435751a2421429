"""The approval message: who wants what, a fields grid, the reason, a status line that follows the grant to its end."""

from __future__ import annotations

from typing import Any

from bot.domain.durations import format_duration
from bot.domain.model import AccessRequest, Grant, GrantState, RequestKind, RequestState, VoteChoice, extension_total
from bot.domain.policy import Role
from bot.slack.blocks import APPROVE, DENY, REASON_LIMIT, button, confirm, mrkdwn, plain, when
from bot.slack.text import cut, inert

HEADER_LIMIT = 150  # characters of a header block's plain_text

_OUTCOME = {
    RequestState.APPROVED: ":white_check_mark: Approved",
    RequestState.DENIED: ":no_entry: Denied",
    RequestState.CANCELLED: ":leftwards_arrow_with_hook: Cancelled by the requester",
    RequestState.EXPIRED: ":hourglass: Expired without a decision",
    RequestState.SCHEDULED: ":calendar: Approved ahead of its start",
}


def headline(req: AccessRequest, name: str | None) -> str:
    """`Ada wants prod-db for 2h` (or `… 1h more on prod-db` for an extension): the header, plain text."""
    who = (name or "").strip() or req.email or req.requester
    dur = format_duration(req.duration)
    what = f"{dur} more on {req.role}" if req.kind is RequestKind.EXTEND else f"{req.role} for {dur}"
    if req.starts_at is not None:
        what += " later"  # the grid says when (a header cannot show a time in the reader's timezone)
    return cut(f"{who} wants {what}", HEADER_LIMIT)


def _fields(req: AccessRequest, grant: Grant | None) -> dict[str, Any]:
    """The grid: role, duration, who (mention and email), and until when it may be decided."""
    fields = [f"*Role*\n`{inert(req.role)}`", f"*Duration*\n{format_duration(req.duration)}",
              f"*Requester*\n<@{req.requester}>\n{inert(cut(req.email, 200))}"]
    if req.starts_at is not None:  # a scheduled start
        fields.append(f"*Starts*\n{when(req.starts_at)}")
    if req.state is RequestState.PENDING:
        fields.append(f"*Expires if undecided*\n{when(req.expires_at)}")
    if req.kind is RequestKind.EXTEND and req.grant_id:
        fields.append(f"*Extends grant*\n`{req.grant_id}`")
    elif grant is not None:
        fields.append(f"*Grant*\n`{grant.id}`")
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]}


def votes_line(req: AccessRequest) -> str:
    """Every approver who voted, in the order they voted, with the time of each vote."""
    votes = sorted(req.votes, key=lambda v: v.at)
    parts = [f"<@{v.voter}> {'approved' if v.choice is VoteChoice.APPROVE else 'denied'} {when(v.at)}"
             for v in votes]
    return "Votes: " + ", then ".join(parts) if parts else ""


def _outcome_label(req: AccessRequest) -> str:
    """How a decided request is shown; a scheduled one closed by the system at its start says why."""
    if req.starts_at is not None and req.decided_by == "system" and req.state is RequestState.CANCELLED:
        return ":no_entry: Not started: checked again at its start"
    if req.starts_at is not None and req.decided_by == "system" and req.state is RequestState.EXPIRED \
            and req.decision_note:
        return ":hourglass: Not applied: its whole window passed while the bot was down"
    return _OUTCOME[req.state]


def decision_line(req: AccessRequest) -> str:
    """The outcome of a decided request: what, who and when (and, approved ahead, when access starts)."""
    by = f" by <@{req.decided_by}>" if req.decided_by and req.decided_by not in ("system", "cli") else ""
    if req.state is RequestState.APPROVED and req.decided_by == "system":
        by = " automatically"
    line = f"{_outcome_label(req)}{by} {when(req.decided_at)}"
    if req.state is RequestState.SCHEDULED:
        line += f"; access is applied {when(req.starts_at)}"
    if req.decision_note and (req.state is RequestState.DENIED or (
            req.starts_at is not None and req.state in (RequestState.CANCELLED, RequestState.EXPIRED))):
        line += f" — {inert(cut(req.decision_note, 500))}"
    return line


def grant_line(grant: Grant) -> str:
    """Where the grant is now: being applied, active until, extended, being removed, ended (how and when)."""
    gid = f"`{grant.id}`"
    if grant.state is GrantState.PENDING:
        return f":gear: Grant {gid} is being applied at Cloudflare"
    if grant.state is GrantState.ACTIVE:
        extended = grant.granted_at is not None and grant.expires_at is not None \
            and grant.expires_at - grant.granted_at > grant.duration
        return (f":unlock: Grant {gid} active since {when(grant.granted_at)}, "
                f"{'extended until' if extended else 'until'} {when(grant.expires_at)}")
    if grant.state is GrantState.REVOKING:
        return f":lock: Grant {gid} is ending; its removal at Cloudflare is in progress"
    if grant.state is GrantState.REVOKED:
        return f":lock: Grant {gid} ended {when(grant.revoked_at)}{ended_how(grant)}"
    return f":warning: Grant {gid} failed: {inert(cut(grant.failure or 'unknown error', 300))}"


def ended_how(grant: Grant) -> str:
    """` — expired`, ` — revoked by @admin`, ` — revoked from the command line`: why a grant ended."""
    if grant.revoke_reason in (None, "expired"):
        return " — expired"
    if grant.revoke_actor == "cli" or grant.revoke_reason == "cli":
        return " — revoked from the command line"
    if grant.revoke_actor and grant.revoke_actor != "system":
        return f" — revoked by <@{grant.revoke_actor}>"
    return " — revoked"


def _pending_status(req: AccessRequest, role: Role | None) -> str:
    """The status line of a request still waiting: how many approvals of how many, from whom."""
    need = role.approvals_required if role else 1
    got = [v.voter for v in sorted(req.votes, key=lambda v: v.at) if v.choice is VoteChoice.APPROVE]
    line = f":hourglass_flowing_sand: Waiting for approval — {len(got)} of {need}"
    if got:
        line += ": " + ", ".join(f"<@{v}>" for v in got)
    return line


def _deny_confirm(req: AccessRequest) -> dict[str, Any]:
    return confirm("Deny this request?", f"{req.id}: {req.role} for {format_duration(req.duration)}", "Deny")


def approval_message(req: AccessRequest, role: Role | None, grant: Grant | None = None, *,
                     requester_name: str | None = None) -> dict[str, Any]:
    """The approval message (text + blocks) for a request in its current state, and its grant's when it has one."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline(req, requester_name), "emoji": False}},
        _fields(req, grant),
        plain("Reason: " + (req.reason or "(none given)"), REASON_LIMIT),
    ]
    if role and role.description:
        blocks.append({"type": "context", "elements": [
            {"type": "plain_text", "text": cut(role.description, 2000), "emoji": False}]})
    if req.state is RequestState.PENDING and req.kind is RequestKind.EXTEND and grant is not None:
        span = extension_total(grant, req.duration)
        if span is not None:
            limit = f" (`{req.role}` allows at most {format_duration(role.max_duration)})" if role else ""
            blocks.append(mrkdwn(f"Approving extends grant `{grant.id}` to *{format_duration(span[0])} in all*, "
                                 f"ending {when(span[1])} instead of {when(grant.expires_at)}{limit}."))
    if req.state is RequestState.PENDING:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _pending_status(req, role)}]})
        if req.escalated_at is not None and role and role.escalate_to:  # who may decide now
            to = ", ".join(f"<!subteam^{p}>" if p.startswith("S") else f"<@{p}>" for p in role.escalate_to)
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(
                f":arrow_double_up: Escalated {when(req.escalated_at)}: {to} may decide it too", 2000)}]})
        blocks.append({"type": "actions", "block_id": f"decide:{req.id}", "elements": [
            button("Approve", APPROVE, req.id, "primary"),
            button("Deny", DENY, req.id, "danger", confirm=_deny_confirm(req))]})
    else:
        status = [decision_line(req)]
        if grant is not None and req.kind is RequestKind.NEW and req.state is RequestState.APPROVED:
            status.append(grant_line(grant))
        blocks.append(mrkdwn("\n".join(status)))
        votes = votes_line(req)
        if votes:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(votes, 2900)}]})
    return {"text": fallback_text(req, grant, requester_name), "blocks": blocks}


def fallback_text(req: AccessRequest, grant: Grant | None, name: str | None = None) -> str:
    """The notification text: who wants what, and where it stands."""
    state = req.state.value
    if grant is not None and req.state is RequestState.APPROVED and req.kind is RequestKind.NEW:
        state = {GrantState.PENDING: "approved", GrantState.ACTIVE: "active", GrantState.REVOKING: "ending",
                 GrantState.REVOKED: "ended", GrantState.FAILED: "failed"}[grant.state]
    return cut(f"{headline(req, name)} ({req.id}, {state})", 3000)
