"""Shared pieces for tests that run real `serve` processes against in-process simulators."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.bootstrap import open_store as bootstrap_store
from bot.domain.clock import SystemClock
from bot.polling import eventually
from bot.simulators.cloudflare_sim import CloudflareSimulator
from bot.simulators.slack_driver import SlackDriver
from bot.simulators.slack_sim import SlackSimulator
from bot.simulators.stack import ACCOUNT, CF_TOKEN, SIGNING_SECRET, SLACK_TOKEN
from bot.storage.store import Store
from tests.procs import ServeProcess

FOREIGN = [{"email_domain": {"domain": "sre.example.com"}}, {"group": {"id": "aa11bb22-0000-4000-8000-000000000001"}},
           {"email": {"email": "standing@example.com"}}]
EXCLUDE = [{"email": {"email": "contractor@example.com"}}]
MONO_TO_WALL = time.time() - time.monotonic()


def serve_env(database_url: str, slack_url: str, cf_url: str, policy_path: Path, **extra: str) -> dict[str, str]:
    """The environment a `serve` process needs to talk to the simulators."""
    env = {
        "SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack_url,
        "CLOUDFLARE_API_TOKEN": CF_TOKEN, "CLOUDFLARE_API_URL": cf_url, "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
        "DATABASE_URL": database_url, "ACCESSBOT_POLICY": str(policy_path), "LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


async def simulators(users: dict[str, str], groups: list[str]) -> tuple[SlackSimulator, CloudflareSimulator]:
    """Started simulators with these users and groups (each group with the same foreign rules)."""
    slack = SlackSimulator(token=SLACK_TOKEN)
    cf = CloudflareSimulator(token=CF_TOKEN)
    await slack.start()
    await cf.start()
    for uid, email in users.items():
        slack.add_user(uid, email=email)
    for gid in groups:
        cf.add_group(ACCOUNT, gid, name=f"group {gid[:4]}", include=list(FOREIGN), exclude=list(EXCLUDE))
    return slack, cf


def group_puts(cf: CloudflareSimulator, group_id: str) -> list[tuple[float, dict[str, Any]]]:
    """(wall time, body) of every successful PUT to one group, in order."""
    return [(c.at + MONO_TO_WALL, c.json) for c in cf.calls
            if c.method == "PUT" and c.path.split("?")[0].endswith(f"/access/groups/{group_id}") and c.status == 200]


def bot_emails(body: dict[str, Any], user_emails: set[str]) -> list[str]:
    """Emails of the test's users in a group body (the bot's rules), in order, duplicates kept."""
    return [r["email"]["email"] for r in body.get("include", [])
            if isinstance(r.get("email"), dict) and r["email"].get("email") in user_emails]


def foreign(body: dict[str, Any], user_emails: set[str]) -> list[Any]:
    """The rules that are not the test's users' email rules."""
    return [r for r in body.get("include", [])
            if not (isinstance(r.get("email"), dict) and r["email"].get("email") in user_emails)]


async def open_store(database_url: str) -> Store:
    """A store on the bot's database, for the test to read."""
    return await bootstrap_store(database_url, SystemClock(), migrate=False)


async def wait_until(pred: Callable[[], Any], timeout: float, what: str, step: float = 0.1) -> Any:
    """Poll an async or sync predicate until truthy (every `step`: real processes, no need to hurry); fail with
    `what` after `timeout`."""
    return await eventually(pred, timeout, what, step=step)


async def shut_down(serve: ServeProcess, driver: SlackDriver, store: Store, slack: SlackSimulator,
                    cf: CloudflareSimulator) -> None:
    """The end of a live test: kill the serve process (if still running), close the driver and the test's store,
    stop both simulators."""
    serve.kill()
    await driver.close()
    await store.engine.dispose()
    await slack.stop()
    await cf.stop()


def request_id_from(responses: list[dict[str, Any]]) -> str | None:
    """The request ID the bot's ephemeral reply names, if any."""
    for r in responses:
        text = json.dumps(r)
        i = text.find("`r-")
        if i >= 0:
            return text[i + 1:text.index("`", i + 1)]
    return None
