"""Repository ports, one per aggregate: what the use cases read and write, whatever the database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from bot.domain.audit import AuditEvent
from bot.domain.checkpoint import Checkpoint
from bot.domain.effects import Effect
from bot.domain.model import AccessRequest, Grant, GrantState, OnCallApprover, RequestState, Vote

AUDIT_PAGE = 5000  # audit rows read at a time when the log is streamed


async def keyset_pages(read_page: Callable[[int, int], Awaitable[list[dict[str, Any]]]], after: int,
                       size: int) -> AsyncIterator[dict[str, Any]]:
    """Every row `read_page(after_seq, size)` gives, page after page: each page starts after the last `seq` seen,
    so no row is read twice or skipped however many are appended meanwhile; stops at a short page."""
    while True:
        batch = await read_page(after, size)
        for row in batch:
            yield row
        if len(batch) < size:
            return
        after = batch[-1]["seq"]
PRUNE_BATCH = 1000  # rows deleted at a time by the retention job


class Inserted(StrEnum):
    """How an insert of a row with a fresh ID went."""

    OK = "ok"
    ID_TAKEN = "id_taken"    # another row has this ID: try again with a fresh one
    CONFLICT = "conflict"    # a unique rule (one pending request, one pending extension, one live grant) forbids it


class Requests(Protocol):
    """Access requests (new grants and extensions) with their votes."""

    async def add(self, r: AccessRequest) -> Inserted:
        """Insert a new request; ID_TAKEN when its ID exists, CONFLICT when a one-pending rule forbids it."""
        ...

    async def get(self, request_id: str, *, lock: bool = False) -> AccessRequest | None:
        """The request with its votes; `lock` holds it against concurrent votes until the unit of work ends."""
        ...

    async def filed_since(self, requester: str, since: datetime) -> list[datetime]:
        """When the requester filed each request and extension created after `since`, newest first."""
        ...

    async def pending_extension_for(self, grant_id: str, *, except_id: str | None = None) -> AccessRequest | None:
        """The pending extension of a grant (other than `except_id`), if any."""
        ...

    async def pending_request_for(self, requester: str, role: str, *,
                                  except_id: str | None = None) -> AccessRequest | None:
        """The requester's pending new-grant request for the role (other than `except_id`), if any."""
        ...

    async def add_vote(self, vote: Vote) -> bool:
        """Record a vote; False when this voter already voted on this request."""
        ...

    async def move(self, request_id: str, frm: RequestState, to: RequestState, **fields: Any) -> bool:
        """Compare-and-set a request's state (and set `fields`); False when it was no longer `frm`."""
        ...

    async def of(self, requester: str, state: RequestState = RequestState.PENDING) -> list[AccessRequest]:
        """The requester's requests in a state, oldest first."""
        ...

    async def pending(self, roles: Collection[str] | None = None, ids: Collection[str] = ()) -> list[AccessRequest]:
        """Every pending request, oldest first; given `roles`, only those of these roles or with these `ids`."""
        ...

    async def pending_roles(self) -> set[str]:
        """The roles some pending request is for."""
        ...

    async def due_expiries(self, now: datetime, limit: int = 100) -> list[str]:
        """IDs of pending requests whose timeout has come, soonest first."""
        ...

    async def due_starts(self, now: datetime, limit: int = 100) -> list[str]:
        """IDs of requests approved ahead (`scheduled`) whose start has come, soonest first."""
        ...

    async def due_reminders(self, now: datetime, limit: int = 100) -> list[str]:
        """IDs of pending requests whose next reminder has come."""
        ...

    async def due_escalations(self, now: datetime, limit: int = 100) -> list[str]:
        """IDs of pending requests whose escalation has come and not happened."""
        ...

    async def mark_reminded(self, request_id: str, sent: int, next_at: datetime | None) -> bool:
        """Compare-and-set reminder `sent + 1` of a pending request (and the next one's time); False if lost."""
        ...

    async def mark_escalated(self, request_id: str, at: datetime) -> bool:
        """Compare-and-set the escalation of a pending request, once; False when escalated or decided."""
        ...

    async def add_oncall_approvers(self, approvers: list[OnCallApprover]) -> None:
        """Make these on-call people approvers of their request (a person named twice is kept once)."""
        ...

    async def oncall_approvers(self, request_id: str) -> list[OnCallApprover]:
        """The request's on-call approvers, in the order they were added."""
        ...

    async def oncall_requests_of(self, user: str) -> set[str]:
        """IDs of the requests this person is an on-call approver of."""
        ...


