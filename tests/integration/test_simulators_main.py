"""`python -m bot.simulators` runs both simulators standalone, with the policy's groups, until SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot.simulators.stack import ACCOUNT, PROD_GROUP, STAGING_GROUP

OTHER_GROUP = "5b6c7d8e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
POLICY = f"""
roles:
  wiki:
    group_id: {OTHER_GROUP}
    account_id: {ACCOUNT}
    auto_approve: true
"""


def _start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """Start the simulators and wait for the settings file they write."""
    env_file = tmp_path / "sim.env"
    proc = subprocess.Popen([sys.executable, "-m", "bot.simulators", "--env-file", str(env_file), *extra],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not env_file.exists():
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "exited"
        assert time.monotonic() < deadline, "the simulators did not write their settings within 60 s"
        time.sleep(0.1)
    settings = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    return proc, settings


def _stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def _group_status(settings: dict[str, str], group_id: str) -> int:
    url = f"{settings['CLOUDFLARE_API_URL']}/accounts/{settings['CLOUDFLARE_ACCOUNT_ID']}/access/groups/{group_id}"
    return httpx.get(url, headers={"Authorization": f"Bearer {settings['CLOUDFLARE_API_TOKEN']}"}).status_code


def test_simulators_accept_the_printed_tokens_and_hold_the_demo_groups(tmp_path: Path) -> None:
    proc, settings = _start(tmp_path, "--write-policy", "policy.yml")
    try:
        auth = httpx.post(settings["SLACK_API_URL"] + "auth.test",
                          headers={"Authorization": f"Bearer {settings['SLACK_BOT_TOKEN']}"}).json()
        wrong = httpx.post(settings["SLACK_API_URL"] + "auth.test",
                           headers={"Authorization": "Bearer xoxb-wrong"}).json()
        assert auth["ok"] is True
        assert (wrong["ok"], wrong["error"]) == (False, "invalid_auth")
        assert _group_status(settings, PROD_GROUP) == 200
        assert _group_status(settings, STAGING_GROUP) == 200
        assert PROD_GROUP in (tmp_path / "policy.yml").read_text()
        assert set(settings) >= {"SLACK_SIGNING_SECRET", "CLOUDFLARE_ACCOUNT_ID"}
        # PagerDuty: the printed token works, and dana is on call in the demo policy's schedule
        oncalls = httpx.get(settings["PAGERDUTY_API_URL"] + "/oncalls",
                            params=[("schedule_ids[]", "PSCHED1"), ("include[]", "users")],
                            headers={"Authorization": f"Token token={settings['PAGERDUTY_API_TOKEN']}"}).json()
        assert [o["user"]["email"] for o in oncalls["oncalls"]] == ["dana@example.com"]
        assert httpx.get(settings["PAGERDUTY_API_URL"] + "/oncalls",
                         headers={"Authorization": "Token token=wrong"}).status_code == 401
    finally:
        assert _stop(proc) == 0


def test_simulators_create_the_groups_of_a_given_policy(tmp_path: Path) -> None:
    (tmp_path / "mine.yml").write_text(POLICY)
    proc, settings = _start(tmp_path, "--policy", "mine.yml")
    try:
        assert _group_status(settings, OTHER_GROUP) == 200
        assert _group_status(settings, PROD_GROUP) == 404
    finally:
        assert _stop(proc) == 0


def test_simulators_refuse_a_bad_policy_with_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.yml").write_text("roles: {x: {group_id: nope}}\n")
    done = subprocess.run([sys.executable, "-m", "bot.simulators", "--policy", "bad.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, env={**os.environ})
    assert done.returncode == 2
    assert done.stderr.startswith("python -m bot.simulators: policy: ") and len(done.stderr.splitlines()) == 1
