"""`accessbot serve` keeps its connections to Slack's Web API alive: its calls share one session, so calls made
one after another go over one connection instead of a new session and TCP connection each."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.polling import eventually
from bot.simulators.slack_driver import SlackDriver
from tests.integration.example_serve import example_serve
from tests.integration.test_cli import SIGNING_SECRET


async def test_serves_slack_calls_one_after_another_share_a_kept_alive_connection(tmp_path: Path) -> None:
    async with example_serve(tmp_path) as running:
        slack, serve = running.slack, running.serve
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
