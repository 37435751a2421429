"""The unit-of-work port: one transaction carrying the repositories, the factory that opens it, and locks."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from bot.domain.clock import Clock
from bot.domain.repositories import (
    AuditLog,
    Checkpoints,
    Deliveries,
    Grants,
    Members,
    Outbox,
    Requests,
    SlackState,
)


class UnitOfWork(Protocol):
    """One transaction: everything written through its repositories commits together or not at all."""

    requests: Requests
    grants: Grants
    members: Members
    outbox: Outbox
    audit: AuditLog
    checkpoints: Checkpoints
    slack: SlackState
    deliveries: Deliveries

    @property
    def enqueued(self) -> bool:
        """Whether any effect was owed in this unit of work."""
        ...

    @property
    def audited(self) -> list[dict[str, Any]]:
        """The audit rows appended in this unit of work."""
        ...

    async def lock_person(self, user_id: str) -> None:
        """Serialise one person's filings across processes until the unit of work ends."""
        ...

    async def ping(self) -> None:
        """Ask the database the cheapest question; raises when it does not answer."""
        ...

    async def next_due(self) -> datetime | None:
        """The earliest moment anything falls due: an expiry, a warning, a request timeout, an effect."""
        ...


class UnitOfWorkFactory(Protocol):
    """Opens units of work: `async with store.tx() as tx:` commits at the end, rolls back on an exception."""

    clock: Clock
    after_commit: list[Callable[[UnitOfWork], None]]  # called with each unit of work once it has committed

    def tx(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A new unit of work."""
        ...

    def single(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work for one writing statement that is atomic by itself (an insert that skips conflicts):
        it commits as the statement runs where the database allows (no BEGIN and COMMIT round trips), else it is
        `tx()`. Two statements through it are two commits: anything more belongs in `tx()`."""
        ...

    def read(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work for reading only: it takes no writer's lock, so a status page never waits behind
        (or holds up) the writers; nothing written through it is kept."""
        ...


class Locker(Protocol):
    """Named locks shared by every process (a Cloudflare group, a piece of outbox work)."""

    def try_hold(self, name: str) -> AbstractAsyncContextManager[bool]:
        """Hold the named lock if it is free (yields True), else yield False at once."""
        ...

    def hold(self, name: str, poll: float = 0.05) -> AbstractAsyncContextManager[None]:
        """Wait for the named lock and hold it."""
        ...
