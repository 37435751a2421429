"""What `/access` refuses: an ephemeral reply saying what was wrong and how to write it right; nothing else
happens (no approval message, no Cloudflare call, no request); the refusal is audited (spec §3)."""

from __future__ import annotations

import pytest

from bot.domain.model import GrantState, RequestState
from bot.simulators.stack import STAGING_GROUP, Stack
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVAL_CHANNEL,
    AUDIT_CHANNEL,
    BOB,
    CAROL,
    DANA,
    REVOKE,
    all_requests,
    all_text,
    approval_message,
    audit,
    emails,
    grants,
    only_request,
    request,
    settle,
    slash,
)


async def _assert_nothing_else_happened(stack: Stack) -> None:
    assert [m for m in stack.slack.messages() if m["channel"] != AUDIT_CHANNEL] == [], \
        "only the audit channel may hear of a refusal"
    assert stack.cloudflare.calls == []
    assert await all_requests(stack) == []
    assert await grants(stack) == []
    assert await audit(stack, "request.created") == []


CASES = [
    # (user, text, words the reply must contain (what was wrong, how to write it right), audit code)
    pytest.param(ALICE, "request nosuch 1h why", ["no role `nosuch`", "prod-db", "/access roles"], "unknown_role",
                 id="unknown-role"),
    pytest.param(ALICE, "request prod-db 2x deploy", ["2x", "not a duration", "90s", "/access request"],
                 "bad_duration", id="bad-duration"),
    pytest.param(ALICE, "request prod-db 9h deploy", ["9h", "longer than", "1m–8h"], "duration_too_long",
                 id="too-long"),
    pytest.param(ALICE, "request prod-db 30s deploy", ["30s", "shorter than", "1m–8h"], "duration_too_short",
                 id="too-short"),
    pytest.param(ALICE, "request prod-db 1h", ["needs a reason", "/access request prod-db"], "reason_required",
                 id="missing-reason"),
    pytest.param(ALICE, "request prod-db", ["needs a reason", "/access request prod-db"], "reason_required",
                 id="missing-reason-and-duration"),
    pytest.param(ALICE, "request secrets 1h audit prep", ["not on the list", "secrets"], "not_allowed",
                 id="not-a-requester"),
    pytest.param(ALICE, "request", ["which role", "/access request ROLE"], "usage", id="no-role"),
    pytest.param("U0BOTTY", "request staging 1h ci", ["bots"], "no_identity", id="bot"),
    pytest.param("U0GUEST", "request staging 1h partner", ["guest"], "no_identity", id="guest"),
    pytest.param("U0GONE", "request staging 1h ghost", ["deactivated"], "no_identity", id="deleted-user"),
    pytest.param("U0NOMAIL", "request staging 1h no mail", ["no email"], "no_identity", id="no-email"),
    pytest.param(ALICE, "frobnicate the thing", ["don't know", "frobnicate", "/access request"], "unknown_command",
                 id="unknown-subcommand"),
    pytest.param(ALICE, "revoke g-ZZZZZZ", ["no grant `g-ZZZZZZ`", "/access list"], "unknown_grant",
                 id="revoke-unknown-id"),
    pytest.param(ALICE, "cancel r-ZZZZZZ", ["no request `r-ZZZZZZ`", "/access list"], "unknown_request",
                 id="cancel-unknown-id"),
    pytest.param(ALICE, "extend g-ZZZZZZ 1h more", ["no grant `g-ZZZZZZ`", "/access list"], "unknown_grant",
                 id="extend-unknown-id"),
]


@pytest.mark.parametrize(("user", "text", "expected", "code"), CASES)
async def test_a_refused_command_says_what_was_wrong_and_nothing_else_happens(
        stack: Stack, user: str, text: str, expected: list[str], code: str) -> None:
    reply = await slash(stack, user, text)
    said = all_text(reply)
    assert reply["ephemeral"] and reply["user"] == user
    for words in expected:
        assert words.lower() in said.lower(), f"{words!r} not in the reply {said!r}"
    await _assert_nothing_else_happened(stack)
    refused = await audit(stack, "request.refused")
    assert [r["details"]["code"] for r in refused] == [code]
    assert refused[0]["actor"] == user


async def test_revoking_someone_elses_grant_is_refused_and_the_grant_stays(stack: Stack) -> None:
    await slash(stack, BOB, "request staging 1h")
    [grant] = await grants(stack)
    assert grant.state is GrantState.ACTIVE
    calls = len(stack.cloudflare.calls)
    reply = await slash(stack, ALICE, f"revoke {grant.id} mine now")
    assert f"no grant `{grant.id}`" in all_text(reply) and "/access list" in all_text(reply)
    [after] = await grants(stack)
    assert after.state is GrantState.ACTIVE and "bob@example.com" in emails(stack, STAGING_GROUP)
    assert len(stack.cloudflare.calls) == calls
    [refused] = await audit(stack, "request.refused")
    assert refused["actor"] == ALICE and refused["details"]["code"] == "unknown_grant"
    assert await audit(stack, "grant.revoked") == []


async def test_clicking_revoke_on_someone_elses_grant_is_refused(stack: Stack) -> None:
    """A forged button value (another person's grant ID) is refused like the command."""
    await slash(stack, BOB, "request staging 1h")
    await slash(stack, ALICE, "request staging 1h")
    bobs = (await grants(stack, requester=BOB))[0]
    listing = await slash(stack, ALICE, "list")
    resp = await stack.driver.click(ALICE, listing, REVOKE, value_override=bobs.id)
    assert resp.status == 200
    await settle(stack)
    assert (await grants(stack, requester=BOB))[0].state is GrantState.ACTIVE
    assert "bob@example.com" in emails(stack, STAGING_GROUP)
    assert any(f"no grant `{bobs.id}`" in all_text(e) for e in stack.slack.ephemerals(ALICE))


async def test_cancelling_someone_elses_request_is_refused_and_the_request_stays(stack: Stack) -> None:
    await slash(stack, BOB, "request prod-db 1h deploy")
    req = await only_request(stack, BOB)
    reply = await slash(stack, ALICE, f"cancel {req.id}")
    assert f"no request `{req.id}`" in all_text(reply) and "/access list" in all_text(reply)
    assert (await request(stack, req.id)).state is RequestState.PENDING
    msg = await approval_message(stack)
    assert stack.slack.message(APPROVAL_CHANNEL, msg["ts"])["updates"] == []
    [refused] = await audit(stack, "request.refused")
    assert refused["details"]["code"] == "unknown_request"
    assert await audit(stack, "request.cancelled") == []


async def test_an_admin_may_revoke_anyones_grant(stack: Stack) -> None:
    await slash(stack, ALICE, "request staging 1h")
    [grant] = await grants(stack)
    await slash(stack, DANA, f"revoke {grant.id} offboarding")
    [after] = await grants(stack)
    assert after.state is GrantState.REVOKED and ALICE_EMAIL not in emails(stack, STAGING_GROUP)
    [revoked] = await audit(stack, "grant.revoked")
    assert revoked["details"]["reason"] == "admin" and revoked["actor"] == DANA
    assert [m for m in stack.slack.dms_to(ALICE) if "revoked" in m["text"]]


async def test_a_requester_listed_through_a_user_group_may_request_a_restricted_role(stack: Stack) -> None:
    reply = await slash(stack, CAROL, "request secrets 1h audit prep")  # CAROL is in S0ENGINEERS
    assert "waiting" in all_text(reply)
    assert (await only_request(stack, CAROL)).role == "secrets"
    await approval_message(stack)
