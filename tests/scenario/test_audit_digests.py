"""The audit channel under a backlog, through the real app: a hundred grants expiring together reach it as a few
digest messages (every event's line once, in seq order, Block Kit the simulator accepts), and an event that comes
on its own still goes into its request's thread."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

from bot.domain.clock import ManualClock
from bot.domain.ids import ALPHABET
from bot.domain.model import Grant, GrantState
from bot.simulators.stack import ACCOUNT, STAGING_GROUP, Stack
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    APPROVE,
    AUDIT_CHANNEL,
    AUDITED_POLICY,
    BOB,
    approval_message,
    audit,
    audit_lines,
    click,
    grants,
    only_request,
    settle,
    slash,
    top_level,
)

N = 100


def _id(kind: str, i: int) -> str:
    """A grant's (g) or request's (r) ID for the i-th seeded grant."""
    return f"{kind}-EX{ALPHABET[i // 30]}{ALPHABET[i % 30]}"


async def _expiring_grants(stack: Stack, n: int, at: datetime) -> None:
    """N active staging grants, each its own person's, all ending at `at` (written straight into the store and
    Cloudflare's group, as if approved earlier)."""
    now = stack.bot.deps.clock.now()
    emails = [f"exp{i:03d}@example.com" for i in range(n)]
    async with stack.bot.deps.store.tx() as tx:
        for i, email in enumerate(emails):
            grant = Grant(_id("g", i), _id("r", i), "staging", f"U0EXP{i:03d}", email, ACCOUNT, STAGING_GROUP,
                          at - now, now, state=GrantState.ACTIVE, granted_at=now, expires_at=at)
            await tx.grants.add(grant)  # add() writes a pending grant's columns; update() makes it active
            await tx.grants.update(grant.id, GrantState.ACTIVE, granted_at=now, expires_at=at)
        await tx.members.add(ACCOUNT, STAGING_GROUP, set(emails))
    stack.cloudflare.add_group(ACCOUNT, STAGING_GROUP, name="staging",
                               include=[{"email": {"email": e}} for e in emails])
    for i, email in enumerate(emails):
        stack.slack.add_user(f"U0EXP{i:03d}", email=email)


async def _expire(stack: Stack, clock: ManualClock) -> None:
    """Move the clock past the seeded grants' end and let the bot work until their expiry DMs are all out: the
    pacer holds the DMs to Slack's workspace-wide 5 a second (in real time) and puts back each one whose turn is
    more than 2 s off, to be retried by the bot's clock, which only this moves."""
    clock.advance(timedelta(minutes=6))
    for _ in range(120):
        dms = [c for c in stack.slack.calls_to("chat.postMessage") if str(c.params.get("channel")).startswith("U0EXP")]
        if len(dms) >= N:
            await settle(stack, timeout=30)
            return
        await asyncio.sleep(0.5)
        clock.advance(timedelta(seconds=5))
    raise AssertionError("the expiry DMs did not drain")


def _audit_posts_accepted(stack: Stack) -> bool:
    """Whether Slack accepted every chat.postMessage to the audit channel (the simulator checks Block Kit)."""
    posts = [c for c in stack.slack.calls_to("chat.postMessage") if c.params.get("channel") == AUDIT_CHANNEL]
    return bool(posts) and all(c.response.get("ok") for c in posts)


async def test_a_hundred_grants_expiring_together_reach_the_audit_channel_as_three_digests(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(AUDITED_POLICY)
    await _expiring_grants(stack, N, clock.now() + timedelta(minutes=5))
    await _expire(stack, clock)
    assert len(await audit(stack, "grant.revoked")) == N
    posted = stack.slack.messages(AUDIT_CHANNEL)
    assert [m["text"].split(":")[0] for m in posted] == [
        "34 audit events (digest 1 of 3, 100 lines in all)", "33 audit events (digest 2 of 3, 100 lines in all)",
        "33 audit events (digest 3 of 3, 100 lines in all)"]
    assert all(m["thread_ts"] is None for m in posted)
    shown = audit_lines(stack)
    assert shown == sorted(shown), "seq order"
    assert Counter(shown) == Counter(r["seq"] for r in await audit(stack)), "every event's line, once"
    assert _audit_posts_accepted(stack)
    async with stack.bot.deps.store.tx() as tx:
        assert (await tx.outbox.effect_counts()).get("dead", 0) == 0


async def test_after_a_backlog_went_out_as_digests_a_lone_event_still_goes_into_its_requests_thread(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(AUDITED_POLICY)
    await slash(stack, ALICE, "request prod-db 1h incident")
    req = await only_request(stack, ALICE)
    await click(stack, BOB, await approval_message(stack), APPROVE)
    await settle(stack)
    [root] = [m for m in top_level(stack, AUDIT_CHANNEL) if req.id in m["text"]]
    await _expiring_grants(stack, N, clock.now() + timedelta(minutes=5))
    await _expire(stack, clock)
    digests = len(top_level(stack, AUDIT_CHANNEL)) - 1
    assert digests == 3

    [grant] = await grants(stack, requester=ALICE)
    await slash(stack, ALICE, f"revoke {grant.id} done")
    await settle(stack)
    assert len(top_level(stack, AUDIT_CHANNEL)) == 1 + digests, "no new top-level message"
    replies = stack.slack.thread(AUDIT_CHANNEL, root["ts"])
    [line] = [m["text"] for m in replies if "grant.revoked" in m["text"]]
    assert grant.id in line and req.id in line and not stack.slack.message(AUDIT_CHANNEL, root["ts"])["blocks"]
    assert _audit_posts_accepted(stack)
