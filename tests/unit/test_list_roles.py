"""List roles in the policy file, and the planning of a Zero Trust list's PATCH."""

from __future__ import annotations

import pytest

from bot.config.errors import PolicyError
from bot.config.policy_file import parse_policy
from bot.domain.membership import list_item_values, list_of, plan_list_change

GROUP = "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60"
LIST = "5B2C1D0E-AAAA-4BBB-8CCC-0123456789AB"
ACCOUNT = "1234567890abcdef1234567890abcdef"


def one_role(body: str, top: str = "") -> str:
    """A one-role policy with `body` (indented YAML lines) as the role's target keys."""
    return f"{top}roles:\n  prod-db:\n    account_id: {ACCOUNT}\n    approvers: [U0APPR01]\n{body}"


def problems_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    return caught.value.problems


def test_a_role_with_list_id_targets_the_list_and_has_no_group() -> None:
    role = parse_policy(one_role(f"    list_id: {LIST}\n")).roles["prod-db"]
    assert role.list_id == LIST.lower() and role.group_id == ""
    assert role.target == f"list:{LIST.lower()}"


def test_a_group_role_targets_its_group() -> None:
    role = parse_policy(one_role(f"    group_id: {GROUP}\n")).roles["prod-db"]
    assert role.list_id is None and role.target == GROUP


def test_a_role_with_both_group_id_and_list_id_is_a_problem() -> None:
    [problem] = problems_of(one_role(f"    group_id: {GROUP}\n    list_id: {LIST}\n"))
    assert problem.startswith("roles.prod-db: give group_id or list_id, not both")


def test_a_role_with_neither_is_a_problem_naming_both_ways() -> None:
    [problem] = problems_of(one_role(""))
    assert problem.startswith("roles.prod-db.group_id: missing") and "list_id" in problem


def test_a_list_id_that_is_not_a_uuid_is_a_problem() -> None:
    [problem] = problems_of(one_role("    list_id: my-list\n"))
    assert problem.startswith("roles.prod-db.list_id: 'my-list' is not a UUID (the Zero Trust list's id")


def test_list_id_is_not_a_defaults_key() -> None:
    problems = problems_of(one_role(f"    group_id: {GROUP}\n", top=f"defaults:\n  list_id: {LIST}\n"))
    assert problems == ["defaults.list_id: unknown key"]


def test_a_list_patch_lower_cases_sorts_and_keeps_an_email_both_added_and_removed() -> None:
    change = plan_list_change({"Bob@Example.com", "ann@example.com"}, {"bob@example.com", "old@example.com"})
    assert change.append == ("ann@example.com", "bob@example.com")
    assert change.remove == ("old@example.com",)
    assert change.changed


def test_an_empty_list_patch_is_no_change() -> None:
    assert not plan_list_change(set(), set()).changed


def test_a_target_names_a_list_only_with_the_list_prefix() -> None:
    assert list_of(f"list:{LIST}") == LIST
    assert list_of(GROUP) is None


def test_item_values_are_lower_cased_and_odd_items_skipped() -> None:
    assert list_item_values([{"value": "Ann@Example.com"}, {"description": "x"}, "junk"]) == {"ann@example.com"}


def test_an_admin_alert_about_a_list_role_names_the_zero_trust_list() -> None:
    from bot.domain.effects import NotifyAdmins
    from bot.slack.notifier import admin_text

    alert = NotifyAdmins("revoke_recovered", account_id=ACCOUNT, group_id=f"list:{LIST.lower()}")
    assert f"Zero Trust list `{LIST.lower()}`" in admin_text(alert)
    assert "list:" not in admin_text(alert)
