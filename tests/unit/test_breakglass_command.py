"""Reading `/access breakglass ROLE [DURATION] REASON`: examples, and properties over whatever people type."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.domain.durations import format_duration, meant_as_duration
from bot.slack.breakglass_command import ROLE_NAME, BreakGlassAsk, Unreadable, parse_breakglass
from bot.slack.commands import split

ROLES = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)
DURATIONS = st.integers(min_value=1, max_value=24 * 60).map(lambda m: timedelta(minutes=m))
REASON_WORDS = st.lists(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1,
                                 max_size=12).filter(lambda w: not meant_as_duration(w)), max_size=6)


def test_role_duration_and_reason_are_read() -> None:
    assert parse_breakglass(split("breakglass prod-db 30m db is down")) == BreakGlassAsk(
        "prod-db", timedelta(minutes=30), "db is down")
    assert parse_breakglass(split("breakglass PROD-DB on fire")) == BreakGlassAsk("prod-db", None, "on fire")
    assert parse_breakglass(split("breakglass prod-db")) == BreakGlassAsk("prod-db", None, "")


def test_a_missing_role_a_bad_role_and_a_bad_duration_are_each_said() -> None:
    assert isinstance(missing := parse_breakglass(["breakglass"]), Unreadable) and missing.code == "usage"
    bad_role = parse_breakglass(split("breakglass <!channel> fire"))
    assert isinstance(bad_role, Unreadable) and bad_role.code == "unknown_role"
    bad = parse_breakglass(split("breakglass prod-db 5x fire"))
    assert isinstance(bad, Unreadable) and bad.code == "bad_duration" and bad.role == "prod-db"
    assert "breakglass ROLE [DURATION] REASON" in bad.problem


@given(ROLES, st.one_of(st.none(), DURATIONS), REASON_WORDS)
def test_what_was_written_is_what_is_read(role: str, duration: timedelta | None, reason: list[str]) -> None:
    words = ["breakglass", role] + ([format_duration(duration)] if duration else []) + reason
    assert parse_breakglass(words) == BreakGlassAsk(role, duration, " ".join(reason))


@given(st.text(max_size=200))
def test_any_text_reads_as_an_ask_or_a_clear_problem_and_never_raises(text: str) -> None:
    got = parse_breakglass(["breakglass", *split(text)])
    if isinstance(got, BreakGlassAsk):
        assert ROLE_NAME.match(got.role)
        assert got.duration is None or got.duration > timedelta(0)
        assert got.reason == got.reason.strip()
    else:
        assert got.code in {"usage", "unknown_role", "bad_duration"} and got.problem
