"""The one table of wording for every outcome a use case returns, said in a Style (Slack, plain, terminal)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.domain.audit import format_at
from bot.domain.durations import format_duration
from bot.domain.outcomes import Outcome, Refused


class Style:
    """How values appear in words: plain text here; a surface overrides what it marks up."""

    list_yours = "/access list shows yours"
    list_shows_id = "/access list shows the ID"

    def code(self, value: str) -> str:
        """A name or ID set apart from the words (a role, a grant ID)."""
        return value

    def command(self, value: str) -> str:
        """A command the reader can type."""
        return value

    def user(self, user_id: str) -> str:
        """A person, by Slack user ID."""
        return user_id

    def text(self, value: str) -> str:
        """Words that came from outside (an email, an error): shown as they are."""
        return value

    def when(self, value: datetime) -> str:
        """A moment, as `2026-12-24 08:00 UTC` (Slack shows each reader their own timezone instead)."""
        return format_at(value)[:16].replace("T", " ") + " UTC"


def _d(value: timedelta) -> str:
    """A duration as people write it (`1h30m`)."""
    return format_duration(value)


def _limits(f: dict[str, Any]) -> str:
    """`5m–4h, default 1h` for a role's limits."""
    return f"{_d(f['min'])}–{_d(f['max'])}, default {_d(f['default'])}"


def _at(value: datetime) -> str:
    """A time as `2026-01-02T03:04:05Z`."""
    return format_at(value)[:19] + "Z"


Wording = Callable[[Any, Style], str]


def _zone_note(o: Any) -> str:
    """Which timezone a scheduled start's words were read in, when Slack gave none."""
    return "" if o.zone_known else " Your Slack profile has no timezone I could read, so the time was read as UTC."


def _request_limits(o: Refused, s: Style, longer: str) -> str:
    """A requested duration outside the role's limits."""
    f = o.facts
    return f"{_d(f['duration'])} is {longer} than {s.code(f['role'])} allows ({_limits(f)})"


def _extension_pending(o: Refused, s: Style) -> str:
    """A second extension of one grant."""
    f = o.facts
    rid = f.get("request_id")
    which = f" ({s.code(rid)})" if rid else ""
    return (f"grant {s.code(f['grant_id'])} already has an extension waiting for approval{which}; wait for it to be "
            f"decided or withdraw it with {s.command('/access cancel ' + (rid or 'REQUEST_ID'))}")


def _rate_limited(o: Refused, s: Style) -> str:
    """The filing limit is reached."""
    f = o.facts
    return (f"you have filed {f['count']} requests in the last {_d(f['window'])}, as many as one person may; you can "
            f"file again at {format_at(f['again'])[11:19]} UTC (in {_d(f['retry_after'])})")


def _no_longer_on_call(o: Refused, s: Style) -> str:
    """An on-call approver's vote, when PagerDuty no longer says (or cannot say) they are on call."""
    f = o.facts
    why = ("PagerDuty could not confirm that you still are (it did not answer), so your vote is not counted; "
           "try again in a minute" if f.get("unavailable") else
           "PagerDuty says you no longer are, so your vote is not counted")
    return (f"you were asked because you were on call in PagerDuty schedule {s.code(f['schedule'])}; {why}. "
            f"The approvers of {s.code(f['role'])} can still decide")


def _no_such_role(o: Refused, s: Style) -> str:
    """A role name the policy does not have."""
    names = ", ".join(s.code(n) for n in o.facts["roles"]) or "none"
    return f"there is no role {s.code(o.facts['asked'])}. Roles: {names} ({s.command('/access roles')} shows them)"


def _already_decided(o: Refused, s: Style) -> str:
    """A click on a request someone already decided."""
    f = o.facts
    by = f" by {s.user(f['decided_by'])}" if f.get("decided_by") not in (None, "", "system") else ""
    return f"request {s.code(f['request_id'])} is already {f['state']}{by}; your click changed nothing"


