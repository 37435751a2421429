"""`accessbot serve` as a real process on the example policy, against the Slack and Cloudflare simulators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.config.policy_file import load_policy
from bot.simulators.cloudflare_sim import CloudflareSimulator
from bot.simulators.slack_sim import SlackSimulator
from bot.simulators.stack import default_people
from tests.integration.test_cli import BOT_TOKEN, CF_TOKEN, EXAMPLE_POLICY, serve_env
from tests.procs import ServeProcess


@dataclass(frozen=True)
class ExampleServe:
    """The simulators and the (not yet started) serve process."""

    slack: SlackSimulator
    cloudflare: CloudflareSimulator
    serve: ServeProcess


@asynccontextmanager
async def example_serve(tmp_path: Path, **env: str) -> AsyncIterator[ExampleServe]:
    """The simulators (the default people, the example policy's groups) and a serve process configured for them,
    `env` on top, in `tmp_path/work`; serve is killed and the simulators stopped when the block ends."""
    slack, cloudflare = SlackSimulator(token=BOT_TOKEN), CloudflareSimulator(token=CF_TOKEN)
    slack_url, cf_url = await slack.start(), await cloudflare.start()
    default_people(slack)
    for role in load_policy(EXAMPLE_POLICY).roles.values():
        cloudflare.add_group(role.account_id, role.group_id, name=role.name, include=[], exclude=[], require=[])
    workdir = tmp_path / "work"
    workdir.mkdir()
    serve = ServeProcess(serve_env(workdir / "accessbot.db", SLACK_API_URL=slack_url, CLOUDFLARE_API_URL=cf_url,
                                   **env), workdir)
    try:
        yield ExampleServe(slack, cloudflare, serve)
    finally:
        serve.kill()
        await slack.stop()
        await cloudflare.stop()
