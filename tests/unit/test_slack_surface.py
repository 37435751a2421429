"""The Slack surface as pure functions: command words, escaping, Block Kit within Slack's limits."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.domain.model import AccessRequest, RequestState
from bot.domain.policy import Role
from bot.simulators.block_kit import block_kit_errors
from bot.simulators.block_limits import MAX_MESSAGE_BLOCKS
from bot.slack.approval_view import approval_message
from bot.slack.blocks import TEXT_LIMIT, audit_text, grants_and_requests
from bot.slack.commands import rest_after, split
from bot.slack.text import cut, escape

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ROLE = Role(name="prod-db", group_id="g", account_id="a", approvers=("U1",), description="<!here> & *db*")


def _req(reason: str, state: RequestState = RequestState.PENDING) -> AccessRequest:
    return AccessRequest("r-AAAA22", "prod-db", "U9", "a@x.io", timedelta(hours=2), reason, NOW,
                         NOW + timedelta(days=1), state=state, decided_by="U1", decided_at=NOW)


def test_command_words_keep_the_reason_as_typed() -> None:
    text = "request  prod-db 2h incident &lt;4211&gt;   \"quoted\"\nnext line"
    assert split(text)[:3] == ["request", "prod-db", "2h"]
    assert rest_after(text, 3) == "incident <4211>   \"quoted\"\nnext line"
    assert rest_after("list", 3) == ""


def test_escaping_stops_pings_and_links() -> None:
    assert escape("<!channel> <@U1> <https://x|y> & co") == "&lt;!channel&gt; &lt;@U1&gt; &lt;https://x|y&gt; &amp; co"
    assert cut("abcdef", 4) == "abc…" and cut("abc", 4) == "abc"


def test_the_approval_message_shows_typed_text_only_as_plain_text() -> None:
    msg = approval_message(_req("<!channel> <@U1> <https://evil.example|click> & *bold*"), ROLE)
    for block in msg["blocks"]:
        for text in [block.get("text") or {}, *block.get("fields", [])]:
            if text.get("type") == "mrkdwn":
                assert "<!channel>" not in text["text"] and "evil" not in text["text"]
    plain = [b for b in msg["blocks"] if b["type"] == "section" and b.get("text", {}).get("type") == "plain_text"]
    assert "<!channel>" in plain[0]["text"]["text"]
    context = [b for b in msg["blocks"] if b["type"] == "context"]
    assert context[0]["elements"][0]["type"] == "plain_text"
    assert block_kit_errors(msg["blocks"]) == []


def test_a_huge_reason_is_cut_with_an_ellipsis_within_block_kit_limits() -> None:
    msg = approval_message(_req("x" * 40000), ROLE)
    assert block_kit_errors(msg["blocks"]) == []
    assert any(b["type"] == "section" and b.get("text", {}).get("text", "").endswith("…") for b in msg["blocks"])


def test_a_decided_request_has_no_buttons_and_says_who_decided() -> None:
    msg = approval_message(_req("why", RequestState.DENIED), ROLE)
    assert not any(b["type"] == "actions" for b in msg["blocks"])
    status = next(b["text"]["text"] for b in msg["blocks"] if "Denied" in b.get("text", {}).get("text", ""))
    assert "<@U1>" in status


def test_a_pending_request_has_approve_and_a_confirmed_deny() -> None:
    actions = next(b for b in approval_message(_req("why"), ROLE)["blocks"] if b["type"] == "actions")
    approve, deny = actions["elements"]
    assert approve["style"] == "primary" and approve["value"] == "r-AAAA22"
    assert deny["style"] == "danger" and deny["confirm"]["confirm"]["text"] == "Deny"


def test_the_list_stays_within_fifty_blocks() -> None:
    reqs = [_req("why") for _ in range(60)]
    blocks = grants_and_requests([], reqs, NOW)
    assert len(blocks) <= MAX_MESSAGE_BLOCKS and block_kit_errors(blocks) == []


def _event(seq: int, reason: str = "") -> dict:
    return {"seq": seq, "at": "2026-01-01T09:00:00.000000Z", "actor": "U0ALICE", "action": "request.created",
            "request_id": "r-AAAA22", "grant_id": None, "role": "prod-db", "subject": "a@x.io",
            "details": {"reason": reason, "duration_s": 3600}}


def test_an_audit_line_names_the_event_the_actor_and_what_it_was_about() -> None:
    text = audit_text([_event(7, "incident 4211")], " for role `prod-db`")
    head, line = text.split("\n")
    assert head.startswith("*The last 1 audit event(s) for role `prod-db`*")
    assert line.startswith("`#7` <!date^1767258000^{date_short_pretty} {time_secs}|2026-01-01 09:00:00 UTC> · "
                           "*request.created* · <@U0ALICE> · prod-db · a@x.io")
    assert "`r-AAAA22`" in line and "incident 4211" in line and "duration​_​s: 3600" in line


def test_an_actor_that_is_not_a_slack_user_is_shown_as_code_not_as_a_mention() -> None:
    for actor in ("system", "cli", "<!channel>"):
        line = audit_text([{**_event(1), "actor": actor}], "").split("\n")[1]
        assert "<@" not in line and "<!channel" not in line


def test_audit_events_past_slacks_length_leave_the_oldest_out_and_say_so() -> None:
    rows = [{**_event(i, "x" * 5000), "role": "r" * 63, "subject": "s" * 300 + "@x.io"} for i in range(1, 101)]
    text = audit_text(rows, "")
    assert len(text) <= TEXT_LIMIT
    shown = [int(n) for n in re.findall(r"`#(\d+)`", text)]
    assert shown == list(range(101 - len(shown), 101)) and 50 < len(shown) < 100
    assert f"{100 - len(shown)} older one(s) left out" in text and "accessbot audit export" in text


def test_no_audit_events_says_so() -> None:
    assert audit_text([], " about <@U0ALICE>") == "No audit events about <@U0ALICE>."