_WHO_MAY_NOT_ASK = {
    "deactivated": "your Slack account is deactivated, so it cannot request access",
    "bot": "bots and apps cannot request access; ask as a person",
    "guest": "guest accounts cannot request access; ask a full member of the workspace",
    "no_email": "your Slack profile has no email address I can read, and access is granted by email; ask a Slack "
                "admin to add it",
}


def _identity(o: Refused, s: Style) -> str:
    """Why users.info says the person may not ask, or that it could not be asked."""
    f = o.facts
    if f["identity"] == "lookup_failed":
        return f"I could not look up the {f['looked_up']} ({s.text(f['error'])}); please try again in a minute"
    return _WHO_MAY_NOT_ASK[f["identity"]]


def _closed_on_recheck(o: Refused, s: Style) -> str:
    """An approval whose re-check failed: the request is closed as denied."""
    f = o.facts
    return (f"Request {s.code(f['request_id'])} was checked again before approving and no longer passes, so it is "
            f"closed as denied and nothing was granted: {for_approver(o.cause, f, s)}. {s.user(f['requester'])} is "
            "told why.")


WORDING: dict[str, Wording] = {
    # refusals, by code (or by form where one code is said in more than one way)
    "already_granted": lambda o, s: (
        f"you already hold {s.code(o.facts['role'])}; use {s.command('/access extend GRANT_ID DURATION')} to "
        f"lengthen it ({s.command('/access list')} shows the ID)"),
    "already_pending": lambda o, s: (
        f"you already have a pending request for {s.code(o.facts['role'])}; {s.command('/access list')} shows it "
        f"and {s.command('/access cancel REQUEST_ID')} withdraws it"),
    "extension_pending": _extension_pending,
    "not_allowed": lambda o, s: f"you are not on the list of people who may request {s.code(o.facts['role'])}",
    "duration_too_short": lambda o, s: _request_limits(o, s, "shorter"),
    "duration_too_long": lambda o, s: _request_limits(o, s, "longer"),
    "extension_too_long": lambda o, s: (
        f"that would make the grant {_d(o.facts['total'])} in all; {s.code(o.facts['role'])} allows at most "
        f"{_d(o.facts['max'])}"),
    "reason_required": lambda o, s: (
        f"{s.code(o.facts['role'])} needs a reason: "
        f"{s.command('/access request ' + o.facts['role'] + ' ' + _d(o.facts['default']) + ' why you need it')}"),
    "extension_reason_required": lambda o, s: (
        f"{s.code(o.facts['role'])} needs a reason: "
        f"{s.command('/access extend ' + o.facts['grant_id'] + ' ' + _d(o.facts['extra']) + ' why')}"),
    "not_extendable": lambda o, s: (
        f"grant {s.code(o.facts['grant_id'])} is {o.facts['state']}; only an active grant can be extended"),
    "no_longer_active": lambda o, s: (
        f"grant {s.code(o.facts['grant_id'])} is no longer active; only an active grant can be extended"),
    "grant_moved": lambda o, s: (
        f"grant {s.code(o.facts['grant_id'])} changed while the extension was being approved; ask again"),
    "not_an_approver": lambda o, s: f"you are not an approver for {s.code(o.facts['role'])}",
    "self_approval": lambda o, s: "you cannot approve or deny your own request",
    "role_removed": lambda o, s: f"the role {s.code(o.facts['role'])} is no longer in the policy",
    "identity": _identity,
    "requester_unknown": lambda o, s: "the requester could not be looked up",
    "email_changed": lambda o, s: (
        f"the Slack profile email is now {s.text(o.facts['email_now'])}, not {s.text(o.facts['email_filed'])} that "
        "the request was filed for; file it again"),
    "timed_out": lambda o, s: (
        f"request {s.code(o.facts['request_id'])} timed out at {_at(o.facts['expired_at'])} "
        f"({s.code(o.facts['role'])} waits {_d(o.facts['timeout'])} for a decision); file it again"),
    "no_grant_to_extend": lambda o, s: f"there is no grant {s.code(o.facts['grant_id'][:16])} of yours to extend",
    "rate_limited": _rate_limited,
    "no_such_role": _no_such_role,
    "reason_too_long": lambda o, s: (
        f"the reason is {o.facts['length']} characters; keep it under {o.facts['limit']}"),
    "unknown_grant": lambda o, s: f"you have no grant {s.code(o.facts['grant_id'][:16])}; {s.list_yours}",
    "unknown_request": lambda o, s: f"you have no request {s.code(o.facts['request_id'][:16])}; {s.list_yours}",
    "nothing_to_cancel": lambda o, s: (
        f"request {s.code(o.facts['request_id'])} is already {o.facts['state']}; nothing to cancel"),
    "no_such_request": lambda o, s: (
        f"there is no request {s.code(o.facts['request_id'][:16])}; {s.command('/access pending')} shows those "
        "waiting for you"),
    "already_decided": _already_decided,
    "click_too_late": lambda o, s: (
        f"request {s.code(o.facts['request_id'])} timed out without a decision, so your click changed nothing; it is "
        f"now closed as expired and {s.user(o.facts['requester'])} is told"),
    "recheck_failed": lambda o, s: (
        f"I could not check request {s.code(o.facts['request_id'])} again before approving it "
        f"({say(o.cause, s)}); nothing changed, please try again in a minute"),
    "already_voted": lambda o, s: "your vote on this request is already counted",
    "closed_on_recheck": _closed_on_recheck,
    "cannot_approve_now": lambda o, s: (
        f"request {s.code(o.facts['request_id'])} cannot be approved now: {say(o.cause, s)}"),
    "not_active": lambda o, s: f"grant {s.code(o.facts['grant_id'])} is already {o.facts['state']}",
    # scheduled start
    "start_in_past": lambda o, s: (
        f"the start {s.when(o.facts['starts_at'])} has already passed (times are read in {o.facts['zone']}); give a "
        f"later one, e.g. {s.command('at tomorrow 09:00')}"),
    "start_too_far": lambda o, s: (
        f"the start {s.when(o.facts['starts_at'])} is more than {_d(o.facts['max'])} ahead, as far as "
        f"{s.code(o.facts['role'])} allows (max_schedule_ahead)"),
    "bad_start": lambda o, s: f"{s.text(o.facts['problem'])}",
    "no_longer_on_call": _no_longer_on_call,
    "not_admin": lambda o, s: (
        f"only the policy's admins may read the audit log ({s.command('accessbot audit export')} reads it on the "
        "server)"),
    # what was done
    "filed": lambda o, s: (
        f"Request {s.code(o.request_id)} for {s.code(o.role)} ({_d(o.duration)}) is waiting for "
        f"{o.approvals_required} approval(s). {s.command('/access cancel ' + o.request_id)} withdraws it."),
    "extension_filed": lambda o, s: (
        f"Extension request {s.code(o.request_id)} (+{_d(o.duration)} on {s.code(o.grant_id)}) is waiting for "
        "approval."),
    "auto_approved": lambda o, s: (
        f"{s.code(o.role)} for {_d(o.duration)} is approved automatically (grant {s.code(o.grant_id)}); I will "
        "message you once Cloudflare has applied it."),
    "scheduled_filed": lambda o, s: (
        f"Request {s.code(o.request_id)} for {s.code(o.role)} ({_d(o.duration)}) starting {s.when(o.starts_at)} is "
        f"waiting for {o.approvals_required} approval(s); once approved, access is applied at the start. "
        f"{s.command('/access cancel ' + o.request_id)} withdraws it.{_zone_note(o)}"),
    "auto_scheduled": lambda o, s: (
        f"{s.code(o.role)} for {_d(o.duration)} is approved automatically and starts {s.when(o.starts_at)} "
        f"(request {s.code(o.request_id)}; {s.command('/access cancel ' + o.request_id)} withdraws it before "
        f"then).{_zone_note(o)}"),
    "auto_extended": lambda o, s: f"Grant {s.code(o.grant_id)} is extended by {_d(o.duration)}.",
    "cancelled": lambda o, s: f"Request {s.code(o.request_id)} is cancelled.",
    "revoking": lambda o, s: f"Grant {s.code(o.grant_id)} ({s.text(o.role)}) is being revoked.",
    "denied": lambda o, s: f"You denied {s.code(o.request_id)}.",
    "approved": lambda o, s: f"You approved {s.code(o.request_id)}; access is being applied." if o.starts_at is None
    else f"You approved {s.code(o.request_id)}; access is applied at its start, {s.when(o.starts_at)}.",
    "voted": lambda o, s: f"Your approval of {s.code(o.request_id)} is counted; {o.missing} more needed.",
    # reminders, escalation and break-glass (issue 11)
    "break_glass_not_allowed": lambda o, s: (
        f"{s.code(o.facts['role'])} has no break-glass; ask for it with "
        f"{s.command('/access request ' + o.facts['role'] + ' DURATION REASON')}"),
    "break_glass_reason_required": lambda o, s: (
        f"break-glass needs a reason, and the admins will read it: "
        f"{s.command('/access breakglass ' + o.facts['role'] + ' [DURATION] what is on fire')}"),
    "not_break_glass": lambda o, s: f"grant {s.code(o.facts['grant_id'][:16])} is not a break-glass grant",
    "already_acknowledged": lambda o, s: (
        f"break-glass grant {s.code(o.facts['grant_id'])} was already acknowledged by {s.user(o.facts['by'])}"),
    "not_admin_review": lambda o, s: "only the policy's admins may review a break-glass grant",
    "break_glass_granted": lambda o, s: (
        f"Break-glass: {s.code(o.role)} is yours for {_d(o.duration)} (grant {s.code(o.grant_id)})"
        + (f", cut to the break-glass limit of {_d(o.cap)}" if o.capped else "")
        + ". The admins and the audit channel are told, and an admin will review it."),
    "acknowledged": lambda o, s: (
        f"Break-glass grant {s.code(o.grant_id)} ({s.text(o.role)}) is acknowledged; the reminders stop."),
}

