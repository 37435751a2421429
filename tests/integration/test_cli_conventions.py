"""`accessbot` follows command-line conventions: usage, --version, help on every option, exit codes, pipes."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pytest

from bot.bootstrap import open_store
from bot.cli import _parser
from bot.domain.audit import AuditEvent
from bot.domain.clock import SystemClock
from bot.domain.model import Grant, GrantState
from tests.core_harness import ACCOUNT, GROUP, Core
from tests.integration.test_cli import arun_cli, cli_env, core, core_env, run_cli, seed, show  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def _script() -> list[str]:
    """The `accessbot` console script when installed next to this Python, else `python -m bot`."""
    script = Path(sys.executable).with_name("accessbot")
    if script.exists():
        return [str(script)]
    found = shutil.which("accessbot")
    return [found] if found else [sys.executable, "-m", "bot"]


def _subparsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):  # noqa: ANN202
    """(command path, parser) for the parser and every subcommand under it."""
    yield path, parser
    for action in parser._actions:  # noqa: SLF001 - argparse keeps its actions there
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            helps = {a.dest: a.help for a in action._choices_actions}  # noqa: SLF001
            for name, sub in action.choices.items():
                assert helps.get(name), f"`accessbot {' '.join(path + (name,))}` has no help line"
                yield from _subparsers(sub, path + (name,))


def test_accessbot_alone_prints_its_usage_on_stderr_and_exits_2(workdir: Path) -> None:
    out = run_cli(workdir, env=cli_env())
    assert out.returncode == 2, show(out)
    assert out.stdout == "", show(out)
    assert out.stderr.startswith("usage: accessbot"), show(out)
    assert "serve" in out.stderr and "exit codes:" in out.stderr and "required" not in out.stderr, show(out)


@pytest.mark.parametrize("group", ["policy", "db", "audit"])
def test_a_command_group_without_its_subcommand_prints_its_usage_and_exits_2(workdir: Path, group: str) -> None:
    out = run_cli(workdir, group, env=cli_env())
    assert out.returncode == 2, show(out)
    assert out.stderr.startswith(f"usage: accessbot {group}") and "Traceback" not in out.stderr, show(out)


def test_version_prints_the_installed_package_version(workdir: Path) -> None:
    out = subprocess.run([*_script(), "--version"], cwd=workdir, env=cli_env(), capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, show(out)
    assert out.stdout.strip() == f"accessbot {version('accessbot')}", show(out)


def test_every_command_and_option_has_a_help_line() -> None:
    seen = []
    for path, parser in _subparsers(_parser()):
        for action in parser._actions:  # noqa: SLF001
            if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
                continue
            assert action.help and action.help != argparse.SUPPRESS, (path, action.option_strings or action.dest)
            seen.append((path, action.dest))
    assert (("serve",), "port") in seen and (("audit", "export"), "since") in seen  # the walk reached the leaves


@pytest.mark.parametrize(("command", "variables"), [
    (["serve"], ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "CLOUDFLARE_API_TOKEN",
                 "DATABASE_URL", "ACCESSBOT_POLICY", "ACCESSBOT_HOST", "ACCESSBOT_PORT", "LOG_LEVEL", "LOG_FORMAT",
                 "ACCESSBOT_LOG_DEBUG"]),
    (["policy", "check"], ["ACCESSBOT_POLICY"]),
    (["db", "upgrade"], ["DATABASE_URL"]),
    (["grants"], ["DATABASE_URL"]),
    (["revoke"], ["DATABASE_URL", "ACCESSBOT_POLICY"]),
    (["audit", "export"], ["DATABASE_URL"]),
    (["audit", "verify"], ["DATABASE_URL"]),
    (["reconcile"], ["DATABASE_URL", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "ACCESSBOT_POLICY"]),
])
def test_each_commands_help_names_the_environment_variables_it_reads(workdir: Path, command: list[str],
                                                                     variables: list[str]) -> None:
    out = run_cli(workdir, *command, "--help", env=cli_env())
    assert out.returncode == 0, show(out)
    for name in variables:
        assert re.search(rf"\b{name}\b", out.stdout), (command, name, out.stdout)


def _exit_codes(text: str) -> dict[int, str]:
    """The rows of an exit-code list (`  N    meaning` in --help, `| `N` | meaning |` in the README)."""
    rows = re.findall(r"^ {2}(\d{1,3}) {2,}(\S.*)$", text, re.M)  # --help
    rows += re.findall(r"^\| `(\d{1,3})` \| (.+) \|$", text, re.M)  # README table
    return {int(code): meaning for code, meaning in rows}


def test_the_exit_codes_are_listed_in_help_and_in_the_readme(workdir: Path) -> None:
    out = run_cli(workdir, "--help", env=cli_env())
    assert out.returncode == 0, show(out)
    helped = _exit_codes(out.stdout.split("exit codes:", 1)[1])
    assert set(helped) == {0, 1, 2, 130, 141}, helped
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    assert set(_exit_codes(section)) == set(helped), section


def test_a_bad_option_is_a_usage_error_with_exit_2(workdir: Path) -> None:
    out = run_cli(workdir, "grants", "--colour", env=cli_env())
    assert out.returncode == 2 and "usage: accessbot" in out.stderr and "--colour" in out.stderr, show(out)


def test_reconcile_without_a_cloudflare_token_is_a_configuration_error(workdir: Path) -> None:
    env = cli_env(DATABASE_URL=f"sqlite+aiosqlite:///{workdir.parent / 'r.db'}",
                  ACCESSBOT_POLICY=str(REPO / "policy.example.yml"), CLOUDFLARE_API_URL="http://127.0.0.1:9/client/v4")
    assert run_cli(workdir, "db", "upgrade", env=env).returncode == 0
    out = run_cli(workdir, "reconcile", env=env)
    assert out.returncode == 2, show(out)
    assert out.stdout == "" and out.stderr.strip().splitlines() == [
        "accessbot: CLOUDFLARE_API_TOKEN: not set (accessbot reconcile reads the groups at Cloudflare)"], show(out)


# --------------------------------------------------------------------------- pipes


@pytest.fixture
async def big_database(tmp_path: Path) -> str:
    """A migrated SQLite database with thousands of audit events and grants (more than a pipe buffer holds)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'big.db'}"
    store = await open_store(url, SystemClock())
    engine = store.engine
    now = datetime.now(UTC)
    async with store.tx() as tx:
        for i in range(3000):
            await tx.audit.append(AuditEvent("U0ALICE", "request.created", request_id=f"r-{i:06d}", role="prod-db",
                                             subject="alice@example.com", details={"reason": "x" * 80}))
        for i in range(2000):
            await tx.grants.add(Grant(id=f"g-{i:06d}", request_id=f"r-{i:06d}", role="prod-db", requester=f"U{i:06d}",
                                      email=f"person{i}@example.com", account_id=ACCOUNT, group_id=GROUP,
                                      duration=timedelta(hours=1), created_at=now, state=GrantState.ACTIVE,
                                      granted_at=now, expires_at=now + timedelta(hours=1)))
    await engine.dispose()
    return url


