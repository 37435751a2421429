"""The terminal's plain text from the services' Slack mrkdwn (bot.cli_text)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.cli_text import plain
from bot.slack.text import escape, inert

# Text people type, including everything Slack treats as markup.
typed = st.lists(st.sampled_from(list("ab c_*~`<>&@!|#^:\n.-é\u200b") + ["U0ALICE", "&amp;", "&lt;", "```"]),
                 max_size=30).map("".join) | st.text(max_size=40)
one_line = typed.map(lambda s: s.replace("\n", " ").strip()).filter(bool)


@given(typed)
def test_text_people_typed_comes_back_exactly_after_the_services_made_it_inert(text: str) -> None:
    assert plain(inert(text)) == text


@given(typed.filter(lambda s: not any(c in s for c in "*_~`")))
def test_escaped_text_comes_back_exactly(text: str) -> None:
    assert plain(escape(text)) == text


@given(one_line, st.sampled_from(["*", "_", "~", "`"]))
def test_formatting_around_inert_text_is_dropped(text: str, mark: str) -> None:
    assert plain(f"grant {mark}{inert(text)}{mark} is over") == f"grant {text} is over"


@given(st.from_regex(r"[UW][A-Z0-9]{2,10}", fullmatch=True))
def test_a_user_mention_becomes_the_user_id(user: str) -> None:
    assert plain(f"decided by <@{user}>.") == f"decided by {user}."


@given(st.text(max_size=60))
def test_no_mention_link_or_special_survives(text: str) -> None:
    out = plain(text.replace("&", "").replace("\u200b", ""))
    for sequence in ("<@", "<#", "<!", "<http"):
        assert sequence not in out or sequence in text.replace("&", "")


@pytest.mark.parametrize(("mrkdwn", "text"), [
    ("you have no grant `g-7Q2X`; `/access list` shows yours", "you have no grant g-7Q2X; /access list shows yours"),
    ("grant `g-1` is already revoked", "grant g-1 is already revoked"),
    ("*Grant `g-1`* (prod-db) is being revoked.", "Grant g-1 (prod-db) is being revoked."),
    ("request `r-1` was already approved by <@U0APPR01>", "request r-1 was already approved by U0APPR01"),
    ("named <@U0ALICE|alice> in <#C0APPROVE|approvals>", "named alice in #approvals"),
    ("see <https://example.com/docs|the docs> or <https://example.com>", "see the docs or https://example.com"),
    ("ends <!date^1700000000^{date_short_pretty} {time}|14 Nov 2023 22:13 UTC>", "ends 14 Nov 2023 22:13 UTC"),
    ("ends <!date^1700000000^{date}>", "ends 2023-11-14 22:13 UTC"),
    ("<!here> <!subteam^S0SRETEAM|@sre-team> <!subteam^S0X>", "@here @sre-team S0X"),
    ("_quiet_ ~gone~ ```block *kept*```", "quiet gone block *kept*"),
    ("a &lt;b&gt; &amp;amp;", "a <b> &amp;"),
    ("2*3*4, snake_case_name, a * b", "2*3*4, snake_case_name, a * b"),
])
def test_what_the_services_write_reads_as_plain_text(mrkdwn: str, text: str) -> None:
    assert plain(mrkdwn) == text
