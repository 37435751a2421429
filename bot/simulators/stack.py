"""The whole bot on loopback: Slack and Cloudflare simulators, the real `serve` code path, a signed driver.

`accessbot demo` and the scenario tests both stand on this, so what the tests prove is what the demo shows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.bootstrap import Bot, Server, build
from bot.config.policy_file import parse_policy
from bot.config.settings import Settings
from bot.domain.clock import Clock
from bot.domain.policy import Policy
from bot.simulators.cloudflare_sim import CloudflareSimulator
from bot.simulators.pagerduty_sim import PD_TOKEN, PagerDutySimulator
from bot.simulators.slack_driver import SlackDriver
from bot.simulators.slack_sim import SlackSimulator

ACCOUNT = "1234567890abcdef1234567890abcdef"
PROD_GROUP = "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60"
STAGING_GROUP = "7a1c9e20-3b4d-4f5e-8a6b-2c3d4e5f6a70"
ONCALL_GROUP = "3c9d2e41-5a6b-4c7d-9e8f-4a5b6c7d8e90"
ONCALL_SCHEDULE = "PSCHED1"
PAYMENTS_GROUP = "9b8a7c6d-1e2f-4a3b-8c4d-6e7f8a9b0c1d"
ANALYTICS_GROUP = "4d5e6f70-8192-4a3b-9c4d-5e6f7a8b9c0d"
SIGNING_SECRET = "demo-signing-secret-0123456789abcdef"
SLACK_TOKEN = "xoxb-demo-token"
CF_TOKEN = "cf-demo-token"

DEMO_POLICY = f"""
defaults:
  min_duration: 5s
  default_duration: 20s
  max_duration: 8h
  warn_before: 10s
  request_timeout: 1h
admins: [U0ADMIN1]
audit_channel: C0AUDIT1
roles:
  prod-db:
    description: Production database console
    group_id: {PROD_GROUP}
    account_id: {ACCOUNT}
    approvers: [U0APPR01, S0SRETEAM]
    approval_channel: C0APPROVE
    revoke_sessions: true
  staging:
    description: Staging dashboards
    group_id: {STAGING_GROUP}
    account_id: {ACCOUNT}
    auto_approve: true
    require_reason: false
  prod-oncall:
    description: Production shell for whoever is on call
    group_id: {ONCALL_GROUP}
    account_id: {ACCOUNT}
    approvers: [U0APPR01]
    approval_channel: C0APPROVE
    oncall: {{provider: pagerduty, schedule_ids: [{ONCALL_SCHEDULE}], auto_approve: true}}
  payments:
    description: Payments console (break-glass for incidents)
    group_id: {PAYMENTS_GROUP}
    account_id: {ACCOUNT}
    approvers: [U0APPR01]
    approval_channel: C0APPROVE
    break_glass: true
    break_glass_max_duration: 15s
  analytics:
    description: Analytics warehouse
    group_id: {ANALYTICS_GROUP}
    account_id: {ACCOUNT}
    approvers: [U0APPR01]
    approval_channel: C0APPROVE
    remind_after: 2s
    reminders: 1
    escalate_after: 4s
    escalate_to: [U0ADMIN1]
"""

PEOPLE = {
    "U0ALICE": "alice@example.com",
    "U0APPR01": "bob@example.com",
    "U0APPR02": "carol@example.com",
    "U0ADMIN1": "dana@example.com",
    "U0MALLORY": "mallory@example.com",
}


@dataclass
class Stack:
    """A running bot with its simulators and a driver that talks to it as Slack does."""

    slack: SlackSimulator
    cloudflare: CloudflareSimulator
    bot: Bot
    server: Server
    driver: SlackDriver
    url: str
    policy: Policy
    extra: dict[str, Any] = field(default_factory=dict)
    pagerduty: PagerDutySimulator | None = None  # on-call schedules (the demo's people are its users)

    async def idle(self, timeout: float = 10.0) -> None:
        """Wait until no Slack listener is still working, nothing is due (outbox effects, expiries, warnings,
        request timeouts) and no effect is in flight."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        sched = self.bot.scheduler
        while loop.time() < deadline:
            sched.wake()
            await asyncio.sleep(0.02)
            if self.bot.ingress.in_flight or sched._tasks:  # noqa: SLF001 - the stack is the scheduler's harness
                continue
            now = self.bot.deps.clock.now()
            async with self.bot.deps.store.tx() as tx:
                due = (await tx.outbox.due_effects(now, limit=1) or await tx.grants.due_expiries(now, limit=1)
                       or await tx.grants.due_warnings(now, limit=1) or await tx.requests.due_expiries(now, limit=1))
            if not due and not sched._tasks:  # noqa: SLF001
                return
        raise TimeoutError("the bot did not go idle")

    async def stop(self) -> None:
        """Stop the bot and both simulators."""
        await self.driver.close()
        await self.server.stop()
        await self.slack.stop()
        await self.cloudflare.stop()
        if self.pagerduty is not None:
            await self.pagerduty.stop()


