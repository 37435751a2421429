"""`accessbot policy check` and `serve` with a role that has `oncall`: the PagerDuty token is required up front."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import cli_env, run_cli, show

ONCALL_POLICY = """\
roles:
  prod-db:
    group_id: 0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60
    account_id: 1234567890abcdef1234567890abcdef
    approvers: [U0APPR01]
    oncall: {provider: pagerduty, schedule_ids: [PSCHED1], auto_approve: true}
"""
TOKEN = "pd-secret-token-4711"


def test_policy_check_refuses_an_oncall_role_without_the_pagerduty_token_and_names_the_variable(
        workdir: Path) -> None:
    (workdir / "policy.yml").write_text(ONCALL_POLICY)
    out = run_cli(workdir, "policy", "check", "policy.yml", env=cli_env())
    assert out.returncode == 2, show(out)
    assert "PAGERDUTY_API_TOKEN: not set, but role(s) prod-db have an `oncall` key" in out.stderr
    assert "Traceback" not in out.stderr


def test_policy_check_accepts_the_oncall_role_once_the_token_is_set(workdir: Path) -> None:
    (workdir / "policy.yml").write_text(ONCALL_POLICY)
    out = run_cli(workdir, "policy", "check", "policy.yml", env=cli_env(PAGERDUTY_API_TOKEN=TOKEN))
    assert out.returncode == 0, show(out)
    assert "OK" in out.stdout and TOKEN not in out.stdout + out.stderr


def test_serve_refuses_to_start_with_an_oncall_role_and_no_pagerduty_token(workdir: Path) -> None:
    (workdir / "policy.yml").write_text(ONCALL_POLICY)
    out = run_cli(workdir, "serve", env=cli_env(SLACK_BOT_TOKEN="xoxb-1-2-abc", SLACK_SIGNING_SECRET="s" * 32,
                                                CLOUDFLARE_API_TOKEN="cf-token"))
    assert out.returncode == 2, show(out)
    assert "PAGERDUTY_API_TOKEN: not set" in out.stderr
