"""Settings from the environment and `.env`, and the policy file: every rule, every problem with its place."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config.errors import ConfigError, PolicyError
from bot.config.policy_file import load_policy, parse_policy
from bot.config.settings import Settings, _settings_error, load_settings

REPO = Path(__file__).resolve().parents[2]
GROUP = "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60"
ACCOUNT = "1234567890abcdef1234567890abcdef"
MISSING_TARGET = "group_id: missing (the Access group's id; or list_id, a Zero Trust EMAIL list's id)"


def policy_text(
    role_body: str = "", top: str = "", name: str = "prod-db", approvers: str = "[U0APPR01]"
) -> str:
    """A valid one-role policy; `role_body` lines are added to the role, `top` to the top level."""
    role = f"group_id: {GROUP}\naccount_id: {ACCOUNT}\n" + (f"approvers: {approvers}\n" if approvers else "")
    role += textwrap.dedent(role_body)
    return textwrap.dedent(top) + f"roles:\n  {name}:\n" + textwrap.indent(role, "    ")


def problems_of(text: str, **kwargs) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, **kwargs)
    return caught.value.problems


# --------------------------------------------------------------------------- valid policies


def test_a_minimal_role_gets_the_built_in_defaults():
    role = parse_policy(policy_text()).roles["prod-db"]
    assert role.group_id == GROUP and role.account_id == ACCOUNT
    assert role.approvers == ("U0APPR01",)
    assert (role.min_duration, role.default_duration, role.max_duration) == (
        timedelta(minutes=5),
        timedelta(hours=1),
        timedelta(hours=8),
    )
    assert role.approvals_required == 1
    assert role.allow_self_approval is False
    assert role.warn_before == timedelta(minutes=10)
    assert role.request_timeout == timedelta(hours=24)
    assert role.require_reason is True
    assert role.revoke_sessions is False
    assert role.auto_approve is False
    assert role.requesters == () and role.approval_channel is None and role.description == ""


def test_defaults_are_inherited_by_every_role_and_overridden_per_role():
    text = f"""\
        defaults:
          max_duration: 2h
          warn_before: 5m
          require_reason: false
        roles:
          a:
            group_id: {GROUP}
            account_id: {ACCOUNT}
            approvers: [U0APPR01]
          b:
            group_id: {GROUP}
            account_id: {ACCOUNT}
            approvers: [U0APPR01]
            max_duration: 1d
            require_reason: true
            revoke_sessions: true
        """
    policy = parse_policy(textwrap.dedent(text))
    a, b = policy.roles["a"], policy.roles["b"]
    assert a.max_duration == timedelta(hours=2) and a.require_reason is False
    assert a.warn_before == timedelta(minutes=5) and b.warn_before == timedelta(minutes=5)
    assert b.max_duration == timedelta(days=1) and b.require_reason is True and b.revoke_sessions is True
    assert a.min_duration == timedelta(minutes=5)  # built-in, untouched by defaults


def test_durations_are_read_in_every_written_form():
    role = parse_policy(
        policy_text("min_duration: 90s\ndefault_duration: 1h30m\nmax_duration: 1d\nwarn_before: 0\n")
    ).roles["prod-db"]
    assert role.min_duration == timedelta(seconds=90)
    assert role.default_duration == timedelta(minutes=90)
    assert role.max_duration == timedelta(days=1)
    assert role.warn_before == timedelta(0)


def test_role_account_id_falls_back_to_cloudflare_account_id():
    text = f"roles:\n  r:\n    group_id: {GROUP}\n    approvers: [U0APPR01]\n"
    assert parse_policy(text, default_account_id=ACCOUNT).roles["r"].account_id == ACCOUNT


def test_a_role_with_its_own_account_id_keeps_it_over_the_default():
    other = "f" * 32
    assert parse_policy(policy_text(), default_account_id=other).roles["prod-db"].account_id == ACCOUNT


def test_an_auto_approve_role_needs_no_approvers():
    text = f"roles:\n  staging:\n    group_id: {GROUP}\n    account_id: {ACCOUNT}\n    auto_approve: true\n"
    role = parse_policy(text).roles["staging"]
    assert role.auto_approve is True and role.approvers == ()


def test_admins_audit_channel_requesters_and_approval_channel_are_read():
    policy = parse_policy(
        policy_text(
            "approval_channel: G0PRIVATE\nrequesters: [S0ENGINEERS, U0ALICE]\ndescription: Prod DB\n",
            top="admins: [U0ADMIN1, W0ADMIN2]\naudit_channel: C0AUDIT1\n",
            approvers="[U0APPR01, W0APPR02, S0SRETEAM]",
        )
    )
    role = policy.roles["prod-db"]
    assert policy.admins == ("U0ADMIN1", "W0ADMIN2") and policy.audit_channel == "C0AUDIT1"
    assert role.approvers == ("U0APPR01", "W0APPR02", "S0SRETEAM")
    assert role.approval_channel == "G0PRIVATE" and role.requesters == ("S0ENGINEERS", "U0ALICE")
    assert role.description == "Prod DB"


def test_approvals_required_may_exceed_listed_users_when_a_user_group_approves():
    text = policy_text("approvals_required: 3\n", approvers="[U0APPR01, S0SRETEAM]")
    assert parse_policy(text).roles["prod-db"].approvals_required == 3


def test_policy_example_yml_loads_and_uses_every_key():
    policy = load_policy(REPO / "policy.example.yml")
    assert set(policy.roles) == {"prod-db", "staging", "grafana"}
    prod = policy.roles["prod-db"]
    assert prod.approvers == ("U0APPR01", "S0SRETEAM") and prod.approval_channel == "C0APPROVE"
    assert prod.revoke_sessions is True and prod.max_duration == timedelta(hours=4)
    assert prod.approvals_required == 1
    assert prod.break_glass and prod.escalate_to == ("S0ONCALLLEADS",) and prod.remind_after == timedelta(minutes=15)
    assert policy.roles["staging"].auto_approve is True and policy.roles["staging"].require_reason is False
    assert policy.roles["grafana"].group_id != prod.group_id
    text = (REPO / "policy.example.yml").read_text()
    for key in (
        "min_duration", "default_duration", "max_duration", "approvals_required", "allow_self_approval",
        "warn_before", "request_timeout", "require_reason", "revoke_sessions", "admins", "audit_channel",
        "description", "group_id", "account_id", "approvers", "approval_channel", "requesters",
        "auto_approve", "max_schedule_ahead", "remind_after", "reminders", "escalate_after", "escalate_to",
        "break_glass", "break_glass_max_duration",
    ):  # fmt: skip
        assert f"{key}:" in text, key


# --------------------------------------------------------------------------- durations


def test_a_bad_duration_in_defaults_is_a_problem_at_its_place():
    problems = problems_of(policy_text(top="defaults:\n  warn_before: 10x\n"))
    assert problems == [
        "defaults.warn_before: '10x' is not a duration: unknown unit 'x'; write it like 90s, 15m, 2h, 1d or 1h30m"
    ]


def test_a_bad_duration_in_a_role_is_a_problem_at_its_place():
    assert problems_of(policy_text("max_duration: 4 hours\n")) == [
        "roles.prod-db.max_duration: '4 hours' is not a duration: write it like 90s, 15m, 2h, 1d or 1h30m"
    ]


def test_a_duration_without_unit_is_a_problem():
    assert problems_of(policy_text("max_duration: 300\n"))[0].startswith("roles.prod-db.max_duration: 300 ")


def test_durations_must_be_longer_than_zero():
    assert problems_of(policy_text("min_duration: 0s\nrequest_timeout: 0\n")) == [
        "roles.prod-db.min_duration: must be longer than 0",
        "roles.prod-db.request_timeout: must be longer than 0",
    ]


def test_warn_before_may_be_zero():
    assert parse_policy(policy_text("warn_before: 0s\n")).roles["prod-db"].warn_before == timedelta(0)


def test_min_duration_above_default_duration_is_a_problem():
    assert problems_of(policy_text("min_duration: 2h\n")) == [
        "roles.prod-db.min_duration: must be ≤ default_duration (1h)"
    ]


def test_default_duration_above_max_duration_is_a_problem():
    assert problems_of(policy_text("default_duration: 10h\n")) == [
        "roles.prod-db.default_duration: must be ≤ max_duration (8h)"
    ]


def test_max_duration_below_min_duration_is_reported_on_max_duration():
    assert problems_of(policy_text("min_duration: 2h\nmax_duration: 1h\ndefault_duration: 1h\n")) == [
        "roles.prod-db.max_duration: must be ≥ min_duration (2h)"
    ]


def test_inconsistent_defaults_are_reported_once_in_defaults_not_in_every_role():
    assert problems_of(policy_text(top="defaults:\n  max_duration: 30m\n")) == [
        "defaults.max_duration: must be ≥ default_duration (1h)"
    ]


def test_a_role_override_is_checked_against_the_inherited_defaults():
    problems = problems_of(policy_text("max_duration: 1h\n", top="defaults:\n  default_duration: 2h\n"))
    assert problems == ["roles.prod-db.max_duration: must be ≥ default_duration (2h)"]


# --------------------------------------------------------------------------- unknown keys


def test_an_unknown_top_level_key_is_a_problem():
    problems = problems_of(policy_text(top="colour: red\n"))
    assert len(problems) == 1 and problems[0].startswith("colour: unknown key")


def test_an_unknown_key_in_defaults_is_a_problem():
    assert problems_of(policy_text(top="defaults:\n  max_durration: 2h\n")) == [
        "defaults.max_durration: unknown key"
    ]


def test_an_unknown_key_in_a_role_is_a_problem():
    assert problems_of(policy_text("colour: blue\n")) == ["roles.prod-db.colour: unknown key"]


def test_group_id_and_account_id_are_not_defaults_keys():
    assert problems_of(policy_text(top=f"defaults:\n  account_id: {ACCOUNT}\n")) == [
        "defaults.account_id: unknown key"
    ]


# --------------------------------------------------------------------------- roles and IDs


def test_a_role_without_group_id_is_a_problem():
    text = f"roles:\n  prod-db:\n    account_id: {ACCOUNT}\n    approvers: [U0APPR01]\n"
    assert problems_of(text) == ["roles.prod-db." + MISSING_TARGET]


def test_group_id_must_be_a_uuid():
    text = policy_text().replace(GROUP, "prod-group")
    assert problems_of(text) == [
        "roles.prod-db.group_id: 'prod-group' is not a UUID (the Cloudflare Access group's id)"
    ]


def test_account_id_must_be_32_lowercase_hex():
    text = policy_text().replace(ACCOUNT, ACCOUNT.upper())
    assert problems_of(text) == [
        f"roles.prod-db.account_id: '{ACCOUNT.upper()}' is not a Cloudflare account ID "
        "(32 lowercase hex characters)"
    ]


def test_a_role_with_no_account_id_anywhere_is_a_problem():
    text = f"roles:\n  prod-db:\n    group_id: {GROUP}\n    approvers: [U0APPR01]\n"
    assert problems_of(text) == ["roles.prod-db.account_id: missing (set it here or CLOUDFLARE_ACCOUNT_ID)"]


def test_a_bad_role_name_is_a_problem():
    problems = problems_of(policy_text(name="Bad Name"))
    assert problems == ["roles.Bad Name: a role name is [a-z0-9][a-z0-9_-]{0,62}"]


def test_role_names_longer_than_63_characters_are_a_problem():
    assert problems_of(policy_text(name="a" * 64)) == [
        f"roles.{'a' * 64}: a role name is [a-z0-9][a-z0-9_-]{{0,62}}"
    ]
    parse_policy(policy_text(name="a" * 63))


def test_admins_must_be_user_ids():
    assert problems_of(policy_text(top="admins: [U0ADMIN1, X]\n")) == [
        "admins[1]: 'X' is not a Slack user ID (U… or W…)"
    ]


def test_a_user_group_cannot_be_an_admin():
    assert problems_of(policy_text(top="admins: [S0ADMINS]\n")) == [
        "admins[0]: 'S0ADMINS' is not a Slack user ID (U… or W…)"
    ]


def test_approvers_must_be_user_or_user_group_ids():
    text = policy_text(approvers="[U0APPR01, C0CHANNEL, u0lower]")
    assert problems_of(text) == [
        "roles.prod-db.approvers[1]: 'C0CHANNEL' is not a Slack user ID (U…/W…) or user-group ID (S…)",
        "roles.prod-db.approvers[2]: 'u0lower' is not a Slack user ID (U…/W…) or user-group ID (S…)",
    ]


def test_requesters_must_be_user_or_user_group_ids():
    assert problems_of(policy_text("requesters: [S0ENG, '#eng']\n")) == [
        "roles.prod-db.requesters[1]: '#eng' is not a Slack user ID (U…/W…) or user-group ID (S…)"
    ]


def test_approval_channel_must_be_a_channel_id():
    assert problems_of(policy_text("approval_channel: '#approvals'\n")) == [
        "roles.prod-db.approval_channel: '#approvals' is not a Slack channel ID (C… or G…)"
    ]


def test_audit_channel_must_be_a_channel_id():
    assert problems_of(policy_text(top="audit_channel: U0AUDIT\n")) == [
        "audit_channel: 'U0AUDIT' is not a Slack channel ID (C… or G…)"
    ]


def test_empty_approvers_on_a_role_that_is_not_auto_approve_is_a_problem():
    text = policy_text(approvers="[]")
    assert problems_of(text) == [
        "roles.prod-db.approvers: empty (a role needs approvers unless it has auto_approve: true)"
    ]


def test_missing_approvers_on_a_role_that_is_not_auto_approve_is_a_problem():
    text = policy_text(approvers="")
    assert problems_of(text) == [
        "roles.prod-db.approvers: missing (a role needs approvers unless it has auto_approve: true)"
    ]


def test_approvals_required_above_the_distinct_approver_users_is_a_problem():
    text = policy_text("approvals_required: 2\n", approvers="[U0APPR01, U0APPR01]")
    assert problems_of(text) == [
        "roles.prod-db.approvals_required: 2 is more than the 1 distinct approver listed"
    ]


def test_approvals_required_from_defaults_is_checked_against_each_role():
    assert problems_of(policy_text(top="defaults:\n  approvals_required: 2\n")) == [
        "roles.prod-db.approvals_required: 2 (from defaults) is more than the 1 distinct approver listed"
    ]


def test_approvals_required_must_be_at_least_one():
    assert problems_of(policy_text("approvals_required: 0\n")) == [
        "roles.prod-db.approvals_required: must be ≥ 1 (got 0)"
    ]


def test_approvals_required_must_be_an_integer():
    assert problems_of(policy_text("approvals_required: '1'\n")) == [
        "roles.prod-db.approvals_required: must be an integer (got '1')"
    ]


def test_booleans_must_be_real_yaml_booleans():
    assert problems_of(policy_text("revoke_sessions: 'true'\nauto_approve: 1\nrequire_reason: yes\n")) == [
        "roles.prod-db.require_reason: must be true or false (got 'yes')",
        "roles.prod-db.revoke_sessions: must be true or false (got 'true')",
        "roles.prod-db.auto_approve: must be true or false (got 1)",
    ]


def test_a_policy_without_roles_is_a_problem():
    assert problems_of("admins: [U0ADMIN1]\n") == [
        "roles: no roles defined (a policy needs at least one role)"
    ]
    assert problems_of("roles: {}\n") == ["roles: no roles defined (a policy needs at least one role)"]


def test_roles_must_be_a_mapping():
    assert problems_of("roles: [prod-db]\n") == ["roles: must be a mapping of role name to role (got list)"]


def test_a_role_with_an_empty_body_is_a_problem():
    assert problems_of("roles:\n  prod-db:\n") == [
        "roles.prod-db: must be a mapping with at least group_id or list_id (got nothing)"
    ]


# --------------------------------------------------------------------------- every problem at once


def test_every_problem_in_the_file_is_reported_with_its_place():
    text = textwrap.dedent(
        f"""\
        colour: red
        defaults:
          warn_before: 10x
        admins: [U0ADMIN1, X]
        roles:
          Bad Name:
            group_id: {GROUP}
            account_id: {ACCOUNT}
            approvers: [U0APPR01]
          prod-db:
            account_id: {ACCOUNT}
            approvers: [U0APPR01]
            min_duration: 2h
            max_duration: 1h
            colour: blue
          grafana:
            group_id: {GROUP}
            account_id: {ACCOUNT}
            approvers: []
        """
    )
    problems = problems_of(text)
    assert problems == [
        "colour: unknown key (the top level has only defaults, admins, audit_channel, audit_channel_events, roles)",
        "defaults.warn_before: '10x' is not a duration: unknown unit 'x'; write it like 90s, 15m, 2h, 1d or 1h30m",
        "admins[1]: 'X' is not a Slack user ID (U… or W…)",
        "roles.Bad Name: a role name is [a-z0-9][a-z0-9_-]{0,62}",
        "roles.prod-db." + MISSING_TARGET,
        "roles.prod-db.colour: unknown key",
        "roles.prod-db.max_duration: must be ≥ min_duration (2h)",
        "roles.grafana.approvers: empty (a role needs approvers unless it has auto_approve: true)",
    ]


def test_cross_key_rules_are_checked_even_when_the_role_has_other_problems():
    problems = problems_of(policy_text("default_duration: 10h\ncolour: blue\n").replace(GROUP, "nope"))
    assert "roles.prod-db.default_duration: must be ≤ max_duration (8h)" in problems
    assert "roles.prod-db.colour: unknown key" in problems
    assert len(problems) == 3


def test_policy_error_is_one_line_counting_the_problems():
    with pytest.raises(PolicyError) as caught:
        parse_policy(policy_text("colour: blue\nmin_duration: 0\n"), source="p.yml")
    assert str(caught.value) == (
        "p.yml: 2 problems: roles.prod-db.min_duration: must be longer than 0; "
        "roles.prod-db.colour: unknown key"
    )
    assert "\n" not in str(caught.value)


# --------------------------------------------------------------------------- the file itself


def test_a_yaml_syntax_error_gives_one_problem_with_line_and_column():
    text = "roles:\n  prod-db:\n    group_id: a: b\n"
    assert problems_of(text, source="policy.yml") == ["policy.yml:3:16: mapping values are not allowed here"]


def test_a_duplicate_key_is_a_problem_with_line_and_column():
    text = policy_text() + f"  prod-db:\n    group_id: {GROUP}\n"
    assert problems_of(text)[0] == "policy.yml:6:3: duplicate key 'prod-db'"


def test_an_empty_file_is_a_problem():
    assert problems_of("# nothing yet\n", source="p.yml") == [
        "p.yml: the file is empty (it needs at least a roles: mapping)"
    ]


def test_a_top_level_that_is_not_a_mapping_is_a_problem():
    assert problems_of("- prod-db\n- staging\n", source="p.yml") == [
        "p.yml: the top level must be a mapping with the keys defaults, admins, audit_channel and roles "
        "(got list)"
    ]


def test_a_missing_policy_file_names_accessbot_policy(tmp_path):
    path = tmp_path / "missing.yml"
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.problems == [f"ACCESSBOT_POLICY: no such file: {path}"]


def test_load_policy_names_the_file_in_yaml_problems(tmp_path):
    path = tmp_path / "policy.yml"
    path.write_text("roles: [\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.problems[0].startswith(f"{path}:2:1: ")


def test_load_policy_reads_a_file_with_the_default_account(tmp_path):
    path = tmp_path / "policy.yml"
    path.write_text(f"roles:\n  r:\n    group_id: {GROUP}\n    auto_approve: true\n")
    assert load_policy(path, default_account_id=ACCOUNT).roles["r"].account_id == ACCOUNT


# --------------------------------------------------------------------------- settings

ENV_VARS = [
    "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL", "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_URL", "DATABASE_URL", "ACCESSBOT_POLICY", "ACCESSBOT_HOST",
    "ACCESSBOT_PORT", "CF_ACCESS_TEAM_DOMAIN", "CF_ACCESS_AUD", "LOG_LEVEL", "LOG_FORMAT",
    "ACCESSBOT_REVOKE_ALERT_AFTER", "ACCESSBOT_RECONCILE_INTERVAL", "ACCESSBOT_CF_TIMEOUT", "ACCESSBOT_CF_BUDGET",
    "ACCESSBOT_CF_BURST",
]  # fmt: skip


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A clean environment and an empty working directory (no `.env`)."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_settings_defaults(env):
    s = load_settings()
    assert s.slack_bot_token is None and s.slack_signing_secret is None and s.slack_app_token is None
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.cloudflare_api_token is None and s.cloudflare_account_id is None
    assert s.cloudflare_api_url == "https://api.cloudflare.com/client/v4"
    assert s.database_url == "sqlite+aiosqlite:///accessbot.db"
    assert s.accessbot_policy == "policy.yml"
    assert (s.accessbot_host, s.accessbot_port) == ("0.0.0.0", 3000)
    assert s.cf_access_team_domain is None and s.cf_access_aud is None and not s.api_enabled
    assert (s.log_level, s.log_format) == ("INFO", "json")
    assert s.accessbot_revoke_alert_after == timedelta(minutes=3)
    assert s.accessbot_reconcile_interval == timedelta(hours=1)
    assert s.accessbot_cf_timeout == 10.0
    assert not s.socket_mode


def test_settings_are_read_from_the_environment(env):
    env.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    env.setenv("ACCESSBOT_PORT", "8080")
    env.setenv("LOG_LEVEL", "debug")
    env.setenv("LOG_FORMAT", "TEXT")
    env.setenv("ACCESSBOT_REVOKE_ALERT_AFTER", "90s")
    env.setenv("ACCESSBOT_RECONCILE_INTERVAL", "1h30m")
    env.setenv("ACCESSBOT_CF_TIMEOUT", "2.5")
    env.setenv("CF_ACCESS_TEAM_DOMAIN", "https://team.cloudflareaccess.com")
    env.setenv("CF_ACCESS_AUD", "aud")
    env.setenv("SOME_OTHER_VARIABLE", "ignored")
    s = load_settings()
    assert s.slack_bot_token is not None and s.slack_bot_token.get_secret_value() == "xoxb-1"
    assert s.accessbot_port == 8080 and s.log_level == "DEBUG" and s.log_format == "text"
    assert s.accessbot_revoke_alert_after == timedelta(seconds=90)
    assert s.accessbot_reconcile_interval == timedelta(minutes=90)
    assert s.accessbot_cf_timeout == 2.5
    assert s.api_enabled


def test_settings_are_read_from_a_dotenv_file_in_the_working_directory(env, tmp_path):
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-file\nACCESSBOT_PORT=4000\nUNRELATED=1\n")
    s = load_settings()
    assert s.slack_bot_token is not None and s.slack_bot_token.get_secret_value() == "xoxb-from-file"
    assert s.accessbot_port == 4000


def test_the_environment_beats_the_dotenv_file(env, tmp_path):
    (tmp_path / ".env").write_text("ACCESSBOT_PORT=4000\nLOG_FORMAT=text\n")
    env.setenv("ACCESSBOT_PORT", "5000")
    s = load_settings()
    assert s.accessbot_port == 5000 and s.log_format == "text"


def test_an_empty_variable_counts_as_unset(env):
    env.setenv("SLACK_APP_TOKEN", "")
    env.setenv("ACCESSBOT_PORT", "")
    s = load_settings()
    assert s.slack_app_token is None and s.accessbot_port == 3000


def test_a_bad_port_is_one_line_naming_the_variable(env):
    env.setenv("ACCESSBOT_PORT", "abc")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == "ACCESSBOT_PORT: must be an integer (got 'abc')"


def test_a_port_out_of_range_is_refused(env):
    env.setenv("ACCESSBOT_PORT", "70000")
    with pytest.raises(ConfigError, match=r"^ACCESSBOT_PORT: must be ≤ 65535"):
        load_settings()


def test_a_bad_log_level_is_refused_by_name(env):
    env.setenv("LOG_LEVEL", "loud")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == "LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL (got 'loud')"


def test_a_bad_log_format_is_refused_by_name(env):
    env.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match=r"^LOG_FORMAT: must be json or text \(got 'xml'\)$"):
        load_settings()


def test_a_bad_duration_setting_is_refused_by_name(env):
    env.setenv("ACCESSBOT_REVOKE_ALERT_AFTER", "3 minutes")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith("ACCESSBOT_REVOKE_ALERT_AFTER: '3 minutes' is not a duration")


def test_a_bad_cloudflare_timeout_is_refused_by_name(env):
    env.setenv("ACCESSBOT_CF_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match=r"^ACCESSBOT_CF_TIMEOUT: must be a number \(got 'soon'\)$"):
        load_settings()


def test_several_bad_settings_stay_on_one_line(env):
    env.setenv("ACCESSBOT_PORT", "abc")
    env.setenv("LOG_FORMAT", "xml")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "\n" not in str(caught.value)
    assert "ACCESSBOT_PORT:" in str(caught.value) and "LOG_FORMAT:" in str(caught.value)


def test_api_urls_are_normalised_for_the_clients(env):
    env.setenv("SLACK_API_URL", "http://127.0.0.1:9000/api")
    env.setenv("CLOUDFLARE_API_URL", "http://127.0.0.1:9001/client/v4/")
    s = load_settings()
    assert s.slack_api_url == "http://127.0.0.1:9000/api/"
    assert s.cloudflare_api_url == "http://127.0.0.1:9001/client/v4"


def test_a_url_that_is_not_http_is_refused_by_name(env):
    env.setenv("CLOUDFLARE_API_URL", "api.cloudflare.com")
    with pytest.raises(ConfigError, match=r"^CLOUDFLARE_API_URL: must be an http\(s\) URL"):
        load_settings()


def test_secrets_are_absent_from_repr_and_str(env):
    env.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    env.setenv("SLACK_SIGNING_SECRET", "signing-very-secret")
    env.setenv("SLACK_APP_TOKEN", "xapp-very-secret")
    env.setenv("CLOUDFLARE_API_TOKEN", "cf-very-secret")
    env.setenv("DATABASE_URL", "postgresql+asyncpg://bot:db-very-secret@db/accessbot")
    s = load_settings()
    for text in (repr(s), str(s)):
        assert "very-secret" not in text


def test_a_secret_is_never_echoed_in_a_settings_error(env):
    with pytest.raises(ValidationError) as caught:
        Settings(slack_bot_token=["xoxb-very-secret"])  # type: ignore[arg-type]
    message = str(_settings_error(caught.value))  # the translation load_settings applies
    assert message.startswith("SLACK_BOT_TOKEN: ")
    assert "very-secret" not in message


def test_require_for_serve_names_the_bot_token_first(env):
    with pytest.raises(ConfigError, match=r"^SLACK_BOT_TOKEN: not set"):
        Settings(cloudflare_api_token="cf", slack_signing_secret="s").require_for_serve()


def test_require_for_serve_names_the_cloudflare_token(env):
    with pytest.raises(ConfigError, match=r"^CLOUDFLARE_API_TOKEN: not set"):
        Settings(slack_bot_token="xoxb-1-2-abc", slack_signing_secret="s").require_for_serve()


def test_require_for_serve_needs_the_signing_secret_in_http_mode(env):
    with pytest.raises(ConfigError, match=r"^SLACK_SIGNING_SECRET: not set"):
        Settings(slack_bot_token="xoxb-1-2-abc", cloudflare_api_token="cf").require_for_serve()


def test_require_for_serve_needs_no_signing_secret_in_socket_mode(env):
    Settings(slack_bot_token="xoxb-1-2-abc", cloudflare_api_token="cf",
             slack_app_token="xapp-1-A0-1-abc").require_for_serve()
    Settings(slack_bot_token="xoxb-1-2-abc", cloudflare_api_token="cf", slack_signing_secret="s").require_for_serve()


def test_require_for_serve_reads_what_load_settings_found(env, tmp_path):
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-1-2-abc\nSLACK_SIGNING_SECRET=s\n")
    with pytest.raises(ConfigError) as caught:
        load_settings().require_for_serve()
    assert str(caught.value).startswith("CLOUDFLARE_API_TOKEN: not set")


# --------------------------------------------------------------------------- settings people write


@pytest.mark.parametrize(("given", "expected"), [
    ("postgresql://bot:pw@db:5432/accessbot", "postgresql+asyncpg://bot:pw@db:5432/accessbot"),
    ("postgres://bot@db/accessbot", "postgresql+asyncpg://bot@db/accessbot"),
    ("postgresql+asyncpg://bot@db/accessbot?application_name=ab", "postgresql+asyncpg://bot@db/accessbot?application_name=ab"),
    ("postgres://bot@db/accessbot?sslmode=require", "postgresql+asyncpg://bot@db/accessbot?ssl=require"),
    ("sqlite:///accessbot.db", "sqlite+aiosqlite:///accessbot.db"),
    ("sqlite:////var/lib/accessbot/accessbot.db", "sqlite+aiosqlite:////var/lib/accessbot/accessbot.db"),
    ("sqlite+aiosqlite:///data/x.db?timeout=5", "sqlite+aiosqlite:///data/x.db?timeout=5"),
    ("  sqlite:///accessbot.db\n", "sqlite+aiosqlite:///accessbot.db"),
])  # fmt: skip
def test_database_url_forms_people_paste_get_the_async_driver(env, given, expected):
    env.setenv("DATABASE_URL", given)
    assert load_settings().database_url == expected


@pytest.mark.parametrize("given", [
    "mysql://bot:db-very-secret@db/accessbot", "postgresql+psycopg://bot:db-very-secret@db/accessbot",
    "/var/lib/db-very-secret.db", "db-very-secret", "sqlite://db-very-secret.db",
    "postgresql://bot:db-very-secret@db:port/accessbot",
])  # fmt: skip
def test_any_other_database_url_is_one_line_naming_it_without_the_password(env, given):
    env.setenv("DATABASE_URL", given)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("DATABASE_URL: ") and "\n" not in message
    assert "very-secret" not in message


@pytest.mark.parametrize(("variable", "value", "hint"), [
    ("SLACK_BOT_TOKEN", "very-secret-token", "xoxb-"),
    ("SLACK_BOT_TOKEN", "xoxp-very-secret", "user token"),
    ("SLACK_BOT_TOKEN", "xapp-1-very-secret", "SLACK_APP_TOKEN"),
    ("SLACK_BOT_TOKEN", "xoxb-very secret", "xoxb-"),
    ("SLACK_APP_TOKEN", "xoxb-very-secret", "SLACK_BOT_TOKEN"),
    ("SLACK_APP_TOKEN", "very-secret", "xapp-"),
    ("CLOUDFLARE_ACCOUNT_ID", "very-secret-not-an-account", "32 hex"),
    ("CLOUDFLARE_ACCOUNT_ID", "0123456789abcdef0123456789abcdeg", "32 hex"),
])  # fmt: skip
def test_a_token_or_account_id_of_the_wrong_shape_is_named_and_not_echoed(env, variable, value, hint):
    env.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{variable}: ") and hint in message, message
    assert "very" not in message and value not in message


def test_tokens_and_account_ids_of_the_right_shape_are_taken(env):
    env.setenv("SLACK_BOT_TOKEN", " xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx ")
    env.setenv("SLACK_APP_TOKEN", "xapp-1-A0123456789-1234567890123-0123456789abcdef")
    env.setenv("CLOUDFLARE_ACCOUNT_ID", "0123456789ABCDEF0123456789abcdef")
    s = load_settings()
    assert s.slack_bot_token is not None
    assert s.slack_bot_token.get_secret_value() == "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"
    assert s.cloudflare_account_id == "0123456789abcdef0123456789abcdef"
    assert s.socket_mode


def test_the_cloudflare_budget_settings_default_under_cloudflare_s_limit_and_are_read(env):
    s = load_settings()
    assert (s.accessbot_cf_budget, s.accessbot_cf_burst) == (1100, 50)
    env.setenv("ACCESSBOT_CF_BUDGET", "600")
    env.setenv("ACCESSBOT_CF_BURST", "20")
    s = load_settings()
    assert (s.accessbot_cf_budget, s.accessbot_cf_burst) == (600, 20)


@pytest.mark.parametrize("name,value", [("ACCESSBOT_CF_BUDGET", "1500"), ("ACCESSBOT_CF_BUDGET", "10"),
                                        ("ACCESSBOT_CF_BURST", "0"), ("ACCESSBOT_CF_BUDGET", "lots")])
def test_a_cloudflare_budget_past_cloudflare_s_limit_or_not_a_number_is_refused_by_name(env, name, value):
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=rf"^{name}: "):
        load_settings()


def test_the_slack_rate_share_is_a_fraction_above_zero_and_at_most_one(env):
    env.setenv("ACCESSBOT_SLACK_RATE_SHARE", "0.5")
    assert load_settings().accessbot_slack_rate_share == 0.5
    for bad, why in (("0", "must be > 0"), ("1.5", "must be ≤ 1")):
        env.setenv("ACCESSBOT_SLACK_RATE_SHARE", bad)
        with pytest.raises(ConfigError, match=rf"^ACCESSBOT_SLACK_RATE_SHARE: {why}"):
            load_settings()