class Grants(Protocol):
    """Grants of a role to a person, with their expiry and warning times."""

    async def counts_by_state(self) -> dict[str, int]:
        """How many grants are in each state."""
        ...

    async def oldest_overdue(self, now: datetime) -> datetime | None:
        """The earliest `expires_at` of a grant that still holds access (active or revoking) past it."""
        ...

    async def add(self, g: Grant) -> Inserted:
        """Insert a new grant; ID_TAKEN when its ID exists, CONFLICT when the person already holds the role."""
        ...

    async def get(self, grant_id: str, *, lock: bool = False) -> Grant | None:
        """The grant, or None; `lock` holds it until the unit of work ends."""
        ...

    async def extend(self, grant_id: str, old_expiry: datetime, new_expiry: datetime,
                     warn_at: datetime | None) -> bool:
        """Move an active grant's end from `old_expiry` to `new_expiry` (compare-and-set on the old end)."""
        ...

    async def move(self, grant_id: str, frm: tuple[GrantState, ...], to: GrantState, **fields: Any) -> bool:
        """Compare-and-set a grant's state (and set `fields`); False when it was in none of `frm`."""
        ...

    async def update(self, grant_id: str, state: GrantState, **fields: Any) -> bool:
        """Change fields of a grant that is still in `state`; False when it is not."""
        ...

    async def move_many(self, grant_ids: list[str], frm: tuple[GrantState, ...], to: GrantState, *,
                        due_by: datetime | None = None, **fields: Any) -> list[Grant]:
        """Compare-and-set many grants' state at once (and set `fields`), only those in one of `frm` (and, given
        `due_by`, whose end is at or before it); the grants that moved, as they are now, in no set order."""
        ...

    async def activate_many(self, starts: list[tuple[str, datetime, datetime | None]],
                            granted_at: datetime) -> list[str]:
        """Move pending grants to active, each `(id, expires_at, warn_at)` with its own end and warning time,
        all granted at `granted_at` (compare-and-set on pending); the IDs that moved."""
        ...

    async def live_for(self, requester: str, role: str) -> Grant | None:
        """The requester's pending or active grant of the role, if any."""
        ...

    async def find(
        self, *, states: tuple[GrantState, ...] | None = None, requester: str | None = None,
        email: str | None = None, role: str | None = None, account_id: str | None = None,
        group_id: str | None = None, request_id: str | None = None, limit: int | None = None,
        after: tuple[datetime, str] | None = None,
    ) -> list[Grant]:
        """Grants matching every filter given (email case-insensitively), oldest first (by creation time, then
        ID); with `after` (a grant's creation time and ID), only those that come after it in that order."""
        ...

    async def recent(self, requester: str, states: tuple[GrantState, ...], limit: int) -> list[Grant]:
        """The requester's latest grants in `states`, newest first."""
        ...

    async def due_expiries(self, now: datetime, limit: int = 200) -> list[str]:
        """IDs of active grants whose time is up, soonest first."""
        ...

    async def due_warnings(self, now: datetime, limit: int = 200) -> list[str]:
        """IDs of active, unwarned grants whose expiry warning is due."""
        ...

    async def due_reviews(self, now: datetime, limit: int = 100) -> list[str]:
        """IDs of unacknowledged break-glass grants whose review reminder has come."""
        ...

    async def mark_review_reminded(self, grant_id: str, sent: int, next_at: datetime) -> bool:
        """Compare-and-set review reminder `sent + 1` of an unacknowledged break-glass grant; False if lost."""
        ...

    async def acknowledge(self, grant_id: str, by: str, at: datetime) -> bool:
        """Compare-and-set the review of a break-glass grant, once; False when not one or acknowledged already."""
        ...


class Members(Protocol):
    """Which emails' rules in which Cloudflare groups the bot added (and so may remove)."""

    async def emails(self, account_id: str, group_id: str) -> set[str]:
        """Lower-cased emails whose rule in the group the bot added."""
        ...

    async def groups(self) -> set[tuple[str, str]]:
        """Every (account, group) the bot has added an email to."""
        ...

    async def add(self, account_id: str, group_id: str, emails: set[str]) -> None:
        """Record that the bot owns these emails' rules in the group (before it writes them)."""
        ...

    async def remove(self, account_id: str, group_id: str, emails: set[str]) -> None:
        """Forget the bot's ownership of these emails' rules in the group."""
        ...


