"""Read-only use cases for the adapters (Slack, /api, the notifier): what they show, without opening the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.domain.effects import PostApproval, request_key
from bot.domain.model import AccessRequest, Grant, GrantState, OnCallApprover, RequestState
from bot.services.context import Deps
from bot.services.requests import pending_for

HELD = (GrantState.PENDING, GrantState.ACTIVE, GrantState.REVOKING)  # what `/access list` and the Home show
ENDED = (GrantState.REVOKED, GrantState.FAILED)
HISTORY = 5  # ended grants App Home shows


@dataclass
class MyAccess:
    """One person's grants being applied, held or revoked, their pending requests, and those they may decide."""

    grants: list[Grant]
    requests: list[AccessRequest]
    waiting: list[AccessRequest] = field(default_factory=list)
    history: list[Grant] = field(default_factory=list)


@dataclass
class RequestView:
    """A request as the notifier shows it: its grant (made, or extended) and where its approval messages are."""

    request: AccessRequest | None
    grant: Grant | None
    messages: list[Any]


async def grant(deps: Deps, grant_id: str) -> Grant | None:
    """The grant, or None."""
    async with deps.store.tx() as tx:
        return await tx.grants.get(grant_id)


async def grants_of(deps: Deps, *, email: str | None = None, role: str | None = None,
                    requester: str | None = None, states: tuple[GrantState, ...] | None = None) -> list[Grant]:
    """Grants matching every filter given (email case-insensitively), oldest first."""
    async with deps.store.read() as tx:
        return await tx.grants.find(email=email, role=role, requester=requester, states=states)


async def grants_page(deps: Deps, *, email: str | None, role: str | None, states: tuple[GrantState, ...] | None,
                      after: tuple[datetime, str] | None, limit: int) -> list[Grant]:
    """Up to `limit` + 1 grants matching the filters that come after `after` (creation time, ID), oldest first:
    the one past `limit` tells the caller there is a next page."""
    async with deps.store.read() as tx:
        return await tx.grants.find(email=email, role=role, states=states, after=after, limit=limit + 1)


async def request_and_grants(deps: Deps, request_id: str) -> tuple[AccessRequest | None, list[Grant]]:
    """The request (with its votes) and the grants it made, oldest first; (None, []) when there is none."""
    async with deps.store.tx() as tx:
        req = await tx.requests.get(request_id)
        made = await tx.grants.find(request_id=request_id) if req is not None else []
    return req, made


async def request_view(deps: Deps, request_id: str) -> RequestView:
    """The request, the grant it made (or the one it extends) and where its approval messages were posted."""
    async with deps.store.tx() as tx:
        req = await tx.requests.get(request_id)
        found = None
        if req is not None:
            made = await tx.grants.find(request_id=req.id)
            found = made[0] if made else None
            if found is None and req.grant_id:
                found = await tx.grants.get(req.grant_id)
        msgs = await tx.slack.approval_messages(request_id)
    return RequestView(req, found, msgs)


async def approval_post_owed(deps: Deps, request_id: str) -> bool:
    """Whether the request's approval message is still owed (its post is pending under the request's key, so
    only that key's few rows are read, never the whole Slack backlog)."""
    async with deps.store.tx() as tx:
        rows = await tx.outbox.pending_effects_for_key(request_key(request_id))
    return any(r.kind == PostApproval.KIND and r.payload.get("request_id") == request_id for r in rows)


async def my_access(deps: Deps, user: str, *, waiting: bool = False) -> MyAccess:
    """The user's grants being applied, held or revoked, pending requests (and those approved ahead of their
    scheduled start); with `waiting` (App Home), also the pending requests they may decide and their last few
    ended grants. Only live rows and a few of history, each through an index, read without waiting for the
    writers (on SQLite a write transaction would queue behind every writer)."""
    async with deps.store.read() as tx:
        grants = await tx.grants.find(requester=user, states=HELD)
        reqs = await tx.requests.of(user, RequestState.PENDING)
        reqs = sorted(reqs + await tx.requests.of(user, RequestState.SCHEDULED),  # approved ahead, not started
                      key=lambda r: r.created_at)
        decide = await pending_for(deps, tx, user) if waiting else []
        history = await tx.grants.recent(user, ENDED, HISTORY) if waiting else []
    return MyAccess(grants, reqs, decide, history)


async def waiting_for(deps: Deps, user: str) -> list[AccessRequest]:
    """Pending requests this user could decide, oldest first."""
    async with deps.store.read() as tx:
        return await pending_for(deps, tx, user)


async def home_viewers(deps: Deps, user_ids: list[str]) -> list[str]:
    """Those of `user_ids` who have opened the App Home, in the given order."""
    async with deps.store.tx() as tx:
        return await tx.slack.home_viewers(user_ids)


async def audit_page(deps: Deps, *, since_seq: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
    """Audit events after `since_seq`, oldest first, at most `limit`."""
    async with deps.store.tx() as tx:
        return await tx.audit.rows(since_seq=since_seq, limit=limit)


async def audit_event(deps: Deps, seq: int) -> dict[str, Any] | None:
    """The audit event numbered `seq`, or None."""
    found = await audit_page(deps, since_seq=seq - 1, limit=1)
    return found[0] if found else None



async def audit_events(deps: Deps, seqs: list[int]) -> list[dict[str, Any]]:
    """The audit events numbered `seqs` that exist, in seq order."""
    async with deps.store.tx() as tx:
        return await tx.audit.by_seqs(seqs)

@dataclass
class Status:
    """What /metrics shows of the database: grants and effects per state, retrying effects per kind, and how
    long the most overdue grant has held access past its end."""

    grants: dict[str, int]
    effects: dict[str, int]
    retrying: dict[str, int]
    overdue_seconds: float


async def status(deps: Deps) -> Status:
    """The counts /metrics reports, read without waiting for the writers."""
    now = deps.clock.now()
    async with deps.store.read() as tx:
        grants = await tx.grants.counts_by_state()
        effects = await tx.outbox.effect_counts()
        retrying = await tx.outbox.retrying_by_kind()
        oldest = await tx.grants.oldest_overdue(now)
    return Status(grants, effects, retrying, (now - oldest).total_seconds() if oldest else 0.0)


async def database_answers(deps: Deps) -> str | None:
    """None when the database answers a read; else the failure's type name (for /healthz)."""
    try:
        async with deps.store.read() as tx:
            await tx.ping()
    except Exception as exc:  # noqa: BLE001 - any database failure means unhealthy
        return type(exc).__name__
    return None


async def unreviewed_break_glass(deps: Deps) -> list[Grant]:
    """Break-glass grants no admin has acknowledged yet, oldest first (every one has a review reminder time)."""
    async with deps.store.tx() as tx:
        ids = await tx.grants.due_reviews(datetime(9999, 1, 1, tzinfo=UTC), limit=50)
        found = [await tx.grants.get(gid) for gid in ids]
    return sorted((g for g in found if g is not None), key=lambda g: g.created_at)


async def oncall_approvers(deps: Deps, request_id: str) -> list[OnCallApprover]:
    """The people made approvers of the request by being on call when it was filed."""
    async with deps.store.tx() as tx:
        return await tx.requests.oncall_approvers(request_id)
