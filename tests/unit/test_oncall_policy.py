"""The role's `oncall` key: what it accepts, the clear error each mistake gets, and the token it needs."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.config.errors import ConfigError, PolicyError
from bot.config.policy_file import parse_policy
from bot.config.settings import Settings, require_for_policy
from bot.domain.policy import OnCallRule
from tests.policies import policy_text, role

GROUP = "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60"


def _policy(oncall: str, **fields: object) -> str:
    return policy_text({"prod-db": role(GROUP, approvers=["U0APPR01"], oncall=oncall, **fields)})


def _problems(oncall: str) -> list[str]:
    with pytest.raises(PolicyError) as err:
        parse_policy(_policy(oncall))
    return err.value.problems


def test_the_oncall_key_becomes_the_roles_rule_with_each_schedule_once() -> None:
    policy = parse_policy(_policy("{provider: pagerduty, schedule_ids: [PSCHED1, Q0RIJJZL24RC6W, PSCHED1], "
                                  "auto_approve: true}"))
    assert policy.roles["prod-db"].oncall == OnCallRule("pagerduty", ("PSCHED1", "Q0RIJJZL24RC6W"), True)


def test_auto_approve_defaults_to_asking_the_on_call_person() -> None:
    rule = parse_policy(_policy("{provider: pagerduty, schedule_ids: [PSCHED1]}")).roles["prod-db"].oncall
    assert rule is not None and rule.auto_approve is False


def test_a_role_without_the_key_has_no_oncall_rule() -> None:
    assert parse_policy(policy_text({"r": role(GROUP, approvers=["U0APPR01"])})).roles["r"].oncall is None


@pytest.mark.parametrize(("oncall", "problem"), [
    ("{provider: opsgenie, schedule_ids: [PSCHED1]}", "roles.prod-db.oncall.provider: input should be 'pagerduty'"),
    ("{provider: pagerduty, schedule_ids: []}", "roles.prod-db.oncall.schedule_ids: empty: name at least one"),
    ("{provider: pagerduty, schedule_ids: [psched1]}",
     "roles.prod-db.oncall.schedule_ids[0]: 'psched1' is not a PagerDuty schedule ID"),
    ("{provider: pagerduty, schedule_ids: ['https://x.pagerduty.com/schedules/PSCHED1']}",
     "roles.prod-db.oncall.schedule_ids[0]: 'https://x.pagerduty.com/schedules/PSCHED1' is not a PagerDuty"),
    ("{provider: pagerduty}", "roles.prod-db.oncall.schedule_ids: missing"),
    ("{provider: pagerduty, schedule_ids: [PSCHED1], auto_approve: yes please}",
     "roles.prod-db.oncall.auto_approve:"),
    ("{provider: pagerduty, schedule_ids: [PSCHED1], escalation: 2}", "roles.prod-db.oncall.escalation: unknown key"),
    ("[PSCHED1]", "roles.prod-db.oncall: must be a mapping"),
])
def test_each_mistake_in_the_oncall_key_is_a_clear_problem_at_its_place(oncall: str, problem: str) -> None:
    problems = _problems(oncall)
    assert any(p.startswith(problem) for p in problems), problems


def test_more_than_twenty_schedules_is_a_problem() -> None:
    ids = ", ".join(f"PS{i:05d}" for i in range(21))
    assert any("at most 20" in p for p in _problems(f"{{provider: pagerduty, schedule_ids: [{ids}]}}"))


@given(st.text(max_size=30))
def test_any_typed_schedule_id_is_either_accepted_as_written_or_a_problem(typed: str) -> None:
    text = _policy("{provider: pagerduty, schedule_ids: [" + json.dumps(typed) + "]}")  # a YAML double-quoted scalar
    try:
        rule = parse_policy(text).roles["prod-db"].oncall
    except PolicyError as err:
        assert all(p.startswith("roles.prod-db.oncall") or p.startswith("policy.yml") for p in err.problems)
        return
    assert rule is not None and rule.schedule_ids[0].isalnum() and rule.schedule_ids[0].upper() == \
        rule.schedule_ids[0]


def test_a_policy_with_oncall_needs_the_pagerduty_token() -> None:
    policy = parse_policy(_policy("{provider: pagerduty, schedule_ids: [PSCHED1]}"))
    with pytest.raises(ConfigError, match="PAGERDUTY_API_TOKEN: not set, but role\\(s\\) prod-db have an `oncall`"):
        require_for_policy(Settings(_env_file=None), policy)
    require_for_policy(Settings(_env_file=None, pagerduty_api_token="pd-token"), policy)  # type: ignore[arg-type]
    require_for_policy(Settings(_env_file=None), parse_policy(policy_text({"r": role(GROUP, approvers=["U0A1"])})))


def test_the_pagerduty_url_must_be_http_and_loses_its_trailing_slash() -> None:
    assert Settings(_env_file=None, pagerduty_api_url="http://127.0.0.1:9/").pagerduty_api_url == \
        "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="http"):
        Settings(_env_file=None, pagerduty_api_url="api.pagerduty.com")
