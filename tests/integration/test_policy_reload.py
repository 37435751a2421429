"""Policy changes without a restart, on a real `serve` process: SIGHUP and `accessbot policy reload` re-read the
file; a new role becomes requestable, a removed one is refused, a broken file is refused with its problems
logged and the old policy kept; each outcome is audited; grants already made keep their terms."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.domain.model import GrantState
from bot.simulators.cloudflare_sim import CloudflareSimulator
from bot.simulators.slack_driver import SlackDriver
from bot.simulators.slack_sim import SlackSimulator
from bot.simulators.stack import ACCOUNT, SIGNING_SECRET
from bot.storage.store import Store
from tests.policies import policy_text, role
from tests.procs import ServeProcess
from tests.resilience.live import open_store, serve_env, shut_down, simulators, wait_until

STAGING = "7a1c9e20-3b4d-4f5e-8a6b-2c3d4e5f6a70"
PROD = "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60"
NEW = "5b2c7d10-1a2b-4c3d-8e9f-0a1b2c3d4e09"
ALICE = "U0ALICE"


def policy(*roles: str, staging_max: str = "8h") -> str:
    """A policy with some of the roles staging (auto-approved), prod-db and new-role (auto-approved)."""
    bodies = {
        "staging": role(STAGING, auto_approve=True, require_reason=False, default_duration="15m",
                        max_duration=staging_max),
        "prod-db": role(PROD, approvers=["U0APPR01"]),
        "new-role": role(NEW, auto_approve=True, require_reason=False),
    }
    return policy_text({r: bodies[r] for r in roles}, defaults={"min_duration": "1m"})


@dataclass
class Running:
    serve: ServeProcess
    slack: SlackSimulator
    cf: CloudflareSimulator
    driver: SlackDriver
    store: Store
    policy: Path
    database_url: str

    def log(self) -> str:
        return self.serve.log_path.read_text()

    async def ask(self, text: str) -> str:
        """`/access TEXT` as Alice; the text of the one reply it gets."""
        before = len(self.slack.ephemerals(ALICE))
        resp = await self.driver.slash(ALICE, text)
        assert resp.status == 200, resp.body
        replies = await wait_until(lambda: self.slack.ephemerals(ALICE)[before:], 15, f"a reply to {text!r}")
        return json.dumps(replies[0])

    async def audited(self, action: str) -> list[dict[str, Any]]:
        async with self.store.tx() as tx:
            return [r for r in await tx.audit.rows() if r["action"] == action]

    async def wait_audited(self, action: str, count: int) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            rows = await self.audited(action)
            return rows if len(rows) >= count else None

        return await wait_until(enough, 15, f"{count} {action} event(s)\n{self.log()[-2000:]}")


async def _running(tmp_path: Path, database_url: str) -> AsyncIterator[Running]:
    slack, cf = await simulators({ALICE: "alice@example.com", "U0APPR01": "bob@example.com",
                                  "U0ADMIN1": "dana@example.com"}, [STAGING, PROD, NEW])
    path = tmp_path / "policy.yml"
    path.write_text(policy("staging", "prod-db"))
    serve = ServeProcess(serve_env(database_url, slack.base_url, cf.base_url, path,
                                   ACCESSBOT_RECONCILE_INTERVAL="0"), tmp_path)
    url = await asyncio.to_thread(serve.start)
    driver = SlackDriver(url, SIGNING_SECRET, slack)
    store = await open_store(database_url)
    try:
        yield Running(serve, slack, cf, driver, store, path, database_url)
    finally:
        await shut_down(serve, driver, store, slack, cf)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    async for r in _running(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'accessbot.db'}"):
        yield r


def _sighup(r: Running) -> None:
    assert r.serve.proc is not None
    r.serve.proc.send_signal(signal.SIGHUP)


async def test_sighup_makes_a_new_role_requestable_refuses_a_removed_one_and_audits_the_files_sha256(
        running: Running) -> None:
    r = running
    before = await r.ask("request new-role 1h")
    assert "new-role" in before
    async with r.store.tx() as tx:
        assert await tx.grants.find(role="new-role") == []
    r.policy.write_text(policy("staging", "new-role"))
    _sighup(r)
    (event,) = await r.wait_audited("policy.reloaded", 1)
    assert event["details"]["sha256"] == hashlib.sha256(r.policy.read_bytes()).hexdigest()
    assert event["details"]["added"] == ["new-role"] and event["details"]["removed"] == ["prod-db"]
    assert event["details"]["via"] == "SIGHUP"

    async def active(role: str) -> bool:
        async with r.store.tx() as tx:
            return any(g.state == GrantState.ACTIVE for g in await tx.grants.find(role=role))

    await r.ask("request new-role 1h")
    await wait_until(lambda: active("new-role"), 15, "the new role's grant")
    refused = await r.ask("request prod-db 1h because")
    assert "prod-db" in refused and "granted" not in refused.lower()
    async with r.store.tx() as tx:
        assert await tx.grants.find(role="prod-db") == []
    assert r.serve.proc is not None and r.serve.proc.poll() is None  # SIGHUP did not stop it


async def test_a_broken_policy_is_refused_with_its_problems_logged_and_the_old_one_kept(running: Running) -> None:
    r = running
    before = await r.audited("policy.reloaded")
    r.policy.write_text(policy("staging").replace("max_duration: 8h", "max_duration: 10s")
                        + "  bad name:\n    group_id: nope\n")
    _sighup(r)
    (event,) = await r.wait_audited("policy.reload_refused", 1)
    problems = event["details"]["problems"]
    assert "roles.staging.max_duration: must be ≥ min_duration (1m)" in problems, problems
    assert any(p.startswith("roles.bad name") for p in problems), problems
    log = r.log()
    for problem in problems:
        assert f"policy reload refused: {problem}" in log
    assert await r.audited("policy.reloaded") == before
    assert "prod-db" in await r.ask("request prod-db 1h the old policy still holds")
    async with r.store.tx() as tx:
        assert len(await tx.requests.of(ALICE)) == 1  # prod-db was still requestable: a pending request


async def test_a_reload_does_not_change_the_terms_of_a_grant_already_made(running: Running) -> None:
    r = running
    await r.ask("request staging 2h")

    async def the_grant() -> Any:
        async with r.store.tx() as tx:
            found = [g for g in await tx.grants.find(role="staging") if g.state == GrantState.ACTIVE]
        return found[0] if found else None

    grant = await wait_until(the_grant, 15, "the staging grant")
    r.policy.write_text(policy("staging", "prod-db", staging_max="30m"))
    _sighup(r)
    (event,) = await r.wait_audited("policy.reloaded", 1)
    assert event["details"]["changed"] == ["staging"]
    after = await the_grant()
    assert (after.id, after.expires_at, after.duration) == (grant.id, grant.expires_at, grant.duration)


def _cli(r: Running, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=r.serve.workdir, env=r.serve.env,
                          capture_output=True, text=True, timeout=30)


async def test_accessbot_policy_reload_signals_the_serve_on_a_sqlite_database(running: Running) -> None:
    r = running
    r.policy.write_text(policy("staging", "prod-db", "new-role"))
    out = await asyncio.to_thread(_cli, r, "policy", "reload")
    assert out.returncode == 0, out.stdout + out.stderr
    assert str(r.serve.proc.pid) in out.stdout  # type: ignore[union-attr]
    (event,) = await r.wait_audited("policy.reloaded", 1)
    assert event["details"]["added"] == ["new-role"]


async def test_accessbot_policy_reload_checks_the_file_first_and_signals_nobody_when_it_is_broken(
        running: Running) -> None:
    r = running
    r.policy.write_text(policy("staging") + "  x:\n    group_id: 12\n")
    out = await asyncio.to_thread(_cli, r, "policy", "reload")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "roles.x.group_id" in out.stdout and "not reloading" in out.stderr
    await asyncio.sleep(0.5)
    assert await r.audited("policy.reload_refused") == []


async def test_accessbot_policy_reload_with_no_serve_running_says_so(running: Running) -> None:
    r = running
    assert await asyncio.to_thread(r.serve.terminate) == 0
    out = await asyncio.to_thread(_cli, r, "policy", "reload")
    assert out.returncode == 1 and "no running serve" in out.stderr, out.stdout + out.stderr
    assert not list(r.policy.parent.glob("accessbot.db-serve-*"))


async def test_accessbot_policy_reload_notifies_every_serve_on_postgresql(tmp_path: Path,
                                                                        pg_database_url: str) -> None:
    async for r in _running(tmp_path, pg_database_url):
        r.policy.write_text(policy("staging", "new-role"))
        out = await asyncio.to_thread(_cli, r, "policy", "reload")
        assert out.returncode == 0, out.stdout + out.stderr
        (event,) = await r.wait_audited("policy.reloaded", 1)
        assert event["details"]["via"] == "accessbot policy reload"
        assert "new-role" in await r.ask("request new-role 1h")


async def test_a_reload_naming_a_group_cloudflare_does_not_know_is_refused_and_the_old_policy_kept(
        tmp_path: Path) -> None:
    from bot.simulators.stack import start_stack

    path = tmp_path / "policy.yml"
    path.write_text(policy("staging"))
    stack = await start_stack(policy("staging"), database_url=f"sqlite+aiosqlite:///{tmp_path / 'a.db'}",
                              settings_overrides={"accessbot_policy": str(path), "accessbot_reconcile_interval": "0"})
    try:
        stack.cloudflare._groups.pop((ACCOUNT, NEW), None)  # noqa: SLF001 - new-role's group does not exist there
        old = stack.bot.deps.policy
        path.write_text(policy("staging", "new-role"))
        assert stack.bot.reloader is not None
        assert await stack.bot.reloader.reload("test") is False
        assert stack.bot.deps.policy is old
        async with stack.bot.deps.store.tx() as tx:
            (event,) = [r for r in await tx.audit.rows() if r["action"] == "policy.reload_refused"]
        (problem,) = event["details"]["problems"]
        assert problem.startswith(f"roles.new-role.group_id: Cloudflare has no Access group {NEW}"), problem
        assert event["details"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    finally:
        await stack.stop()


async def test_a_reload_adding_an_oncall_role_to_a_serve_without_a_pagerduty_token_is_refused(
        running: Running) -> None:
    r = running
    r.policy.write_text(policy("staging", "prod-db").replace(
        "    approvers: [U0APPR01]\n",
        "    approvers: [U0APPR01]\n    oncall: {provider: pagerduty, schedule_ids: [PSCHED1]}\n"))
    _sighup(r)
    (event,) = await r.wait_audited("policy.reload_refused", 1)
    assert event["details"]["problems"][0].startswith("PAGERDUTY_API_TOKEN: not set in this serve, but role(s) "
                                                      "prod-db have an `oncall` key")
    assert await r.audited("policy.reloaded") == []