# A failed re-check told to the approver who clicked (the requester's own words are kept for the requester);
# a code not here is said as it is to the requester. Facts of the request: `requester`, `role`.
FOR_APPROVER: dict[str, Wording] = {
    "no_identity": lambda o, s: (
        f"{s.user(o.facts['requester'])} cannot hold access any more ({_identity(o, s)})"),
    "not_allowed": lambda o, s: (
        f"{s.user(o.facts['requester'])} is no longer on the list of people who may request "
        f"{s.code(o.facts['role'])}"),
    "already_granted": lambda o, s: f"{s.user(o.facts['requester'])} already holds {s.code(o.facts['role'])}",
    "already_pending": lambda o, s: (
        f"{s.user(o.facts['requester'])} has another pending request for {s.code(o.facts['role'])}"),
}


def say(outcome: Outcome | None, style: Style) -> str:
    """The outcome in words, in `style`."""
    if outcome is None:
        return ""
    return WORDING[outcome.key](outcome, style)


def for_approver(cause: Refused | None, request: dict[str, Any], style: Style) -> str:
    """A failed re-check in the approver's words; `request` gives the `requester` and the `role`."""
    if cause is None:
        return ""
    told = FOR_APPROVER.get(cause.code)
    if told is None:
        return say(cause, style)
    facts = {**cause.facts, "requester": request["requester"], "role": request["role"]}
    return told(Refused(cause.code, facts, cause.form), style)


PLAIN = Style()


def explain(outcome: Outcome) -> str:
    """The outcome in plain words (for the audit log and the request's decision note)."""
    return say(outcome, PLAIN)
