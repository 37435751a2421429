"""A bot core without Slack or Cloudflare: real use cases and scheduler, fakes at the ports, a manual clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.config.policy_file import parse_policy
from bot.domain.clock import ManualClock
from bot.domain.effects import encode
from bot.scheduler import Scheduler
from bot.services.context import Deps
from bot.storage.engine import make_engine
from bot.storage.locks import Locker
from bot.storage.migrate import upgrade
from bot.storage.store import Store
from tests.fakes import FakeDirectory, FakeGroups, RecordingMessenger

ACCOUNT = "1234567890abcdef1234567890abcdef"
GROUP = "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60"
GROUP2 = "7a1c9e20-3b4d-4f5e-8a6b-2c3d4e5f6a70"

POLICY = f"""
defaults:
  warn_before: 10m
  request_timeout: 24h
  max_duration: 2d
admins: [U0ADMIN1]
roles:
  prod-db:
    description: Production database
    group_id: {GROUP}
    account_id: {ACCOUNT}
    approvers: [U0APPR01, U0APPR02, S0SRE]
    revoke_sessions: true
  two-man:
    group_id: {GROUP2}
    account_id: {ACCOUNT}
    approvers: [U0APPR01, U0APPR02]
    approvals_required: 2
  shared-a:
    group_id: {GROUP2}
    account_id: {ACCOUNT}
    auto_approve: true
    require_reason: false
  self-ok:
    group_id: {GROUP2}
    account_id: {ACCOUNT}
    approvers: [U0ALICE]
    allow_self_approval: true
  restricted:
    group_id: {GROUP2}
    account_id: {ACCOUNT}
    approvers: [U0APPR01]
    requesters: [S0ENG]
"""


@dataclass
class Core:
    """The core wired with fakes; `messenger` records every Slack effect the core carried out."""

    deps: Deps
    clock: ManualClock
    groups: FakeGroups
    directory: FakeDirectory
    scheduler: Scheduler
    messenger: RecordingMessenger = field(default_factory=RecordingMessenger)

    async def settle(self) -> None:
        """Run everything due now (timers and effects) until nothing is left."""
        await self.scheduler.run_until_idle()

    def owed(self, kind: str) -> list[dict[str, Any]]:
        """Payloads (as stored) of the Slack effects of one stored kind carried out so far."""
        return [stored.payload for stored in map(encode, self.messenger.sent) if stored.kind == kind]


async def make_core(database_url: str, policy_text: str = POLICY) -> Core:
    """Migrate a fresh database and wire the core with fakes."""
    engine = make_engine(database_url)
    await upgrade(engine)
    clock = ManualClock()
    groups = FakeGroups()
    groups.add(ACCOUNT, GROUP, include=[{"email_domain": {"domain": "sre.example.com"}}])
    groups.add(ACCOUNT, GROUP2)
    directory = FakeDirectory()
    for uid in ("U0ALICE", "U0BOB", "U0APPR01", "U0APPR02", "U0APPR03", "U0ADMIN1"):
        directory.add_user(uid, f"{uid[2:].lower()}@example.com")
    directory.groups = {"S0SRE": {"U0APPR03"}, "S0ENG": {"U0BOB"}}
    deps = Deps(store=Store(engine, clock), clock=clock, policy=parse_policy(policy_text), directory=directory,
                groups=groups)
    messenger = RecordingMessenger()
    scheduler = Scheduler(deps, Locker(engine), messenger, seed=1)
    return Core(deps, clock, groups, directory, scheduler, messenger)