@pytest.mark.parametrize("args", [["audit", "export", "--format", "csv"], ["audit", "export"], ["grants"],
                                  ["grants", "--json"]])
def test_output_piped_into_head_ends_quietly(big_database: str, workdir: Path, args: list[str]) -> None:
    err, status = workdir / "stderr", workdir / "status"
    command = " ".join(f"'{a}'" for a in [*_script(), *args])
    shell = f'{command} 2>"{err}" | head -1; echo "${{PIPESTATUS[0]}}" >"{status}"'
    out = subprocess.run(["bash", "-c", shell], cwd=workdir, env=cli_env(DATABASE_URL=big_database),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, show(out)
    assert len(out.stdout.splitlines()) == 1, show(out)
    assert err.read_text() == "", err.read_text()
    assert status.read_text().strip() == "141"


def test_the_whole_output_is_printed_when_nobody_closes_the_pipe(big_database: str, workdir: Path) -> None:
    out = subprocess.run([*_script(), "audit", "export", "--format", "csv"], cwd=workdir,
                         env=cli_env(DATABASE_URL=big_database), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr == "", show(out)
    assert len(out.stdout.splitlines()) == 3001


# --------------------------------------------------------------------------- plain text


async def test_revoke_refusals_are_plain_text_without_slack_markup(core: Core, workdir: Path) -> None:  # noqa: F811
    s = await seed(core)
    env = core_env(core, workdir)
    for grant_id in ("g-ZZZZZZ", s.alice_a):
        out = await arun_cli(workdir, "revoke", grant_id, env=env)
        assert out.returncode == 1, show(out)
        assert grant_id in out.stderr, show(out)
        assert not re.search(r"[`*]|<[@#!]", out.stderr), show(out)
    ok = await arun_cli(workdir, "revoke", s.alice_db, env=env)
    assert ok.returncode == 0 and s.alice_db in ok.stdout, show(ok)
    assert not re.search(r"[`*]|<[@#!]", ok.stdout), show(ok)
