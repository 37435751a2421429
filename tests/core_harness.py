"""A bot core without Slack or Cloudflare: real use cases and scheduler, fakes at the ports, a manual clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.bootstrap import wire
from bot.config.policy_file import parse_policy
from bot.config.settings import Settings
from bot.domain.clock import ManualClock
from bot.domain.effects import encode
from bot.scheduler import Scheduler
from bot.services.context import Deps
from tests.fakes import FakeDirectory, FakeGroups, RecordingMessenger
from tests.policies import ACCOUNT, policy_text, role

GROUP = "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60"
GROUP2 = "7a1c9e20-3b4d-4f5e-8a6b-2c3d4e5f6a70"

POLICY = policy_text({
    "prod-db": role(GROUP, description="Production database", approvers=["U0APPR01", "U0APPR02", "S0SRE"],
                    revoke_sessions=True),
    "two-man": role(GROUP2, approvers=["U0APPR01", "U0APPR02"], approvals_required=2),
    "shared-a": role(GROUP2, auto_approve=True, require_reason=False),
    "self-ok": role(GROUP2, approvers=["U0ALICE"], allow_self_approval=True),
    "restricted": role(GROUP2, approvers=["U0APPR01"], requesters=["S0ENG"]),
}, defaults={"warn_before": "10m", "request_timeout": "24h", "max_duration": "2d"})


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


def core_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for a core in a test: the database, no periodic drift check nor retention prune unless asked,
    nothing from .env."""
    values: dict[str, Any] = {"database_url": database_url, "accessbot_reconcile_interval": timedelta(0),
                              "accessbot_retention": timedelta(0), **overrides}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def core_ports() -> tuple[FakeGroups, FakeDirectory]:
    """The fakes at the ports every core test starts from: the policy's two groups (one with a standing rule the
    bot does not own) and its people, with their Slack user groups."""
    groups = FakeGroups()
    groups.add(ACCOUNT, GROUP, include=[{"email_domain": {"domain": "sre.example.com"}}])
    groups.add(ACCOUNT, GROUP2)
    directory = FakeDirectory()
    for uid in ("U0ALICE", "U0BOB", "U0APPR01", "U0APPR02", "U0APPR03", "U0ADMIN1"):
        directory.add_user(uid, f"{uid[2:].lower()}@example.com")
    directory.groups = {"S0SRE": {"U0APPR03"}, "S0ENG": {"U0BOB"}}
    return groups, directory


async def make_core(database_url: str, policy_text: str = POLICY, **settings: Any) -> Core:
    """Migrate a fresh database and wire the core through the composition root, with fakes at the ports."""
    clock = ManualClock()
    groups, directory = core_ports()
    messenger = RecordingMessenger()
    wiring = await wire(core_settings(database_url, **settings), parse_policy(policy_text), clock=clock,
                        groups=groups, directory=directory, messenger=lambda _deps: messenger, seed=1)
    return Core(wiring.deps, clock, groups, directory, wiring.scheduler, messenger)
