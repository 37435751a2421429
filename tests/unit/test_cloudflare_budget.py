"""The Cloudflare simulator's rate limits: Cloudflare's numbers, a sliding window, and the token's 5-minute block."""

from __future__ import annotations

from bot.simulators.cloudflare_budget import IP_BUDGET, TOKEN_BUDGET, Budget, Window


def test_the_defaults_are_cloudflare_s_documented_numbers() -> None:
    assert (TOKEN_BUDGET.requests, TOKEN_BUDGET.seconds, TOKEN_BUDGET.block) == (1200, 300.0, 300.0)
    assert (IP_BUDGET.requests, IP_BUDGET.seconds, IP_BUDGET.block) == (200, 1.0, None)


def test_a_token_gets_1200_requests_in_five_minutes_then_is_blocked_for_five_minutes() -> None:
    window = Window(TOKEN_BUDGET)
    assert all(window.take("t", i * 0.2) is None for i in range(1200))  # 1,200 over 240 s
    assert window.take("t", 240.0) == 300
    assert window.take("t", 400.0) == 140, "a refused request inside the block is told the block's end"
    assert window.take("other-token", 400.0) is None, "the budget is per token"
    assert window.take("t", 540.0) is None, "after the block, the requests of more than 5 minutes ago are gone"


def test_an_ip_past_200_a_second_waits_until_the_oldest_request_leaves_the_window() -> None:
    window = Window(IP_BUDGET)
    assert all(window.take("127.0.0.1", 10 + i / 1000) is None for i in range(200))  # 200 in 0.2 s
    assert window.take("127.0.0.1", 10.5) == 1
    assert window.take("127.0.0.2", 10.5) is None
    assert window.take("127.0.0.1", 11.0005) is None


def test_refused_requests_are_not_counted() -> None:
    window = Window(Budget(2, 10.0))
    assert window.take("k", 0.0) is None and window.take("k", 1.0) is None
    for t in range(2, 10):
        assert window.take("k", float(t)) is not None
    assert window.take("k", 10.0) is None  # only the first one left the window; the refusals never entered it
    assert window.take("k", 10.5) == 1
