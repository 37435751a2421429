"""The tests' one policy-text builder writes policies the real parser reads as meant."""

from __future__ import annotations

from datetime import timedelta

from bot.config.policy_file import parse_policy
from tests.policies import ACCOUNT, policy_text, policy_with, role

GROUP = "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60"
OTHER = "7a1c9e20-3b4d-4f5e-8a6b-2c3d4e5f6a70"


def test_policy_text_writes_defaults_admins_audit_channel_and_each_roles_fields() -> None:
    text = policy_text({"prod-db": role(GROUP, approvers=["U0APPR01", "S0SRE"], revoke_sessions=True),
                        "staging": role(OTHER, auto_approve=True, require_reason=False)},
                       defaults={"max_duration": "2d", "warn_before": "10m"}, admins=["U0BOSS"],
                       audit_channel="C0AUDIT1")
    policy = parse_policy(text)
    assert policy.admins == ("U0BOSS",) and policy.audit_channel == "C0AUDIT1"
    prod, staging = policy.roles["prod-db"], policy.roles["staging"]
    assert (prod.group_id, prod.account_id, prod.approvers) == (GROUP, ACCOUNT, ("U0APPR01", "S0SRE"))
    assert prod.revoke_sessions is True and prod.max_duration == timedelta(days=2)
    assert staging.auto_approve is True and staging.require_reason is False
    assert staging.warn_before == timedelta(minutes=10)


def test_policy_text_without_defaults_or_audit_channel_leaves_them_out() -> None:
    text = policy_text({"r": role(GROUP, approvers=["U0APPR01"])})
    assert "defaults:" not in text and "audit_channel" not in text
    assert parse_policy(text).admins == ("U0ADMIN1",)


def test_policy_with_adds_roles_written_at_the_indentation_of_a_role_name() -> None:
    base = policy_text({"r": role(GROUP, approvers=["U0APPR01"])})
    text = policy_with(f"""
extra:
  group_id: {OTHER}
  account_id: {ACCOUNT}
  auto_approve: true
""", base)
    assert sorted(parse_policy(text).roles) == ["extra", "r"]
    assert parse_policy(text).roles["extra"].auto_approve is True