class Outbox(Protocol):
    """Side effects owed, committed with the state change that owes them, claimed by key and lane."""

    async def enqueue(self, kind: str, payload: dict[str, Any], *, key: str | None = None,
                      at: datetime | None = None, lane: int | None = None) -> None:
        """Owe a side effect (in `lane`, else its kind's), due at `at` or now."""
        ...

    async def owe(self, effect: Effect, *, at: datetime | None = None) -> None:
        """Owe a typed effect (bot.domain.effects encodes its kind, payload, key and lane), due at `at` or now."""
        ...

    async def owe_many(self, effects: list[Effect], *, at: datetime | None = None) -> None:
        """Owe many typed effects at once (one multi-row insert), in the order given, due at `at` or now."""
        ...

    async def due_keys(self, now: datetime, *, per_lane: int = ...) -> list[tuple[str, int]]:
        """Keys with effects due now, lane by lane (most urgent first), each with its most urgent lane."""
        ...

    async def due_effects(self, now: datetime, limit: int = 50) -> list[Any]:
        """Pending effects whose time has come, oldest first."""
        ...

    async def effect(self, effect_id: int) -> Any:
        """One effect (id, kind, key, payload, state, attempts, next_at, ...), or None."""
        ...

    async def pending_effects_for_key(self, key: str) -> list[Any]:
        """Pending effects sharing a key, oldest first."""
        ...

    async def postpone_key(self, key: str, at: datetime) -> None:
        """Nothing of this key is tried before `at`: its pending effects due earlier wait."""
        ...

    async def finish_effects(self, ids: list[int], state: str = "done", error: str | None = None) -> None:
        """Mark effects done (or dead) if still pending."""
        ...

    async def retry_effects(self, ids: list[int], at: datetime, error: str, *, first_failed_at: datetime,
                            next_alert_at: datetime | None = None, alerts: int | None = None) -> None:
        """Push pending effects to a later attempt, remembering the error and when failing began."""
        ...

    async def retrying_by_kind(self) -> dict[str, int]:
        """Pending effects that have failed at least once, per kind."""
        ...

    async def effect_counts(self) -> dict[str, int]:
        """How many effects are in each state."""
        ...

    async def prune_done(self, before: datetime, limit: int = PRUNE_BATCH) -> int:
        """Delete up to `limit` effects done before `before` (pending and dead ones are kept); how many went."""
        ...


class AuditLog(Protocol):
    """The hash-chained audit log."""

    async def append(self, event: AuditEvent) -> dict[str, Any]:
        """Append an event to the chain (serialised across processes) and return its sealed row."""
        ...

    async def append_many(self, events: list[AuditEvent]) -> list[dict[str, Any]]:
        """Append events to the chain in the order given, as one extension of it (one lock, one read of the
        head, one multi-row insert), and return their sealed rows."""
        ...

    async def rows(self, *, since_seq: int = 0, since_at: str | None = None, limit: int | None = None,
                   action: str | None = None, role: str | None = None, actor: str | None = None,
                   subject: str | None = None, newest: bool = False) -> list[dict[str, Any]]:
        """Audit rows in order (oldest first unless `newest`), filtered; `actor` and `subject` together
        mean either one."""
        ...

    async def by_seqs(self, seqs: list[int]) -> list[dict[str, Any]]:
        """The audit rows numbered `seqs` that exist, in seq order."""
        ...

    def stream(self, *, since_seq: int = 0, since_at: str | None = None,
               page: int | None = None) -> AsyncIterator[dict[str, Any]]:
        """Every audit row after `since_seq` (and at or after `since_at`), oldest first, read `page` rows at a
        time (AUDIT_PAGE by default) by keyset on seq, one short query a page: a log of any size in bounded
        memory."""
        ...

    async def lock(self) -> None:
        """Hold the chain until the unit of work ends: no event is appended meanwhile."""
        ...

    async def head(self) -> tuple[int, str]:
        """The number of events and the chain hash of the last one (the genesis hash when there is none)."""
        ...


class Checkpoints(Protocol):
    """Signed audit checkpoints kept next to the audit log."""

    async def last(self) -> Any:
        """The newest stored checkpoint (tree_size, head_hash, note_hash, note), or None."""
        ...

    async def add(self, cp: Checkpoint) -> None:
        """Store a checkpoint just signed."""
        ...


class SlackState(Protocol):
    """Slack conversation state: where approval messages were posted, who has opened the App Home."""

    async def add_approval_message(self, request_id: str, channel: str, ts: str, approver: str | None) -> None:
        """Remember where an approval message was posted."""
        ...

    async def approval_messages(self, request_id: str) -> list[Any]:
        """Where the request's approval message(s) were posted (channel, ts, approver)."""
        ...

    async def audit_thread(self, request_id: str, channel: str) -> str | None:
        """The ts of the request's thread in the audit channel `channel`, or None when it has none there yet."""
        ...

    async def add_audit_thread(self, request_id: str, channel: str, ts: str) -> None:
        """Remember the request's thread in the audit channel (a later channel replaces an earlier one)."""
        ...

    async def saw_home(self, user_id: str) -> None:
        """Remember that this user opened the App Home."""
        ...

    async def home_viewers(self, user_ids: list[str]) -> list[str]:
        """Those of `user_ids` who have opened the App Home, in the given order."""
        ...


class Deliveries(Protocol):
    """Delivery keys seen (Slack retries carry the same event ID)."""

    async def first(self, key: str) -> bool:
        """True the first time a delivery key is seen."""
        ...

    async def first_of(self, keys: Sequence[str]) -> set[str]:
        """Record every key at once; the ones seen for the first time."""
        ...

    async def prune(self, before: datetime, limit: int = PRUNE_BATCH) -> int:
        """Forget up to `limit` delivery keys first seen before `before`; how many went."""
        ...
