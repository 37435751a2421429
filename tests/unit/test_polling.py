"""`eventually`: the one polling loop of the demo and the tests."""

from __future__ import annotations

import pytest

from bot.polling import eventually


async def test_eventually_returns_the_first_truthy_value_of_a_sync_predicate() -> None:
    calls = []

    def third_time() -> list[int] | None:
        calls.append(1)
        return calls if len(calls) == 3 else None

    assert await eventually(third_time, 5, step=0) == [1, 1, 1]


async def test_eventually_awaits_an_async_predicate() -> None:
    async def ready() -> str:
        return "yes"

    assert await eventually(ready, 1) == "yes"


async def test_eventually_raises_the_given_error_naming_what_it_waited_for_after_the_timeout() -> None:
    class Failed(Exception):
        pass

    with pytest.raises(Failed, match=r"timed out after 0.05s waiting for the approval message"):
        await eventually(lambda: None, 0.05, "the approval message", step=0.01, error=Failed)


async def test_eventually_fails_with_an_assertion_error_by_default_after_one_last_look_past_the_deadline() -> None:
    seen = []
    with pytest.raises(AssertionError):
        await eventually(lambda: seen.append(1), 0.05, step=0.2)
    assert len(seen) == 2  # at the start, and once more when the step took it past the deadline
