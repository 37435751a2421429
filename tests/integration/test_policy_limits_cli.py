"""`accessbot policy check` and `serve` on a hostile policy file: one clear line, in bounded time and memory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_cli import cli_env, one_clear_line, serve_env, show

GROUP = "0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60"
ACCOUNT = "1234567890abcdef1234567890abcdef"
MAX_RSS_MB = 200
TIME_LIMIT = 30.0  # seconds; a fixed run takes under one (today's alias bomb runs past 60 s)

# Runs the command given as JSON, then prints its exit code, output and the peak RSS of that child alone
# (RUSAGE_CHILDREN of this fresh wrapper process counts nothing else the test session ran).
_MEASURE = """\
import json, resource, subprocess, sys
args, cwd, env, timeout = json.loads(sys.argv[1])
try:
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    code, stdout, stderr = out.returncode, out.stdout, out.stderr
except subprocess.TimeoutExpired as exc:
    code, stdout, stderr = "timeout", str(exc.stdout or ""), str(exc.stderr or "")
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": code, "stdout": stdout, "stderr": stderr, "peak_kb": peak_kb}))
"""


def measured(cwd: Path, *args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """`python -m bot ARGS` with its wall time (s) and peak RSS (MB); a run past TIME_LIMIT is killed."""
    started = time.monotonic()
    wrapper = subprocess.run(
        [sys.executable, "-c", _MEASURE, json.dumps([[sys.executable, "-m", "bot", *args], str(cwd), env, TIME_LIMIT])],
        capture_output=True, text=True, timeout=TIME_LIMIT + 30)
    elapsed = time.monotonic() - started
    assert wrapper.returncode == 0, wrapper.stderr
    got = json.loads(wrapper.stdout)
    assert got["code"] != "timeout", f"still running after {TIME_LIMIT}s: {got['stderr'][-2000:]}"
    return subprocess.CompletedProcess(list(args), got["code"], got["stdout"], got["stderr"]), elapsed, \
        got["peak_kb"] / 1024


def bomb() -> str:
    """Nine levels of nine aliases (9^9 admins once expanded), the role valid otherwise."""
    lines = ["admins: &a0 [U0AAAAAA1]"] + [
        f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)
    ] + ["roles:", "  r:", f"    group_id: {GROUP}", f"    account_id: {ACCOUNT}", "    approvers: *a9"]
    return "\n".join(lines) + "\n"


HOSTILE = {
    "alias-bomb": (bomb(), "the aliases expand this to more than 50,000 values"),
    "10000-deep-list": ("admins: " + "[" * 10_000 + "]" * 10_000 + "\nroles: {}\n", "nested more than 32 levels"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_policy_check_gives_one_clear_problem_fast_in_bounded_memory(workdir: Path, case: str) -> None:
    text, expected = HOSTILE[case]
    (workdir / "hostile.yml").write_text(text)
    out, elapsed, peak_mb = measured(workdir, "policy", "check", "hostile.yml", env=cli_env())
    assert out.returncode == 1, show(out)
    assert "Traceback" not in out.stdout + out.stderr, show(out)
    problems = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(problems) == 1 and problems[0].startswith("hostile.yml:") and expected in problems[0], show(out)
    assert peak_mb < MAX_RSS_MB, f"peak RSS {peak_mb:.0f} MB"
    assert elapsed < TIME_LIMIT


@pytest.mark.parametrize("case", list(HOSTILE))
def test_serve_on_a_hostile_policy_exits_2_with_one_line(workdir: Path, case: str) -> None:
    text, expected = HOSTILE[case]
    (workdir / "hostile.yml").write_text(text)
    env = serve_env(workdir / "accessbot.db", ACCESSBOT_POLICY="hostile.yml")
    out, _, peak_mb = measured(workdir, "serve", env=env)
    assert out.returncode == 2, show(out)
    line = one_clear_line(out)
    assert line.startswith("accessbot: policy: hostile.yml:") and expected in line, line
    assert peak_mb < MAX_RSS_MB, f"peak RSS {peak_mb:.0f} MB"
