"""The use cases wired to in-memory fakes: a FakeStore, a manual clock, fake Slack and Cloudflare, counted IDs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from itertools import count
from typing import Any

from bot.config.policy_file import parse_policy
from bot.domain.clock import ManualClock
from bot.domain.ids import ALPHABET
from bot.domain.membership import list_of
from bot.domain.model import AccessRequest, Grant, VoteChoice
from bot.domain.wording import explain
from bot.services import approval, group_sync, list_sync, requests
from bot.services.context import Deps
from tests.core_harness import ACCOUNT, GROUP, GROUP2, POLICY, core_ports
from tests.fakes import FakeDirectory, FakeGroups
from tests.fakes_uow import FakeStore

__all__ = ["ACCOUNT", "GROUP", "GROUP2", "World", "make_world"]


def counted_ids() -> Any:
    """An IdSource giving r-22222222, r-22222223, ... (deterministic, valid IDs)."""
    numbers = count()

    def next_id(kind: str) -> str:
        """The next ID of a kind."""
        n, digits = next(numbers), []
        for _ in range(8):
            n, d = divmod(n, len(ALPHABET))
            digits.append(ALPHABET[d])
        return f"{kind}-{''.join(reversed(digits))}"
    return next_id


@dataclass
class World:
    """Everything a use-case test touches."""

    deps: Deps
    store: FakeStore
    clock: ManualClock
    groups: FakeGroups
    directory: FakeDirectory

    async def request(self, request_id: str) -> AccessRequest:
        """The stored request (it must exist)."""
        async with self.store.tx() as tx:
            req = await tx.requests.get(request_id)
        assert req is not None
        return req

    async def grant(self, grant_id: str) -> Grant:
        """The stored grant (it must exist)."""
        async with self.store.tx() as tx:
            grant = await tx.grants.get(grant_id)
        assert grant is not None
        return grant

    async def sync(self, group_id: str = GROUP) -> dict[str, Any]:
        """Carry out the Cloudflare syncs owed to a group, as the scheduler would."""
        ids = [e["id"] for e in self.store.effects("cf.sync")
               if e["state"] == "pending" and e["payload"]["group_id"] == group_id]
        if list_of(group_id):
            return await list_sync.sync_list(self.deps, ACCOUNT, group_id, ids)
        return await group_sync.sync_group(self.deps, ACCOUNT, group_id, ids)

    async def active_grant(self, user: str = "U0ALICE", role: str = "prod-db",
                           duration: timedelta = timedelta(hours=1)) -> Grant:
        """File, approve and apply a grant; returns it active."""
        out = await requests.submit(self.deps, user, role, duration, "incident 4211")
        assert out.ok, explain(out)
        rid = out.data["request_id"]
        if (await self.request(rid)).state.value == "pending":
            voted = await approval.vote(self.deps, rid, "U0APPR01", VoteChoice.APPROVE)
            assert voted.ok, explain(voted)
        role_group = self.deps.policy.role(role).target
        await self.sync(role_group)
        async with self.store.tx() as tx:
            [grant] = await tx.grants.find(request_id=rid)
        assert grant.state.value == "active"
        return grant


def make_world(policy_text: str = POLICY) -> World:
    """A fresh world: the core harness's policy, people and groups, all in memory."""
    clock = ManualClock()
    store = FakeStore(clock)
    groups, directory = core_ports()
    deps = Deps(store=store, clock=clock, policy=parse_policy(policy_text), directory=directory, groups=groups,
                ids=counted_ids())
    return World(deps, store, clock, groups, directory)
