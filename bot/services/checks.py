"""The checks a request must pass, run when it is filed and run again when it is approved: one function."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.audit import format_at
from bot.domain.durations import format_duration
from bot.domain.errors import ExternalError
from bot.domain.model import AccessRequest, RequestKind, extension_total
from bot.domain.policy import Decision, Role, evaluate_extension, evaluate_request
from bot.domain.unit_of_work import UnitOfWork
from bot.services.context import Deps
from bot.services.identity import Identity, identify


@dataclass(frozen=True)
class Requester:
    """What Slack says about the person now: identity (users.info) and their user groups the role names."""

    user_id: str
    identity: Identity
    groups: frozenset[str] = frozenset()


async def look_up(deps: Deps, user_id: str, role: Role, *, fresh: bool = False) -> Requester:
    """Ask Slack who the person is and which of the role's `requesters` user groups they are in.

    Called outside any transaction (it is network I/O); `fresh` skips the user-group cache, as the
    re-check at approval must."""
    identity = await identify(deps.directory, user_id)
    groups: frozenset[str] = frozenset()
    listed_groups = tuple(a for a in role.requesters if a.startswith("S"))
    if identity.email and role.requesters and user_id not in role.requesters and listed_groups:
        try:
            groups = await deps.directory.user_groups_of(user_id, listed_groups, fresh=fresh)
        except ExternalError as exc:
            identity = Identity(None, "lookup_failed", f"I could not look up the Slack user groups ({exc}); "
                                                       "please try again in a minute", True)
    return Requester(user_id, identity, groups)


async def check(deps: Deps, tx: UnitOfWork, req: AccessRequest, who: Requester) -> Decision:
    """Every rule `req` must meet now: when it is filed, and again (same function) when it is approved.

    The role is still in the policy; the person is who they were (not deleted, not a bot or guest, an
    email, the same email the request is for); the request is within its `request_timeout` at the
    clock's now; and the current policy allows it (requesters, durations, reason, one pending request
    and one live grant per role; for an extension: the grant is active, no other extension of it is
    pending, and the total from the grant's start stays within `max_duration`). An extension's grant is
    read under its row lock, so the total is checked against the end the approval will move."""
    role = deps.policy.role(req.role)
    if role is None:
        return Decision.no("unknown_role", f"the role `{req.role}` is no longer in the policy")
    ident = who.identity
    if ident.transient:
        return Decision.no("lookup_failed", ident.why_not)
    if ident.email is None:
        return Decision.no("no_identity", ident.why_not)
    if ident.email.lower() != req.email.lower():
        return Decision.no("email_changed", f"the Slack profile email is now {ident.email}, not {req.email} that "
                                            "the request was filed for; file it again")
    now = deps.clock.now()
    if req.expires_at <= now:
        return Decision.no("request_expired", f"request `{req.id}` timed out at {format_at(req.expires_at)[:19]}Z "
                                              f"(`{role.name}` waits {format_duration(role.request_timeout)} "
                                              "for a decision); file it again")
    if req.kind is RequestKind.NEW:
        holds = await tx.grants.live_for(req.requester, role.name)
        pending = await tx.requests.pending_request_for(req.requester, role.name, except_id=req.id or None)
        return evaluate_request(role, req.requester, req.duration, req.reason, who.groups,
                                already_holds=holds is not None, already_pending=pending is not None)
    grant = await tx.grants.get(req.grant_id or "", lock=True)
    if grant is None or grant.requester != req.requester:
        return Decision.no("unknown_grant", f"there is no grant `{(req.grant_id or '')[:16]}` of yours to extend")
    other = await tx.requests.pending_extension_for(grant.id, except_id=req.id or None)
    span = extension_total(grant, req.duration)
    return evaluate_extension(role, req.requester, grant.id, grant.state.value, req.duration,
                              span[0] if span else None, req.reason, who.groups, other.id if other else None)


_TOLD_APPROVER = {
    "no_identity": "<@{u}> cannot hold access any more ({why})",
    "email_changed": "{why}",
    "not_allowed": "<@{u}> is no longer on the list of people who may request `{role}`",
    "already_granted": "<@{u}> already holds `{role}`",
    "already_pending": "<@{u}> has another pending request for `{role}`",
}


def for_approver(decision: Decision, req: AccessRequest) -> str:
    """A failed re-check in the approver's words (the requester's own words are kept for the requester)."""
    template = _TOLD_APPROVER.get(decision.code, "{why}")
    return template.format(u=req.requester, role=req.role, why=decision.reason)
