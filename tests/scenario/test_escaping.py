"""Text people type is shown as typed and can never ping, link or format; any words work (spec §3, §4)."""

from __future__ import annotations

import pytest

from bot.simulators.block_kit import block_kit_errors
from bot.simulators.block_limits import MAX_SECTION_TEXT
from bot.simulators.stack import ACCOUNT, Stack
from tests.scenario.conftest import StackFactory
from tests.scenario.helpers import (
    ALICE,
    APPROVAL_CHANNEL,
    AUDIT_CHANNEL,
    BOB,
    DANGEROUS,
    DM_GROUP,
    all_text,
    approval_message,
    audit,
    click,
    formatted_texts,
    grants,
    live_markup,
    only_request,
    policy_with,
    slash,
    text_objects,
    top_level,
)

NASTY = "<!channel> <!here> ping <@U0APPR01> see <https://evil.example|click> fish & chips *bold* _it_ ~strike~"


def _plain_texts(message: dict) -> list[str]:
    return [t for k, t in text_objects(message.get("blocks") or []) if k == "plain_text"]


async def test_a_reason_with_mentions_links_and_markup_is_shown_as_typed_and_cannot_ping_link_or_format(
        stack: Stack) -> None:
    await slash(stack, ALICE, f"request prod-db 1h {NASTY}")
    req = await only_request(stack, ALICE)
    assert req.reason == NASTY, "stored as typed"
    msg = await approval_message(stack)
    assert any(NASTY in t for t in _plain_texts(msg)), "the reason is shown as typed, in a plain_text element"
    for text in formatted_texts(msg):
        assert live_markup(text) == [], f"live markup {live_markup(text)} in {text!r}"


async def test_the_audit_channel_summary_of_a_reason_cannot_ping_link_or_format(audited_stack: Stack) -> None:
    stack = audited_stack
    await slash(stack, ALICE, f"request prod-db 1h {NASTY}")
    await approval_message(stack)
    lines = [m for m in stack.slack.messages(AUDIT_CHANNEL) if "request.created" in m["text"]]
    assert len(lines) == 1
    for text in formatted_texts(lines[0]):
        assert live_markup(text) == [], f"live markup {live_markup(text)} in {text!r}"


async def test_pending_shows_a_reason_that_cannot_ping_link_or_format(stack: Stack) -> None:
    await slash(stack, ALICE, f"request prod-db 1h {NASTY}")
    listing = await slash(stack, BOB, "pending")
    assert "fish" in all_text(listing)
    for text in formatted_texts(listing):
        assert live_markup(text) == [], f"live markup {live_markup(text)} in {text!r}"


async def test_a_revoke_note_in_the_thread_cannot_ping_link_or_format(stack: Stack) -> None:
    await slash(stack, ALICE, "request prod-db 1h deploy")
    msg = await approval_message(stack)
    await click(stack, BOB, msg, "access_approve")
    [grant] = await grants(stack)
    await slash(stack, ALICE, f"revoke {grant.id} {NASTY}")
    notes = [m for m in stack.slack.thread(APPROVAL_CHANNEL, msg["ts"]) if "fish" in m["text"]]
    assert len(notes) == 1
    for text in formatted_texts(notes[0]):
        assert live_markup(text) == [], f"live markup {live_markup(text)} in {text!r}"


async def test_a_role_name_typed_as_markup_is_echoed_inert_in_the_refusal(stack: Stack) -> None:
    reply = await slash(stack, ALICE, "request <!channel>*bold* 1h why")
    for text in formatted_texts(reply):
        assert live_markup(text) == [], f"live markup {live_markup(text)} in {text!r}"
    [refused] = await audit(stack, "request.refused")
    assert refused["details"]["code"] == "unknown_role"


async def test_an_unknown_subcommand_typed_as_markup_is_echoed_inert(stack: Stack) -> None:
    reply = await slash(stack, ALICE, "<!channel> <@U0APPR01>")
    for text in formatted_texts(reply):
        assert live_markup(text, ("<!channel>", "<@U0APPR01>")) == []


