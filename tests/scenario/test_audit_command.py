"""`/access audit [ROLE|@user] [N]` (spec §3): admins read the last audit events in Slack."""

from __future__ import annotations

import re

from bot.simulators.stack import Stack
from tests.scenario.helpers import (
    ALICE,
    ALICE_EMAIL,
    BOB,
    DANA,
    all_text,
    approval_message,
    audit,
    click,
    slash,
)

SEQ = re.compile(r"`#(\d+)`")


def seqs(reply: dict) -> list[int]:
    """The audit sequence numbers a reply shows, in order."""
    return [int(n) for n in SEQ.findall(all_text(reply))]


async def _history(stack: Stack) -> None:
    """Alice gets staging at once, asks for prod-db (Bob approves), and Bob asks for staging."""
    await slash(stack, ALICE, "request staging 1h")
    await slash(stack, ALICE, "request prod-db 1h incident <!channel> *now*")
    await click(stack, BOB, await approval_message(stack), "access_approve")
    await slash(stack, BOB, "request staging 30m")


async def test_an_admin_sees_the_last_twenty_events_oldest_first(stack: Stack) -> None:
    await _history(stack)
    for _ in range(12):
        await slash(stack, ALICE, "request nonsense")  # refused requests are audited too
    rows = await audit(stack)
    assert len(rows) > 20
    reply = await slash(stack, DANA, "audit")
    assert seqs(reply) == [r["seq"] for r in rows[-20:]]
    assert "The last 20 audit event(s)" in all_text(reply)


async def test_audit_takes_a_count(stack: Stack) -> None:
    await _history(stack)
    rows = await audit(stack)
    reply = await slash(stack, DANA, "audit 3")
    assert seqs(reply) == [r["seq"] for r in rows[-3:]]


async def test_audit_for_a_role_shows_only_that_roles_events(stack: Stack) -> None:
    await _history(stack)
    expected = [r["seq"] for r in await audit(stack) if r["role"] == "prod-db"]
    reply = await slash(stack, DANA, "audit prod-db 100")
    assert seqs(reply) == expected and len(expected) >= 4
    assert "for role `prod-db`" in all_text(reply)


async def test_audit_for_a_person_shows_what_they_did_and_what_was_done_about_them(stack: Stack) -> None:
    await _history(stack)
    rows = await audit(stack)
    expected = [r["seq"] for r in rows if r["actor"] == ALICE or r["subject"] == ALICE_EMAIL]
    assert any(r["actor"] == BOB and r["subject"] == ALICE_EMAIL for r in rows), "Bob's approval is about Alice"
    for how in ("@alice", f"<@{ALICE}|alice>", ALICE):
        reply = await slash(stack, DANA, f"audit {how} 100")
        assert seqs(reply) == expected, how
        assert f"about <@{ALICE}>" in all_text(reply)
    # and the other way round: a number first
    assert seqs(await slash(stack, DANA, "audit 2 @alice")) == expected[-2:]


async def test_text_people_typed_cannot_ping_or_format_in_the_audit_reply(stack: Stack) -> None:
    await _history(stack)
    text = all_text(await slash(stack, DANA, "audit prod-db"))
    assert "incident" in text
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "*now*" not in text


async def test_someone_who_is_not_an_admin_is_refused_and_the_refusal_is_audited(stack: Stack) -> None:
    await _history(stack)
    before = len(await audit(stack))
    reply = await slash(stack, ALICE, "audit @bob")
    assert "only the policy's admins" in all_text(reply).lower() and not seqs(reply)
    assert stack.slack.count("users.list") == 0, "nothing is looked up for someone who may not look"
    rows = await audit(stack)
    assert len(rows) == before + 1
    assert rows[-1]["action"] == "request.refused" and rows[-1]["actor"] == ALICE
    assert rows[-1]["details"]["code"] == "not_admin"


async def test_bad_audit_words_get_a_refusal_that_shows_how_to_write_it(stack: Stack) -> None:
    cases = {
        "audit 0": "N is 1 to 100",
        "audit 101": "N is 1 to 100",
        "audit 99999999999999999999": "N is 1 to 100",
        "audit prod-db @alice": "not both",
        "audit prod-db 5 7": "at most",
        "audit 5 7": "give one number",
        "audit @nobody": "nobody in Slack is called",
        "audit Prod!DB": "neither a role, a person nor a number",
    }
    for text, says in cases.items():
        reply = all_text(await slash(stack, DANA, text))
        assert says.lower() in reply.lower() and "/access audit [ROLE|@user] [N]" in reply, (text, reply)
    refused = await audit(stack, "request.refused")
    assert len(refused) == len(cases) and all(r["actor"] == DANA for r in refused)


async def test_two_people_with_one_name_must_be_named_by_id(stack: Stack) -> None:
    stack.slack.add_user("U0ALICE2", email="alice2@example.com", name="alice")
    reply = all_text(await slash(stack, DANA, "audit @alice"))
    assert "2 people in Slack are called" in reply and "user ID" in reply


async def test_a_role_no_longer_in_the_policy_can_still_be_audited(stack: Stack) -> None:
    reply = all_text(await slash(stack, DANA, "audit retired-role"))
    assert "No audit events for role `retired-role` (not in the policy now)" in reply


async def test_a_person_is_found_by_name_across_several_pages_of_users_list(stack: Stack) -> None:
    for i in range(450):
        stack.slack.add_user(f"U1FILL{i:04d}", email=f"fill{i}@example.com", name=f"fill{i}")
    stack.slack.add_user("U0ZED", email="zed@example.com", name="zed")
    await slash(stack, "U0ZED", "request staging 1h")
    reply = await slash(stack, DANA, "audit @zed")
    assert "about <@U0ZED>" in all_text(reply) and len(seqs(reply)) >= 2
    assert stack.slack.count("users.list") == 3, "200 a page"
