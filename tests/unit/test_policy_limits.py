"""A hostile policy file (alias bomb, deep nesting, huge file, huge number or key) is one clear problem, fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.errors import PolicyError
from bot.config.policy_file import load_policy, parse_policy
from bot.config.policy_yaml import MAX_POLICY_BYTES, MAX_POLICY_DEPTH, MAX_POLICY_VALUES
from bot.config.problems import got as _got

GROUP = "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60"
GROUP2 = "1f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f61"
ACCOUNT = "1234567890abcdef1234567890abcdef"


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The "billion laughs": anchors a1..a9 under a role's approvers, each listing the previous one 9 times."""
    anchors = "".join(f"      - &a{i} [{', '.join([f'*a{i - 1}'] * width)}]\n" for i in range(1, levels + 1))
    return (f"roles:\n  r:\n    group_id: {GROUP}\n    account_id: {ACCOUNT}\n    approvers:\n"
            f"      - &a0 U0AAAAAA1\n{anchors}")


def problems_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="p.yml")
    return caught.value.problems


def only_problem(text: str, source: str = "p.yml") -> str:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source=source)
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0]


def test_an_alias_bomb_is_one_problem_naming_the_line_where_it_blows_up() -> None:
    problem = only_problem("admins: &a0 [U0AAAAAA1]\n" + "".join(
        f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)) + "roles: {}\n")
    # x5 is the first level past 50,000 values once expanded (9^5 lists of 2)
    assert problem == ("p.yml:6:5: the aliases expand this to more than 50,000 values "
                       "(an anchor may be reused, not multiplied)")


def test_an_alias_bomb_inside_a_role_is_refused_before_any_value_is_checked() -> None:
    assert "the aliases expand this to more than" in only_problem(alias_bomb())


def test_an_alias_that_contains_itself_is_a_problem() -> None:
    assert only_problem("admins: &a [U0AAAAAA1, *a]\nroles: {}\n") == \
        "p.yml:1:9: an alias refers to the value that contains it"


def test_nesting_deeper_than_the_bound_is_a_problem_with_its_place() -> None:
    deep = "admins: " + "[" * 10_000 + "]" * 10_000 + "\nroles: {}\n"
    # the top-level mapping is the first level, so the 32nd bracket is one too many
    assert only_problem(deep) == f"p.yml:1:{8 + MAX_POLICY_DEPTH}: nested more than {MAX_POLICY_DEPTH} levels deep"


def test_deep_block_mappings_are_refused_too() -> None:
    deep = "".join("  " * i + f"k{i}:\n" for i in range(MAX_POLICY_DEPTH + 5))
    assert f"nested more than {MAX_POLICY_DEPTH} levels deep" in only_problem(deep)


def test_more_values_than_the_bound_is_a_problem_even_without_aliases() -> None:
    text = "admins: [" + ",".join(["U0AAAAAA1"] * (MAX_POLICY_VALUES + 10)) + "]\nroles: {}\n"
    assert f"more than {MAX_POLICY_VALUES:,} values" in only_problem(text)


def test_a_file_larger_than_the_bound_is_refused_without_reading_all_of_it(tmp_path: Path) -> None:
    path = tmp_path / "big.yml"
    path.write_text("# " + "x" * (MAX_POLICY_BYTES * 3) + "\nroles: {}\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.problems == [f"{path}: larger than {MAX_POLICY_BYTES // 1024} KiB (a policy file is a few KiB)"]


def test_an_integer_of_thousands_of_digits_is_a_problem_not_a_crash() -> None:
    text = f"defaults:\n  approvals_required: {'9' * 5000}\nroles: {{}}\n"
    assert only_problem(text) == "p.yml:2:23: a number with more than 30 digits"


def test_a_huge_key_is_cut_in_the_problem_line() -> None:
    text = (f"? {'k' * 100_000}\n: 1\nroles:\n  r:\n    group_id: {GROUP}\n    account_id: {ACCOUNT}\n"
            "    auto_approve: true\n")
    problem = only_problem(text)
    assert problem.startswith("kkkk") and problem.endswith("unknown key (the top level has only defaults, admins, "
                                                           "audit_channel, audit_channel_events, roles)")
    assert len(problem) < 200


def test_a_huge_value_is_shown_cut_short_in_its_problem() -> None:
    text = f"admins: [{'x' * 200_000}]\nroles:\n  r:\n    group_id: {GROUP}\n    account_id: {ACCOUNT}\n" \
           "    auto_approve: true\n"
    problem = only_problem(text)
    assert problem.startswith("admins[0]: 'xxx") and "is not a Slack user ID" in problem
    assert len(problem) < 200


def test_the_short_repr_never_walks_a_whole_shared_structure() -> None:
    value: list = ["U0AAAAAA1"]
    for _ in range(40):  # 9^40 elements if walked
        value = [value] * 9
    assert len(_got(value)) <= 60
    assert _got(10 ** 5000) == "a number too big to show"


def test_ordinary_anchors_and_merge_keys_still_load() -> None:
    text = f"""\
admins: &oncall [U0APPR01, U0APPR02]
roles:
  prod-db: &base
    group_id: {GROUP}
    account_id: {ACCOUNT}
    approvers: *oncall
    max_duration: 4h
  staging:
    <<: *base
    group_id: {GROUP2}
    requesters: *oncall
"""
    policy = parse_policy(text)
    assert policy.admins == ("U0APPR01", "U0APPR02")
    assert policy.roles["prod-db"].approvers == ("U0APPR01", "U0APPR02")
    assert policy.roles["staging"].approvers == ("U0APPR01", "U0APPR02")
    assert policy.roles["staging"].requesters == ("U0APPR01", "U0APPR02")
    assert policy.roles["staging"].max_duration == policy.roles["prod-db"].max_duration
    assert policy.roles["staging"].group_id == GROUP2


def test_a_duration_of_thousands_of_digits_is_a_short_problem_not_pythons_digit_limit() -> None:
    text = f"defaults:\n  default_duration: {'9' * 5000}h\nroles: {{}}\n"
    problems = problems_of(text)
    assert problems[0].startswith("defaults.default_duration: '999") and "is not a duration" in problems[0]
    assert len(problems[0]) < 200 and "4300" not in problems[0]
