"""Cloudflare failing mid-flow: 5xx and 429 are retried (Retry-After honoured); a grant is active only once
Cloudflare confirmed the add and revoked only once it confirmed the removal (spec §5)."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.clock import ManualClock
from bot.domain.model import GrantState
from bot.simulators.stack import PROD_GROUP, STAGING_GROUP, Stack
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVE,
    AUDIT_CHANNEL,
    BOB,
    advance,
    approval_message,
    audit,
    click,
    emails,
    grants,
    group_calls,
    slash,
)


def _trace(stack: Stack, group_id: str, since: int = 0) -> list[tuple[str, int]]:
    return [(c.method, c.status) for c in group_calls(stack, group_id, since)]


def _active_dms(stack: Stack) -> list[dict]:
    return [m for m in stack.slack.dms_to(ALICE) if "is active" in m["text"]]


async def test_a_500_on_the_put_is_retried_and_the_grant_is_active_only_after_cloudflare_confirmed(
        stack: Stack, clock: ManualClock) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    msg = await approval_message(stack)
    stack.cloudflare.fail_next(1, status=500, method="PUT")
    await click(stack, BOB, msg, APPROVE)

    [grant] = await grants(stack)
    assert grant.state is GrantState.PENDING and grant.granted_at is None
    assert ALICE_EMAIL not in emails(stack) and _active_dms(stack) == []
    assert await audit(stack, "grant.applied") == []
    assert _trace(stack, PROD_GROUP) == [("GET", 200), ("PUT", 500)]

    await advance(stack, clock, timedelta(seconds=1))
    assert _trace(stack, PROD_GROUP) == [("GET", 200), ("PUT", 500), ("GET", 200), ("PUT", 200)]
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE and ALICE_EMAIL in emails(stack)
    # the duration runs from the moment Cloudflare confirmed, not from the approval
    assert grant.expires_at == clock.now() + timedelta(hours=1)
    assert len(_active_dms(stack)) == 1
    assert len(await audit(stack, "grant.applied")) == 1


async def test_a_429_with_retry_after_on_the_put_is_honoured_before_the_retry(
        stack: Stack, clock: ManualClock) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    msg = await approval_message(stack)
    stack.cloudflare.fail_next(1, status=429, retry_after=5, method="PUT")
    await click(stack, BOB, msg, APPROVE)
    assert _trace(stack, PROD_GROUP) == [("GET", 200), ("PUT", 429)]

    await advance(stack, clock, timedelta(seconds=4))
    assert _trace(stack, PROD_GROUP) == [("GET", 200), ("PUT", 429)], "retried before Retry-After (5s) passed"
    assert (await grants(stack))[0].state is GrantState.PENDING

    await advance(stack, clock, timedelta(seconds=1.5))
    assert _trace(stack, PROD_GROUP) == [("GET", 200), ("PUT", 429), ("GET", 200), ("PUT", 200)]
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE and ALICE_EMAIL in emails(stack)
    assert len(_active_dms(stack)) == 1


async def test_failures_during_revocation_are_retried_until_the_email_is_removed(
        stack: Stack, clock: ManualClock) -> None:
    await slash(stack, ALICE, "request staging 1h")
    assert ALICE_EMAIL in emails(stack, STAGING_GROUP)
    since = len(stack.cloudflare.calls)
    stack.cloudflare.fail_next(1, status=502, method="GET")  # the first read fails,
    stack.cloudflare.fail_next(1, status=500, method="PUT")  # then the first write
    await advance(stack, clock, timedelta(hours=1))

    [grant] = await grants(stack)
    assert grant.state is GrantState.REVOKING, "not revoked before Cloudflare confirmed the removal"
    assert ALICE_EMAIL in emails(stack, STAGING_GROUP)
    assert await audit(stack, "grant.revoked") == []
    assert not [m for m in stack.slack.dms_to(ALICE) if "expired" in m["text"]]

    for _ in range(4):
        await advance(stack, clock, timedelta(seconds=5))
    assert _trace(stack, STAGING_GROUP, since) == [("GET", 502), ("GET", 200), ("PUT", 500), ("GET", 200),
                                                    ("PUT", 200)]
    assert ALICE_EMAIL not in emails(stack, STAGING_GROUP)
    [grant] = await grants(stack)
    assert grant.state is GrantState.REVOKED
    assert len(await audit(stack, "grant.revoked")) == 1
    assert [m for m in stack.slack.dms_to(ALICE) if "expired" in m["text"]]


async def test_a_403_on_the_put_fails_the_grant_and_tells_the_requester_and_the_admins(
        audited_stack: Stack, clock: ManualClock) -> None:
    stack = audited_stack
    await slash(stack, ALICE, "request prod-db 1h deploy")
    msg = await approval_message(stack)
    stack.cloudflare.fail_next(1, status=403, method="PUT")
    await click(stack, BOB, msg, APPROVE)
    [grant] = await grants(stack)
    assert grant.state is GrantState.FAILED and ALICE_EMAIL not in emails(stack)
    assert _trace(stack, PROD_GROUP) == [("GET", 200), ("PUT", 403)], "a 403 is not retried blindly"
    [failed] = await audit(stack, "grant.apply_failed")
    assert failed["grant_id"] == grant.id and "403" in str(failed["details"])
    assert [m for m in stack.slack.dms_to(ALICE) if "refused" in m["text"] and grant.id in m["text"]]
    assert [m for m in stack.slack.messages(AUDIT_CHANNEL) if ":warning:" in m["text"] and grant.id in m["text"]]
    await advance(stack, clock, timedelta(minutes=5))
    assert _trace(stack, PROD_GROUP) == [("GET", 200), ("PUT", 403)]


async def test_a_revocation_failing_for_minutes_alerts_the_admins_and_keeps_trying_until_it_succeeds(
        audited_stack: Stack, clock: ManualClock) -> None:
    stack = audited_stack
    await slash(stack, ALICE, "request staging 1h")
    stack.cloudflare.fail_next(1000, status=503, method="PUT")
    await advance(stack, clock, timedelta(hours=1))
    for _ in range(5):  # backoff is capped at a minute; the alert comes after 3 minutes of failing
        await advance(stack, clock, timedelta(seconds=61))
    alerts = [m for m in stack.slack.messages(AUDIT_CHANNEL) if "has been failing" in m["text"]]
    assert len(alerts) == 1
    assert [r for r in await audit(stack, "grant.revoke_failed") if r["details"].get("final") is False]
    assert ALICE_EMAIL in emails(stack, STAGING_GROUP)
    assert (await grants(stack))[0].state is GrantState.REVOKING
    failed_puts = len([c for c in group_calls(stack, STAGING_GROUP) if c.method == "PUT" and c.status == 503])
    assert failed_puts >= 5

    stack.cloudflare._faults.clear()  # noqa: SLF001 - Cloudflare recovers
    await advance(stack, clock, timedelta(seconds=61))
    assert ALICE_EMAIL not in emails(stack, STAGING_GROUP)
    assert (await grants(stack))[0].state is GrantState.REVOKED
    assert [m for m in stack.slack.messages(AUDIT_CHANNEL) if "succeed again" in m["text"]]
