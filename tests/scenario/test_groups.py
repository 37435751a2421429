"""Cloudflare group bookkeeping: overlapping grants, standing members, batched revocations (spec §5)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.domain.clock import ManualClock
from bot.domain.model import GrantState
from bot.simulators.stack import ACCOUNT, STAGING_GROUP, Stack
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    BASE_POLICY,
    SHARED_GROUP,
    advance,
    audit,
    emails,
    grants,
    group_calls,
    policy_with,
    settle,
    slash,
)

TWO_ROLES_ONE_GROUP = policy_with(f"""
db-read:
  description: Read replica
  group_id: {SHARED_GROUP}
  account_id: {ACCOUNT}
  auto_approve: true
  require_reason: false
db-write:
  description: Primary
  group_id: {SHARED_GROUP}
  account_id: {ACCOUNT}
  auto_approve: true
  require_reason: false
""")


async def test_the_email_stays_in_a_shared_group_until_the_last_grant_that_needs_it_ends(
        make_stack: StackFactory, clock: ManualClock) -> None:
    stack = await make_stack(TWO_ROLES_ONE_GROUP)
    await slash(stack, ALICE, "request db-read 1h")
    await slash(stack, ALICE, "request db-write 2h")
    assert emails(stack, SHARED_GROUP) == [ALICE_EMAIL], "one rule, not two"
    assert {g.state for g in await grants(stack)} == {GrantState.ACTIVE}

    await advance(stack, clock, timedelta(hours=1, seconds=1))
    read, write = sorted(await grants(stack), key=lambda g: g.role)
    assert read.state is GrantState.REVOKED and write.state is GrantState.ACTIVE
    assert emails(stack, SHARED_GROUP) == [ALICE_EMAIL], "db-write still needs the email"
    first = next(r for r in await audit(stack, "grant.revoked") if r["grant_id"] == read.id)
    assert first["details"]["email_left_group"] is False

    await advance(stack, clock, timedelta(hours=1))
    assert emails(stack, SHARED_GROUP) == []
    assert {g.state for g in await grants(stack)} == {GrantState.REVOKED}


async def test_a_standing_member_is_never_removed_by_the_bot(stack: Stack, clock: ManualClock) -> None:
    standing = {"email": {"email": ALICE_EMAIL}}
    stack.cloudflare.add_group(ACCOUNT, STAGING_GROUP, name="staging", include=[standing])
    await slash(stack, ALICE, "request staging 1h")
    assert stack.cloudflare.group(ACCOUNT, STAGING_GROUP)["include"] == [standing]
    [applied] = await audit(stack, "grant.applied")
    assert applied["details"]["already_member"] is True
    await advance(stack, clock, timedelta(hours=1))
    assert (await grants(stack))[0].state is GrantState.REVOKED
    assert stack.cloudflare.group(ACCOUNT, STAGING_GROUP)["include"] == [standing]


BATCH_GROUPS = [f"5b2c7d10-1a2b-4c3d-8e9f-0a1b2c3d4e1{i}" for i in range(3)]
BATCH_PEOPLE = [f"U0BATCH{i:02d}" for i in range(4)]


async def test_grants_expiring_together_are_revoked_with_about_two_calls_per_group(
        make_stack: StackFactory, clock: ManualClock) -> None:
    roles = "".join(f"""
team-{i}:
  description: Team {i}
  group_id: {gid}
  account_id: {ACCOUNT}
  auto_approve: true
  require_reason: false
""" for i, gid in enumerate(BATCH_GROUPS))
    stack = await make_stack(policy_with(roles, BASE_POLICY))
    for uid in BATCH_PEOPLE:
        stack.slack.add_user(uid, email=f"{uid.lower()}@example.com", name=uid.lower())
    sent = await asyncio.gather(*(stack.driver.slash(uid, f"request team-{i} 1h")
                                  for i in range(len(BATCH_GROUPS)) for uid in BATCH_PEOPLE))
    assert {r.status for r in sent} == {200}
    await settle(stack)
    active = await grants(stack, states=(GrantState.ACTIVE,))
    assert len(active) == 12
    for gid in BATCH_GROUPS:
        assert len(emails(stack, gid)) == 4

    since = len(stack.cloudflare.calls)
    await advance(stack, clock, timedelta(hours=1))
    assert len(await grants(stack, states=(GrantState.REVOKED,))) == 12
    for gid in BATCH_GROUPS:
        assert emails(stack, gid) == []
        calls = group_calls(stack, gid, since)
        assert [c.method for c in calls] == ["GET", "PUT"], f"group {gid}: {[(c.method, c.status) for c in calls]}"
    assert len(stack.cloudflare.calls) - since == 2 * len(BATCH_GROUPS)