def pagerduty_people(pagerduty: PagerDutySimulator) -> None:
    """The demo's people as PagerDuty users (`U0ALICE` is `P0ALICE`), nobody on call yet."""
    for uid, email in PEOPLE.items():
        pagerduty.add_user("P" + uid[1:], email, email.split("@")[0].title())


def default_people(slack: SlackSimulator) -> None:
    """The demo's people and user groups, plus a bot, a guest, a deleted user and one with no email."""
    for uid, email in PEOPLE.items():
        slack.add_user(uid, email=email, name=email.split("@")[0])
    slack.add_user("U0BOTTY", email=None, name="ci-bot", is_bot=True)
    slack.add_user("U0GUEST", email="guest@partner.example", name="guest", is_restricted=True)
    slack.add_user("U0GONE", email="gone@example.com", name="gone", deleted=True)
    slack.add_user("U0NOMAIL", email=None, name="nomail")
    slack.add_usergroup("S0SRETEAM", ["U0APPR02"])


async def start_stack(policy_text: str = DEMO_POLICY, *, database_url: str, clock: Clock | None = None,
                      max_sleep: float = 5.0, foreign_rules: list[dict[str, Any]] | None = None,
                      settings_overrides: dict[str, Any] | None = None, migrate: bool = True,
                      early_ack: bool = True, socket_mode: bool = False) -> Stack:
    """Start simulators and the bot on 127.0.0.1 (port 0) and return the running stack.

    With `socket_mode` the bot gets an app token and no signing secret, and takes Slack's requests
    over the simulator's websocket (drive it with the driver's `socket_*` methods)."""
    slack = SlackSimulator(token=SLACK_TOKEN)
    cloudflare = CloudflareSimulator(token=CF_TOKEN)
    pagerduty = PagerDutySimulator()
    slack_url = await slack.start()
    cf_url = await cloudflare.start()
    pd_url = await pagerduty.start()
    default_people(slack)
    pagerduty_people(pagerduty)
    policy = parse_policy(policy_text, "policy.yml")
    for role in policy.roles.values():
        if role.list_id:  # a list role: its Zero Trust EMAIL list, made empty unless the test made it first
            try:
                cloudflare.zt_list(role.account_id, role.list_id)
            except KeyError:
                cloudflare.add_list(role.account_id, role.list_id, name=f"{role.name} (accessbot)")
            continue
        try:
            cloudflare.group(role.account_id, role.group_id)
        except KeyError:
            cloudflare.add_group(role.account_id, role.group_id, name=f"{role.name} (accessbot)",
                                 include=list(foreign_rules or [{"email_domain": {"domain": "sre.example.com"}}]),
                                 exclude=[{"email": {"email": "contractor@example.com"}}], require=[])
    values: dict[str, Any] = dict(
        slack_bot_token=SLACK_TOKEN, slack_signing_secret=SIGNING_SECRET, slack_api_url=slack_url,
        cloudflare_api_token=CF_TOKEN, cloudflare_api_url=cf_url, cloudflare_account_id=ACCOUNT,
        database_url=database_url, accessbot_policy="policy.yml",
        pagerduty_api_token=PD_TOKEN, pagerduty_api_url=pd_url, pagerduty_timeout=2.0,
    )
    if socket_mode:
        values["slack_app_token"] = slack.app_token
        del values["slack_signing_secret"]
    values.update(settings_overrides or {})
    settings = Settings(**values)
    bot = await build(settings, policy, clock=clock, migrate=migrate, max_sleep=max_sleep, early_ack=early_ack)
    server = Server(bot)
    port = await server.start("127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}"
    driver = SlackDriver(url, SIGNING_SECRET, slack)
    return Stack(slack, cloudflare, bot, server, driver, url, policy, pagerduty=pagerduty)


def sqlite_url(directory: Path) -> str:
    """A fresh SQLite database file in `directory`."""
    return f"sqlite+aiosqlite:///{directory / 'accessbot.db'}"
