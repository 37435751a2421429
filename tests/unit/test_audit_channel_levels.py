"""Which audit events each `audit_channel_events` level posts."""

from __future__ import annotations

import pytest

from bot.config.errors import PolicyError
from bot.config.policy_file import parse_policy
from bot.domain.audit_channel import ALERTS, DECISIONS, shows
from bot.simulators.stack import PROD_GROUP
from tests.policies import policy_text, role


def test_all_posts_everything_but_mistyped_commands() -> None:
    assert shows("all", "request.vote")
    assert shows("all", "request.refused", {"code": "not_allowed"})
    assert not shows("all", "request.refused", {"code": "unknown_command"})
    assert not shows("all", "request.refused", {"code": "bad_duration"})


def test_decisions_and_alerts_are_nested_levels() -> None:
    assert ALERTS <= DECISIONS
    assert shows("decisions", "grant.revoked") and not shows("decisions", "request.vote")
    assert shows("alerts", "grant.revoke_failed") and not shows("alerts", "grant.revoked")


def _policy(extra: str) -> str:
    return policy_text({"db": role(PROD_GROUP, approvers=["U0APPR01"])}) + extra


def test_the_policy_reads_audit_channel_events_and_defaults_to_all() -> None:
    assert parse_policy(_policy("")).audit_channel_events == "all"
    assert parse_policy(_policy("audit_channel_events: alerts\n")).audit_channel_events == "alerts"


def test_an_unknown_loudness_is_a_clear_policy_error() -> None:
    with pytest.raises(PolicyError) as err:
        parse_policy(_policy("audit_channel_events: loud\n"))
    assert "audit_channel_events" in str(err.value) and "decisions" in str(err.value)
