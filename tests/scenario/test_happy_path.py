"""The whole life of an approved request, as Slack and Cloudflare see it (spec §3, §5, §6, §7)."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.audit import first_broken
from bot.domain.clock import ManualClock
from bot.domain.model import GrantState, RequestState
from bot.simulators.stack import ACCOUNT, PROD_GROUP, Stack
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    APPROVAL_CHANNEL,
    APPROVE,
    AUDIT_CHANNEL,
    BOB,
    DENY,
    EXTEND,
    advance,
    all_text,
    approval_message,
    audit,
    buttons,
    click,
    grants,
    has_buttons,
    only_request,
    slash,
    top_level,
)

FOREIGN_INCLUDE = [
    {"email_domain": {"domain": "sre.example.com"}},
    {"email": {"email": "standing@example.com"}},
    {"ip": {"ip": "10.0.0.0/8"}},
    {"group": {"id": "aa0a4aab-672b-4bdb-bc33-a59f1130a11f"}},
]
FOREIGN_EXCLUDE = [{"email": {"email": "contractor@example.com"}}, {"ip": {"ip": "192.0.2.0/24"}}]
FOREIGN_REQUIRE = [{"email_domain": {"domain": "example.com"}}]


def _seed_group(stack: Stack) -> dict:
    return stack.cloudflare.add_group(ACCOUNT, PROD_GROUP, name="prod-db (accessbot)", include=FOREIGN_INCLUDE,
                                      exclude=FOREIGN_EXCLUDE, require=FOREIGN_REQUIRE, is_default=False)


async def test_an_approved_request_is_granted_at_cloudflare_and_revoked_when_it_expires(
        audited_stack: Stack, clock: ManualClock) -> None:
    stack = audited_stack
    slack, cf = stack.slack, stack.cloudflare
    before = _seed_group(stack)
    t0 = clock.now()

    reply = await slash(stack, ALICE, "request prod-db 1h incident 4211")
    req = await only_request(stack, ALICE)
    assert req.id in all_text(reply) and "waiting" in all_text(reply)

    # The approval message: who, which role, how long, why; Approve (primary) and Deny (danger, confirm).
    msg = await approval_message(stack)
    text = all_text(msg)
    assert req.id in text and "<@U0ALICE>" in text and "prod-db" in text and "1h" in text
    assert "incident 4211" in text
    by_action = {b["action_id"]: b for b in buttons(msg)}
    assert by_action[APPROVE]["style"] == "primary"
    assert by_action[DENY]["style"] == "danger" and "confirm" in by_action[DENY]
    assert cf.calls == [], "nothing may happen at Cloudflare before the approval"

    answer = await click(stack, BOB, msg, APPROVE)
    assert answer is not None and "approved" in all_text(answer).lower()

    # Cloudflare: the email appended, every foreign rule kept exactly and in order.
    group = cf.group(ACCOUNT, PROD_GROUP)
    assert group["include"] == FOREIGN_INCLUDE + [{"email": {"email": ALICE_EMAIL}}]
    assert group["exclude"] == FOREIGN_EXCLUDE
    assert group["require"] == FOREIGN_REQUIRE
    assert group["name"] == before["name"] and group["is_default"] is False
    assert cf.invalid_requests == []

    [grant] = await grants(stack, requester=ALICE)
    assert grant.state is GrantState.ACTIVE
    assert grant.granted_at == t0 and grant.expires_at == t0 + timedelta(hours=1)

    # The requester's DM names the exact expiry (Slack date token with the epoch second + UTC fallback).
    [active_dm] = [m for m in slack.dms_to(ALICE) if "active" in m["text"]]
    assert f"<!date^{int(grant.expires_at.timestamp())}^" in active_dm["text"]
    assert "2026-01-01 10:00 UTC" in active_dm["text"]
    assert grant.id in active_dm["text"]

    # The approval message was updated in place: outcome, who, no buttons; the grant follows in its thread.
    assert len(top_level(stack, APPROVAL_CHANNEL)) == 1
    updated = slack.message(APPROVAL_CHANNEL, msg["ts"])
    assert not has_buttons(updated) and updated["updates"]
    assert "Approved" in all_text(updated) and "<@U0APPR01>" in all_text(updated)
    assert f"<!date^{int(t0.timestamp())}^" in all_text(updated), "and when"
    thread = slack.thread(APPROVAL_CHANNEL, msg["ts"])
    assert any("Granted" in m["text"] and grant.id in m["text"] for m in thread)

    # The expiry warning, warn_before (10m) ahead, with an Extend button, and a note in the thread.
    await advance(stack, clock, timedelta(minutes=49))
    assert not [m for m in slack.dms_to(ALICE) if "ends" in m["text"]]
    await advance(stack, clock, timedelta(minutes=1))
    [warning] = [m for m in slack.dms_to(ALICE) if "ends" in m["text"]]
    assert any(b["action_id"] == EXTEND for b in buttons(warning))
    assert any("warned" in m["text"] for m in slack.thread(APPROVAL_CHANNEL, msg["ts"]))
    assert ALICE_EMAIL in [r.get("email", {}).get("email") for r in cf.group(ACCOUNT, PROD_GROUP)["include"]]

    # The expiry: email removed (foreign rules untouched), sessions ended, requester told, thread note.
    await advance(stack, clock, timedelta(minutes=10))
    group = cf.group(ACCOUNT, PROD_GROUP)
    assert group["include"] == FOREIGN_INCLUDE
    assert group["exclude"] == FOREIGN_EXCLUDE and group["require"] == FOREIGN_REQUIRE
    assert cf.revoked_users == [(ACCOUNT, ALICE_EMAIL)]
    last_put = max(i for i, c in enumerate(cf.calls) if c.method == "PUT")
    revoke_call = next(i for i, c in enumerate(cf.calls) if c.path.endswith("/revoke_user"))
    assert revoke_call > last_put, "sessions are ended after the email left the group"
    assert [m for m in slack.dms_to(ALICE) if "expired" in m["text"]]
    assert any("expired" in m["text"] for m in slack.thread(APPROVAL_CHANNEL, msg["ts"]))
    [grant] = await grants(stack, requester=ALICE)
    assert grant.state is GrantState.REVOKED and grant.revoked_at == t0 + timedelta(hours=1)
    assert (await only_request(stack, ALICE, RequestState.APPROVED)).id == req.id

    # The audit trail: complete, in order, and its hash chain verifies.
    rows = await audit(stack)
    assert first_broken(rows) is None
    mine = [r["action"] for r in rows if r["request_id"] == req.id or r["grant_id"] == grant.id]
    assert mine == ["request.created", "request.vote", "request.approved", "grant.applied", "grant.warned",
                    "grant.revoked", "session.revoked"]
    revoked = next(r for r in rows if r["action"] == "grant.revoked")
    assert revoked["details"]["reason"] == "expired" and revoked["subject"] == ALICE_EMAIL
    approved = next(r for r in rows if r["action"] == "request.approved")
    assert approved["actor"] == BOB
    # the audit channel got a one-line summary of every event, in order
    lines = [m["text"] for m in slack.messages(AUDIT_CHANNEL)]
    assert [line.split("`")[1] for line in lines] == [f"#{r['seq']}" for r in rows]
    assert all(r["action"] in line for r, line in zip(rows, lines, strict=True))
