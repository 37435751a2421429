"""The incident-time policy keys (issue 11): remind_after, reminders, escalate_after, escalate_to, break_glass,
break_glass_max_duration — read per role and from defaults, checked together; and the break-glass cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config.errors import PolicyError
from bot.config.policy_file import parse_policy
from bot.domain.incident import break_glass_duration, remind_time
from tests.policies import policy_text, role

GROUP = "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60"
M = timedelta(minutes=1)


def _problems(text: str) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    return str(caught.value)


def test_the_keys_are_read_per_role_and_inherited_from_defaults() -> None:
    text = policy_text({"db": role(GROUP, approvers=["U0A1"], escalate_after="30m", escalate_to=["S0LEADS", "U0B2"],
                                   break_glass=True, break_glass_max_duration="2h"),
                        "web": role(GROUP, approvers=["U0A1"])},
                       defaults={"remind_after": "15m", "reminders": 2})
    policy = parse_policy(text)
    db, web = policy.roles["db"], policy.roles["web"]
    assert (db.remind_after, db.reminders, web.remind_after) == (15 * M, 2, 15 * M)
    assert db.escalate_after == 30 * M and db.escalate_to == ("S0LEADS", "U0B2")
    assert db.break_glass and db.break_glass_max_duration == timedelta(hours=2)
    assert not web.break_glass and web.escalate_to == () and web.escalate_after == timedelta(0)


def test_escalate_after_without_escalate_to_and_the_reverse_are_each_a_problem() -> None:
    assert "roles.db.escalate_to: missing" in _problems(
        policy_text({"db": role(GROUP, approvers=["U0A1"], escalate_after="30m")}))
    assert "roles.db.escalate_after: missing" in _problems(
        policy_text({"db": role(GROUP, approvers=["U0A1"], escalate_to=["U0B2"])}))


def test_bad_values_are_named() -> None:
    found = _problems(policy_text({"db": role(GROUP, approvers=["U0A1"], reminders=-1, escalate_after="30m",
                                              escalate_to=["C0LEADS"], break_glass="yes")}))
    assert "roles.db.reminders" in found and "roles.db.escalate_to" in found and "roles.db.break_glass" in found


def test_break_glass_is_a_role_key_not_a_default() -> None:
    assert "defaults.break_glass" in _problems(policy_text({"db": role(GROUP, approvers=["U0A1"])},
                                                            defaults={"break_glass": True}))


def test_reminder_times_run_from_the_request_and_stop_at_reminders() -> None:
    db = parse_policy(policy_text({"db": role(GROUP, approvers=["U0A1"], remind_after="10m", reminders=2)})).roles["db"]
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert [remind_time(db, start, n) for n in range(3)] == [start + 10 * M, start + 20 * M, None]


def test_break_glass_duration_is_capped_and_says_so() -> None:
    db = parse_policy(policy_text({"db": role(GROUP, approvers=["U0A1"], break_glass=True,
                                              break_glass_max_duration="1h")})).roles["db"]
    assert break_glass_duration(db, timedelta(hours=3)) == (timedelta(hours=1), True)
    assert break_glass_duration(db, 20 * M) == (20 * M, False)
    assert break_glass_duration(db, None) == (timedelta(hours=1), False)
