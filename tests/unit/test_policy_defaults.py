"""The role defaults are written once, on the domain's Role: the policy file's built-ins are those."""

from __future__ import annotations

import dataclasses

from bot.config.policy_file import parse_policy
from bot.config.policy_schema import BUILT_IN, OVERRIDABLE
from bot.domain.policy import Role

GROUP = "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60"
ACCOUNT = "1234567890abcdef1234567890abcdef"


def test_every_key_defaults_may_set_has_its_built_in_value_from_the_domain_role():
    role_defaults = {f.name: f.default for f in dataclasses.fields(Role)}
    assert set(BUILT_IN) == set(OVERRIDABLE)
    assert all(BUILT_IN[key] == role_defaults[key] for key in OVERRIDABLE)


def test_a_role_that_sets_nothing_gets_the_domain_roles_defaults():
    text = f"roles:\n  r:\n    group_id: {GROUP}\n    account_id: {ACCOUNT}\n    approvers: [U0APPR01]\n"
    policy = parse_policy(text)
    assert policy.roles["r"] == Role(name="r", group_id=GROUP, account_id=ACCOUNT, approvers=("U0APPR01",))