async def test_a_role_description_with_markup_is_shown_inert_in_roles(make_stack: StackFactory) -> None:
    # the listing names the real approvers (<@U0APPR01>) on purpose; the description pings someone else
    nasty = NASTY.replace("<@U0APPR01>", "<@U0MALLORY>")
    dangerous = tuple(d.replace("<@U0APPR01>", "<@U0MALLORY>") for d in DANGEROUS)
    stack = await make_stack(policy_with(f"""
odd:
  description: "{nasty}"
  group_id: {DM_GROUP}
  account_id: {ACCOUNT}
  auto_approve: true
"""))
    listing = await slash(stack, ALICE, "roles")
    assert "fish" in all_text(listing)
    for text in formatted_texts(listing):
        assert live_markup(text, dangerous) == [], f"live markup {live_markup(text, dangerous)} in {text!r}"


async def test_a_reason_over_3000_characters_is_cut_with_an_ellipsis_and_slack_accepts_the_message(
        stack: Stack) -> None:
    long_reason = "because " + "x" * 3500
    reply = await slash(stack, ALICE, f"request prod-db 1h {long_reason}")
    assert "waiting" in all_text(reply), all_text(reply)
    msg = await approval_message(stack)
    assert block_kit_errors(msg["blocks"]) == []
    [shown] = [t for t in _plain_texts(msg) if "because" in t]
    assert shown.endswith("…") and len(shown) <= MAX_SECTION_TEXT
    assert stack.slack.calls_to("chat.postMessage")
    assert all(c.response.get("ok") for c in stack.slack.calls if c.method.startswith("chat."))


async def test_a_reason_just_under_the_limit_is_cut_for_slack_and_accepted(stack: Stack) -> None:
    reason = "y" * 1999
    await slash(stack, ALICE, f"request prod-db 1h {reason}")
    msg = await approval_message(stack)
    assert block_kit_errors(msg["blocks"]) == []
    assert any(reason in t for t in _plain_texts(msg))
    assert all(c.response.get("ok") for c in stack.slack.calls if c.method.startswith("chat."))


WORDS = [
    # (case, typed after the role, the duration it means, the reason as stored and shown)
    ("unicode", "1h 🔥 prod is down — 東京 ünïcödé naïve", "1h", "🔥 prod is down — 東京 ünïcödé naïve"),
    ("duration-word", "1h 2h window for the migration", "1h", "2h window for the migration"),
    ("command-words", "30m request list help cancel revoke extend", "30m", "request list help cancel revoke extend"),
    ("quotes", "1h said \"yes\" and 'no'", "1h", "said \"yes\" and 'no'"),
    ("newline", "1h first line\nsecond line", "1h", "first line\nsecond line"),
    ("slack-escaped-entities", "1h a &amp; b &lt;3", "1h", "a & b <3"),
    ("no-duration", "incident   with   spaces", "1h", "incident   with   spaces"),
]


async def test_any_words_in_a_reason_work_and_arrive_as_typed(stack: Stack, subtests: pytest.Subtests) -> None:
    for case, typed, duration, reason in WORDS:
        with subtests.test(case):
            posted = len(top_level(stack, APPROVAL_CHANNEL))
            reply = await slash(stack, ALICE, f"request prod-db {typed}")
            assert "waiting" in all_text(reply), all_text(reply)
            req = await only_request(stack, ALICE)
            try:
                assert req.reason == reason
                assert int(req.duration.total_seconds()) == {"1h": 3600, "30m": 1800}[duration]
                msgs = top_level(stack, APPROVAL_CHANNEL)[posted:]
                assert len(msgs) == 1 and req.id in all_text(msgs[0])
                assert any(reason in t for t in _plain_texts(msgs[0]))
            finally:
                await slash(stack, ALICE, f"cancel {req.id}")  # so the next case may ask again
