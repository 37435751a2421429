"""The checks a request must pass, run when it is filed and run again when it is approved: one function."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.errors import ExternalError
from bot.domain.model import AccessRequest, Grant, RequestKind, RequestState, extension_total
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
            identity = Identity(None, "lookup_failed", "Slack user groups", str(exc), True)
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
        return Decision.no("unknown_role", "role_removed", role=req.role)
    ident = who.identity
    if ident.transient:
        return Decision.no("lookup_failed", "identity", **ident.facts)
    if ident.email is None:
        return Decision.no("no_identity", "identity", **ident.facts)
    if ident.email.lower() != req.email.lower():
        return Decision.no("email_changed", email_now=ident.email, email_filed=req.email)
    now = deps.clock.now()
    if req.expires_at <= now and req.state is not RequestState.SCHEDULED:  # approved ahead: no timeout left
        return Decision.no("request_expired", "timed_out", request_id=req.id, expired_at=req.expires_at,
                           role=role.name, timeout=role.request_timeout)
    if req.kind is RequestKind.NEW:
        holds = await tx.grants.live_for(req.requester, role.name)
        pending = await tx.requests.pending_request_for(req.requester, role.name, except_id=req.id or None)
        pending = pending or await _scheduled_for(tx, req)
        return evaluate_request(role, req.requester, req.duration, req.reason, who.groups,
                                already_holds=_holds_at_start(holds, req), already_pending=pending is not None)
    grant = await tx.grants.get(req.grant_id or "", lock=True)
    if grant is None or grant.requester != req.requester:
        return Decision.no("unknown_grant", "no_grant_to_extend", grant_id=req.grant_id or "")
    other = await tx.requests.pending_extension_for(grant.id, except_id=req.id or None)
    span = extension_total(grant, req.duration)
    return evaluate_extension(role, req.requester, grant.id, grant.state.value, req.duration,
                              span[0] if span else None, req.reason, who.groups, other.id if other else None)



async def _scheduled_for(tx: UnitOfWork, req: AccessRequest) -> AccessRequest | None:
    """Another request of the person for the role approved ahead and waiting for its start: it counts as pending
    (one not-yet-started request per person and role)."""
    waiting = await tx.requests.of(req.requester, RequestState.SCHEDULED)
    return next((r for r in waiting if r.role == req.role and r.id != req.id and r.kind is RequestKind.NEW), None)


def _holds_at_start(holds: Grant | None, req: AccessRequest) -> bool:
    """True when a live grant of the role stands in the way: any, for a request that starts now; for a scheduled
    start, one still running at the start (a grant ending before it may coexist with the scheduled request; if
    it is extended past the start, the start is refused then)."""
    if holds is None:
        return False
    if req.starts_at is None or holds.expires_at is None or req.state is RequestState.SCHEDULED:
        return True
    return holds.expires_at > req.starts_at
