"""After a stop, whatever fell due in the meantime happens at the next start (spec §6)."""

from __future__ import annotations

import time
from datetime import timedelta

from bot.bootstrap import Server, build
from bot.domain.clock import ManualClock
from bot.domain.model import GrantState
from bot.simulators.slack_driver import SlackDriver
from bot.simulators.stack import SIGNING_SECRET, Stack
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVE,
    BOB,
    approval_message,
    audit,
    click,
    emails,
    grants,
    settle,
    slash,
    wait_until,
)


async def _restart(stack: Stack, clock: ManualClock) -> float:
    """Start a new bot process-equivalent on the same database and the same simulators; returns when."""
    bot = await build(stack.bot.settings, stack.policy, clock=clock, migrate=True, max_sleep=0.2)
    server = Server(bot)
    port = await server.start("127.0.0.1", 0)
    started = time.monotonic()
    stack.bot, stack.server, stack.url = bot, server, f"http://127.0.0.1:{port}"
    stack.driver = SlackDriver(stack.url, SIGNING_SECRET, stack.slack)
    return started


async def test_a_grant_that_expired_while_the_bot_was_down_is_revoked_right_after_start(
        stack: Stack, clock: ManualClock) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    await click(stack, BOB, await approval_message(stack), APPROVE)
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE and ALICE_EMAIL in emails(stack)

    await stack.driver.close()
    await stack.server.stop()  # the database (file or PostgreSQL) and both simulators live on
    clock.advance(timedelta(hours=2))  # the warning and the expiry fall due while nobody runs
    calls = len(stack.cloudflare.calls)
    assert ALICE_EMAIL in emails(stack)

    started = await _restart(stack, clock)
    # no wake, no settle: the new scheduler's first tick must find the overdue work by itself
    await wait_until(lambda: ALICE_EMAIL not in emails(stack), 3, "the overdue revocation")
    assert time.monotonic() - started < 2
    assert len(stack.cloudflare.calls) > calls
    await settle(stack)
    [grant] = await grants(stack)
    assert grant.state is GrantState.REVOKED
    [revoked] = await audit(stack, "grant.revoked")
    assert revoked["details"]["reason"] == "expired" and revoked["details"]["overshoot_s"] == 3600
    assert [m for m in stack.slack.dms_to(ALICE) if "expired" in m["text"]]
    assert stack.cloudflare.revoked_users == [(stack.policy.role("prod-db").account_id, ALICE_EMAIL)]


async def test_a_request_approved_just_before_a_stop_is_applied_after_the_restart(
        stack: Stack, clock: ManualClock) -> None:
    """An approval committed but not yet carried out at Cloudflare (outbox) survives a stop."""
    await slash(stack, ALICE, "request prod-db 1h deploy")
    msg = await approval_message(stack)
    stack.cloudflare.fail_next(1, status=503, method="PUT")
    await click(stack, BOB, msg, APPROVE)
    [grant] = await grants(stack)
    assert grant.state is GrantState.PENDING, "not active until Cloudflare confirmed"

    await stack.driver.close()
    await stack.server.stop()
    clock.advance(timedelta(minutes=1))
    await _restart(stack, clock)
    await wait_until(lambda: ALICE_EMAIL in emails(stack), 3, "the add after the restart")
    await settle(stack)
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE and grant.granted_at == clock.now()
