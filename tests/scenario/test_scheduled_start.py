"""Scheduled starts over the real app and the simulators (issue 11, item 4): `/access request ROLE DURATION at TIME`
read in the requester's Slack timezone (users.info `tz`), approved ahead, applied at the start, expired as usual."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.clock import ManualClock
from bot.domain.model import GrantState, RequestState
from bot.simulators.stack import Stack
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVE,
    BOB,
    CANCEL,
    advance,
    all_text,
    approval_message,
    audit,
    click,
    emails,
    grants,
    only_request,
    slash,
)

HOUR = timedelta(hours=1)


async def test_a_request_at_a_time_is_read_in_slacks_timezone_approved_ahead_and_applied_at_the_start(
        stack: Stack, clock: ManualClock) -> None:
    stack.slack.add_user(ALICE, email=ALICE_EMAIL, name="alice", tz="Europe/Berlin")  # 10:00 there now
    reply = await slash(stack, ALICE, "request prod-db 2h at 14:00 release 42")
    start = datetime(2026, 1, 1, 13, 0, tzinfo=UTC)
    assert f"<!date^{int(start.timestamp())}^" in all_text(reply) and "read as UTC" not in all_text(reply)
    req = await only_request(stack, ALICE)
    assert req.starts_at == start and req.reason == "release 42"
    msg = await approval_message(stack)
    assert "*Starts*\n<!date^" in all_text(msg) and "alice wants prod-db for 2h later" in all_text(msg)
    await click(stack, BOB, msg, APPROVE)
    assert (await only_request(stack, ALICE, RequestState.SCHEDULED)).id == req.id
    assert await grants(stack) == [] and ALICE_EMAIL not in emails(stack)
    assert any("access starts" in m["text"] for m in stack.slack.dms_to(ALICE))
    listing = await slash(stack, ALICE, "list")
    assert "starts <!date^" in all_text(listing)

    await advance(stack, clock, 4 * HOUR - timedelta(minutes=1))
    assert ALICE_EMAIL not in emails(stack)
    await advance(stack, clock, timedelta(minutes=1))  # 13:00 UTC, 14:00 in Berlin
    assert ALICE_EMAIL in emails(stack)
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE and grant.expires_at == clock.now() + 2 * HOUR
    assert len(await audit(stack, "grant.started")) == 1 and len(await audit(stack, "grant.scheduled")) == 1
    assert len(await audit(stack, "grant.applied")) == 1  # Cloudflare confirmed the add, once
    [created] = await audit(stack, "request.created")
    assert created["details"]["starts_at"] == start.isoformat()
    await advance(stack, clock, 2 * HOUR)
    assert ALICE_EMAIL not in emails(stack)


async def test_at_that_is_not_followed_by_a_time_stays_in_the_reason(stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h look at logs at noon")
    req = await only_request(stack, ALICE)
    assert req.starts_at is None and req.reason == "look at logs at noon"


async def test_a_bad_or_past_start_is_refused_with_words_and_nothing_is_filed(stack: Stack) -> None:
    bad = await slash(stack, ALICE, "request prod-db 1h at 25:00 release")
    assert "not a time of day" in all_text(bad) and "tomorrow 09:00" in all_text(bad)
    past = await slash(stack, ALICE, "request prod-db 1h at 08:00 release")  # the clock says 09:00 UTC
    assert "already passed" in all_text(past)
    assert [e["details"]["code"] for e in await audit(stack, "request.refused")] == ["bad_start", "start_in_past"]
    listing = await slash(stack, ALICE, "list")
    assert "no pending requests" in all_text(listing)


async def test_without_a_slack_timezone_the_time_is_read_as_utc_and_the_reply_says_so(stack: Stack) -> None:
    stack.slack.add_user(ALICE, email=ALICE_EMAIL, name="alice", tz="")
    reply = await slash(stack, ALICE, "request staging 1h at tomorrow 09:00")
    assert "read as UTC" in all_text(reply)
    req = await only_request(stack, ALICE, RequestState.SCHEDULED)  # staging is approved automatically
    assert req.starts_at == datetime(2026, 1, 2, 9, 0, tzinfo=UTC)


async def test_a_scheduled_request_is_cancelled_from_the_list_before_it_starts(stack: Stack,
                                                                              clock: ManualClock) -> None:
    await slash(stack, ALICE, "request staging 1h at 2026-01-01T11:00Z")
    listing = await slash(stack, ALICE, "list")
    await click(stack, ALICE, listing, CANCEL)
    await advance(stack, clock, 3 * HOUR)
    assert await grants(stack) == [] and await audit(stack, "grant.started") == []
