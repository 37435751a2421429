"""`accessbot serve` keeps its connections to Slack's Web API alive: its calls share one session, so calls made
one after another go over one connection instead of a new session and TCP connection each."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.config.policy_file import load_policy
from bot.polling import eventually
from bot.simulators.cloudflare_sim import CloudflareSimulator
from bot.simulators.slack_driver import SlackDriver
from bot.simulators.slack_sim import SlackSimulator
from bot.simulators.stack import default_people
from tests.integration.test_cli import BOT_TOKEN, CF_TOKEN, EXAMPLE_POLICY, SIGNING_SECRET, serve_env
from tests.procs import ServeProcess


async def test_serves_slack_calls_one_after_another_share_a_kept_alive_connection(tmp_path: Path) -> None:
    slack, cloudflare = SlackSimulator(token=BOT_TOKEN), CloudflareSimulator(token=CF_TOKEN)
    slack_url, cf_url = await slack.start(), await cloudflare.start()
    default_people(slack)
    for role in load_policy(EXAMPLE_POLICY).roles.values():
        cloudflare.add_group(role.account_id, role.group_id, name=role.name, include=[], exclude=[], require=[])
    workdir = tmp_path / "work"
    workdir.mkdir()
    serve = ServeProcess(serve_env(workdir / "accessbot.db", SLACK_API_URL=slack_url, CLOUDFLARE_API_URL=cf_url),
                         workdir)
    try:
        url = await asyncio.to_thread(serve.start)
        async with SlackDriver(url, SIGNING_SECRET, slack) as driver:
            for i in range(4):  # each App Home open: a users.info (or a cached one) and a views.publish, in turn
                assert (await driver.app_home_opened("U0ALICE", event_id=f"EvReuse{i}")).status == 200
                await eventually(lambda n=i + 1: slack.count("views.publish") >= n, 20, "views.publish",
                                 step=0.05)
        calls = [c for c in slack.calls if c.method != "response_url"]
        assert len(calls) >= 5
        ports = {c.client_port for c in calls}
        assert 0 not in ports
        assert len(ports) <= 2, f"{len(calls)} Slack calls over {len(ports)} connections"
    finally:
        serve.kill()
        await slack.stop()
        await cloudflare.stop()
