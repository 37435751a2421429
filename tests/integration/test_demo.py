"""`accessbot demo`: the scripted scenario runs to the end and exits 0, and only then."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import bot.demo
from bot.demo import run_demo

STEPS = ("alice's open Access sessions were ended", "the audit hash chain verifies", "audit has request.denied",
         "audit has request.refused", "audit has grant.revoked",
         # the incident-time workflow: on-call, a reminder, an escalation, break-glass and its review, a scheduled start
         "dana was granted prod-oncall at once", "bob was reminded", "the request escalated to dana",
         "carol was granted payments at once", "dana acknowledged the break-glass grant",
         "mallory's email was added to staging at the start she asked for", "audit has request.reminded",
         "audit has request.escalated", "audit has grant.break_glass", "audit has breakglass.acknowledged",
         "audit has grant.started")


def test_the_demo_runs_every_step_and_exits_0(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "bot", "demo"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.rstrip().endswith("demo OK: every step happened")
    for step in STEPS:
        assert f"✓ {step}" in out.stdout, step
    assert "✗" not in out.stdout and "Traceback" not in out.stderr
    assert "\\u" not in out.stdout, "text is printed as written, not as JSON escapes"
    # what Slack showed is quoted as plain text: no code spans, bold, mentions or date tokens (the audit trail
    # at the end quotes the stored records as they are)
    story = out.stdout.split("audit trail", 1)[0]
    assert not re.search(r"`|\*\w|<[@#]|<!date|<https?:", story), story
    assert list(tmp_path.iterdir()) == [], "the demo leaves nothing behind in the working directory"


async def test_the_demo_exits_1_and_names_the_step_when_one_did_not_happen(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bot.demo, "_emails", lambda stack: [])  # as if Cloudflare never showed alice's email
    assert await run_demo(quiet=True) == 1
    err = capsys.readouterr().err
    assert err.startswith("demo FAILED") and "alice" in err
