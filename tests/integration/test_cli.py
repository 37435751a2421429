"""`accessbot …` run as a user runs it: a real `python -m bot` process, its exit code, stdout and stderr.

Every run gets a hand-made environment (nothing inherited from the developer's shell but PATH) and an
empty working directory (so no `.env` is read). The database is filled through the real use cases
in-process (tests/core_harness.py); the CLI then reads and changes it as an operator would.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.domain.audit import FIELDS, first_broken
from bot.domain.model import Grant, GrantState, VoteChoice
from bot.services import approval, grants, requests
from bot.simulators.cloudflare_sim import CloudflareSimulator
from bot.slack.render import slack_text
from bot.storage.migrate import head
from tests.core_harness import ACCOUNT, GROUP, GROUP2, POLICY, Core, make_core

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_POLICY = REPO / "policy.example.yml"
GRANT_KEYS = {"id", "request_id", "role", "email", "slack_user", "state", "granted_at", "expires_at", "revoked_at",
              "break_glass", "acknowledged_by", "acknowledged_at"}

# Distinctive secret values: none of them may ever be echoed in an error.
BOT_TOKEN = "xoxb-secret-bot-token-4711"
SIGNING_SECRET = "signing-secret-value-4711"
CF_TOKEN = "cf-secret-api-token-4711"
DB_PASSWORD = "db-password-4711"


# --------------------------------------------------------------------------- running the CLI


def cli_env(**values: str | None) -> dict[str, str]:
    """A clean environment: PATH and what the test gives, nothing from the developer's shell."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LOG_FORMAT": "text", "PYTHONDONTWRITEBYTECODE": "1"}
    env.update({k: v for k, v in values.items() if v is not None})
    return env


def run_cli(cwd: Path, *args: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` in `cwd`, blocking."""
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


async def arun_cli(cwd: Path, *args: str, env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` in `cwd` without blocking the event loop (in-process simulators keep serving)."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, cwd=cwd, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return subprocess.CompletedProcess(list(args), proc.returncode, out.decode(), err.decode())


def show(out: subprocess.CompletedProcess[str]) -> str:
    """The whole run, for assertion messages."""
    return f"exit {out.returncode}\n--- stdout\n{out.stdout}\n--- stderr\n{out.stderr}"


# A log line in LOG_FORMAT=text (`2026-12-01T22:54:47.073217Z [info] …`): what serve logged before it gave up
# (its start-up calls, the checks it could not make) is the log, not the refusal.
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z \[(debug|info|warning|error|critical)\] ")


def one_clear_line(out: subprocess.CompletedProcess[str]) -> str:
    """The single non-empty stderr line of a refused start that is not a log line, after checking there is no
    traceback."""
    assert "Traceback" not in out.stderr + out.stdout, show(out)
    lines = [line for line in out.stderr.splitlines() if line.strip() and not _LOG_LINE.match(line)]
    assert len(lines) == 1, show(out)
    return lines[0]


# --------------------------------------------------------------------------- the core harness


async def cli_core(database_url: str, workdir: Path, behind: timedelta = timedelta(0)) -> Core:
    """The core on the test database, its clock at real time less `behind` (the CLI process uses the system
    clock), and its policy in policy.yml beside `workdir`."""
    c = await make_core(database_url)
    c.clock.advance(datetime.now(UTC) - behind - c.clock.now())
    (workdir.parent / "policy.yml").write_text(POLICY)
    return c


@pytest.fixture
async def core(database_url: str, workdir: Path):  # noqa: ANN201
    """The core on the test database, its clock set to real time."""
    c = await cli_core(database_url, workdir)
    yield c
    await c.deps.store.engine.dispose()


def core_env(core: Core, workdir: Path, **values: str | None) -> dict[str, str]:
    """The CLI environment for the harness database and policy."""
    return cli_env(DATABASE_URL=str(core.deps.store.engine.url.render_as_string(hide_password=False)),
                   ACCESSBOT_POLICY=str(workdir.parent / "policy.yml"), **values)


def catch_up(core: Core) -> None:
    """Move the harness clock past real time, so effects the CLI process owed (stamped with real time) are due."""
    core.clock.advance(max(timedelta(0), datetime.now(UTC) - core.clock.now()) + timedelta(seconds=1))


async def all_grants(core: Core) -> dict[str, Grant]:
    async with core.deps.store.tx() as tx:
        return {g.id: g for g in await tx.grants.find()}


async def audit_rows(core: Core) -> list[dict[str, Any]]:
    async with core.deps.store.tx() as tx:
        return await tx.audit.rows()


@dataclass
class Seeded:
    """What `seed` made: two active grants, a revoked one, and a request still waiting (no grant)."""

    alice_db: str     # alice, prod-db, active (approved by U0APPR01)
    bob_a: str        # bob, shared-a, active (auto-approved)
    alice_a: str      # alice, shared-a, revoked by alice
    waiting: str      # bob's prod-db request, not decided: no grant
    cut: datetime     # a moment between the first and the later audit events


async def approved_grant(core: Core, user: str, role: str, duration: timedelta, reason: str) -> str:
    """File a request through the use cases, approve it if it needs votes, apply it; the grant id."""
    out = await requests.submit(core.deps, user, role, duration, reason)
    assert out.ok, slack_text(out)
    rid = out.data["request_id"]
    if "grant_id" not in out.data:
        voted = await approval.vote(core.deps, rid, "U0APPR01", VoteChoice.APPROVE)
        assert voted.ok and voted.code == "approved", slack_text(voted)
    await core.settle()
    found = [g for g in (await all_grants(core)).values() if g.request_id == rid]
    assert len(found) == 1 and found[0].state is GrantState.ACTIVE, found
    return found[0].id


async def seed(core: Core) -> Seeded:
    alice_db = await approved_grant(core, "U0ALICE", "prod-db", timedelta(hours=1), "incident 4211")
    core.clock.advance(timedelta(minutes=1))
    cut = core.clock.now() - timedelta(seconds=30)
    bob_a = await approved_grant(core, "U0BOB", "shared-a", timedelta(hours=2), "")
    core.clock.advance(timedelta(minutes=1))
    alice_a = await approved_grant(core, "U0ALICE", "shared-a", timedelta(minutes=30), "")
    out = await grants.revoke(core.deps, "U0ALICE", alice_a)
    assert out.ok, slack_text(out)
    await core.settle()
    waiting = await requests.submit(core.deps, "U0BOB", "prod-db", timedelta(hours=1), "debugging")
    assert waiting.ok, slack_text(waiting)
    await core.settle()
    states = {gid: g.state for gid, g in (await all_grants(core)).items()}
    assert states == {alice_db: GrantState.ACTIVE, bob_a: GrantState.ACTIVE, alice_a: GrantState.REVOKED}
    return Seeded(alice_db, bob_a, alice_a, waiting.data["request_id"], cut)


def json_lines(out: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert out.returncode == 0, show(out)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def utc(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.utcoffset() == timedelta(0), value
    return parsed


# --------------------------------------------------------------------------- help


def test_help_lists_every_command(workdir: Path) -> None:
    out = run_cli(workdir, "--help", env=cli_env())
    assert out.returncode == 0, show(out)
    for command in ("serve", "demo", "policy", "db", "grants", "revoke", "audit", "reconcile"):
        assert re.search(rf"\b{command}\b", out.stdout), (command, out.stdout)


def test_the_accessbot_console_script_is_the_same_program(workdir: Path) -> None:
    script = Path(sys.executable).with_name("accessbot")
    if not script.exists():
        script = Path(shutil.which("accessbot") or "accessbot")
    assert script.exists(), f"no accessbot console script next to {sys.executable} or on PATH"
    out = subprocess.run([str(script), "--help"], cwd=workdir, env=cli_env(), capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, show(out)
    assert out.stdout == run_cli(workdir, "--help", env=cli_env()).stdout


# --------------------------------------------------------------------------- policy check

BAD_POLICY = """\
defaults:
  warn_before: soon
admins: [nobody]
roles:
  prod-db:
    group_id: 0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60
    account_id: 1234567890abcdef1234567890abcdef
    approvers: [U0APPR01]
    min_duration: 2h
    max_duration: 1h
    colour: red
  staging:
    account_id: 1234567890abcdef1234567890abcdef
    approvers: []
"""

BAD_POLICY_PROBLEMS = [
    "defaults.warn_before:",
    "admins[0]:",
    "roles.prod-db.max_duration: must be ≥ min_duration",
    "roles.prod-db.colour: unknown key",
    "roles.staging.group_id: missing (the Access group's id; or list_id, a Zero Trust EMAIL list's id)",
    "roles.staging.approvers: empty",
]


def test_policy_check_accepts_the_example_policy(workdir: Path) -> None:
    out = run_cli(workdir, "policy", "check", str(EXAMPLE_POLICY), env=cli_env())
    assert out.returncode == 0, show(out)
    assert "OK" in out.stdout
    assert "Traceback" not in out.stderr


def test_policy_check_prints_every_problem_with_its_place_and_exits_1(workdir: Path) -> None:
    (workdir / "bad.yml").write_text(BAD_POLICY)
    out = run_cli(workdir, "policy", "check", "bad.yml", env=cli_env())
    assert out.returncode == 1, show(out)
    assert "Traceback" not in out.stderr
    lines = (out.stdout + out.stderr).splitlines()
    for problem in BAD_POLICY_PROBLEMS:
        hits = [line for line in lines if line.startswith(problem)]
        assert len(hits) == 1, (problem, show(out))
    assert "OK" not in out.stdout


def test_policy_check_without_a_file_checks_accessbot_policy(workdir: Path) -> None:
    (workdir.parent / "elsewhere.yml").write_text(BAD_POLICY)
    out = run_cli(workdir, "policy", "check", env=cli_env(ACCESSBOT_POLICY=str(workdir.parent / "elsewhere.yml")))
    assert out.returncode == 1, show(out)
    assert any(line.startswith("roles.prod-db.max_duration: must be ≥ min_duration")
               for line in out.stdout.splitlines()), show(out)


def test_policy_check_points_at_the_line_of_broken_yaml(workdir: Path) -> None:
    (workdir / "broken.yml").write_text("roles:\n  prod-db:\n    group_id: [unclosed\n")
    out = run_cli(workdir, "policy", "check", "broken.yml", env=cli_env())
    assert out.returncode == 1, show(out)
    assert "Traceback" not in out.stderr
    assert re.search(r"broken\.yml:\d+:\d+", out.stdout + out.stderr), show(out)


# --------------------------------------------------------------------------- serve refuses to start


@dataclass(frozen=True)
class BadStart:
    """A serve configuration that must be refused: what changes, what the one line must name, files in cwd."""

    changes: dict[str, str | None]
    named: str
    files: dict[str, str] = field(default_factory=dict)


_SHORT_PROD_DB = EXAMPLE_POLICY.read_text().replace("max_duration: 4h", "max_duration: 1m")
BAD_STARTS = {
    "no-slack-bot-token": BadStart({"SLACK_BOT_TOKEN": None}, "SLACK_BOT_TOKEN"),
    "empty-cloudflare-token-counts-as-missing": BadStart({"CLOUDFLARE_API_TOKEN": ""}, "CLOUDFLARE_API_TOKEN"),
    "no-signing-secret-in-http-mode": BadStart({"SLACK_SIGNING_SECRET": None}, "SLACK_SIGNING_SECRET"),
    "api-team-domain-without-aud": BadStart({"CF_ACCESS_TEAM_DOMAIN": "myteam.cloudflareaccess.com"},
                                            "CF_ACCESS_AUD"),
    "api-aud-without-team-domain": BadStart({"CF_ACCESS_AUD": "a" * 64}, "CF_ACCESS_TEAM_DOMAIN"),
    "api-team-domain-with-a-path": BadStart({"CF_ACCESS_TEAM_DOMAIN": "https://myteam.example/login",
                                             "CF_ACCESS_AUD": "a" * 64}, "CF_ACCESS_TEAM_DOMAIN"),
    "port-not-a-number": BadStart({"ACCESSBOT_PORT": "abc"}, "ACCESSBOT_PORT"),
    "port-from-dot-env-not-a-number": BadStart({"ACCESSBOT_PORT": None}, "ACCESSBOT_PORT",
                                               files={".env": "ACCESSBOT_PORT=abc\n"}),
    "database-url-malformed": BadStart({"DATABASE_URL": "nonsense"}, "DATABASE_URL"),
    "database-unreachable": BadStart(
        {"DATABASE_URL": f"postgresql+asyncpg://accessbot:{DB_PASSWORD}@127.0.0.1:1/accessbot"}, "DATABASE_URL"),
    "policy-max-below-min": BadStart({"ACCESSBOT_POLICY": "policy.yml"}, "roles.prod-db.max_duration",
                                     files={"policy.yml": _SHORT_PROD_DB}),
    "policy-file-missing": BadStart({"ACCESSBOT_POLICY": None}, "ACCESSBOT_POLICY"),
}


def serve_env(database: Path, **values: str | None) -> dict[str, str]:
    """A complete, valid serve configuration (loopback, port 0) with `values` changed; None removes one."""
    base: dict[str, str | None] = {
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "CLOUDFLARE_API_TOKEN": CF_TOKEN,
        "SLACK_API_URL": "http://127.0.0.1:9/api/", "CLOUDFLARE_API_URL": "http://127.0.0.1:9/client/v4",
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}", "ACCESSBOT_POLICY": str(EXAMPLE_POLICY),
        "ACCESSBOT_HOST": "127.0.0.1", "ACCESSBOT_PORT": "0",
    }
    base.update(values)
    return cli_env(**base)


@pytest.fixture(scope="module")
def refused_starts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every BAD_STARTS case run as `accessbot serve`, all at once (each in its own empty directory)."""
    databases = tmp_path_factory.mktemp("serve-db")
    procs = {}
    for name, case in BAD_STARTS.items():
        cwd = tmp_path_factory.mktemp(name)
        for file, content in case.files.items():
            (cwd / file).write_text(content)
        procs[name] = subprocess.Popen([sys.executable, "-m", "bot", "serve"], cwd=cwd,
                                       env=serve_env(databases / f"{name}.db", **case.changes),
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = {}
    for name, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # it started after all: stop it, the test fails on the exit code
            proc.kill()
            out, err = proc.communicate()
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return results


@pytest.mark.parametrize("case", list(BAD_STARTS))
def test_serve_refuses_to_start_with_exit_2_and_one_line_naming_the_problem(
        refused_starts: dict[str, subprocess.CompletedProcess[str]], case: str) -> None:
    out = refused_starts[case]
    assert out.returncode == 2, show(out)
    line = one_clear_line(out)
    assert BAD_STARTS[case].named in line, line
    for secret in (BOT_TOKEN, SIGNING_SECRET, CF_TOKEN, DB_PASSWORD):
        assert secret not in out.stdout + out.stderr, show(out)


async def test_serve_with_a_wrong_slack_app_token_exits_2_with_one_line_naming_it(workdir: Path) -> None:
    out = await _serve_against_simulators(workdir, SLACK_SIGNING_SECRET=None, SLACK_APP_TOKEN="xapp-wrong-token-4711")
    assert out.returncode == 2, show(out)
    line = one_clear_line(out)
    assert "SLACK_APP_TOKEN" in line and "invalid_auth" in line, line
    assert "xapp-wrong-token-4711" not in out.stdout + out.stderr


async def test_serve_with_an_app_token_and_no_signing_secret_runs_over_socket_mode_and_stops_on_sigterm(
        workdir: Path) -> None:
    from bot.simulators.slack_sim import SlackSimulator
    from tests.procs import ServeProcess

    slack = SlackSimulator(token=BOT_TOKEN)
    url = await slack.start()
    serve = ServeProcess(serve_env(workdir / "accessbot.db", SLACK_API_URL=url, SLACK_SIGNING_SECRET=None,
                                   SLACK_APP_TOKEN=slack.app_token), workdir)
    try:
        await asyncio.to_thread(serve.start)
        await slack.socket_wait_connected(count=1, timeout=10)
        assert "Socket Mode" in serve.log_path.read_text()
        assert len(slack.calls_to("apps.connections.open")) == 1
        code = await asyncio.to_thread(serve.terminate)
    finally:
        serve.kill()
        await slack.stop()
    assert code == 0, serve.log_path.read_text()[-2000:]
    assert slack.app_token not in serve.log_path.read_text()


def _example_groups() -> list[tuple[str, str]]:
    """(account, group) of every role in policy.example.yml."""
    from bot.config.policy_file import load_policy

    return sorted({(r.account_id, r.group_id) for r in load_policy(EXAMPLE_POLICY).roles.values()})


async def _serve_against_simulators(workdir: Path, *, groups: list[tuple[str, str]] | None = None,
                                    scopes: tuple[str, ...] | None = None, **values: str | None,
                                    ) -> subprocess.CompletedProcess[str]:
    """`accessbot serve` against both simulators (the example policy's groups unless told otherwise), expected
    to refuse to start."""
    from bot.simulators.slack_sim import SlackSimulator

    slack, cf = SlackSimulator(token=BOT_TOKEN), CloudflareSimulator(token=CF_TOKEN)
    slack_url, cf_url = await slack.start(), await cf.start()
    if scopes is not None:
        slack.scopes = scopes
    for account, group in _example_groups() if groups is None else groups:
        cf.add_group(account, group, name="example")
    try:
        env = serve_env(workdir / "accessbot.db", **{"SLACK_API_URL": slack_url, "CLOUDFLARE_API_URL": cf_url,
                                                     **values})
        return await arun_cli(workdir, "serve", env=env, timeout=60)
    finally:
        await slack.stop()
        await cf.stop()


@pytest.mark.parametrize(("values", "scopes", "named"), [
    ({"SLACK_BOT_TOKEN": "xoxb-4711-4711-not-the-bots-token"}, None, "SLACK_BOT_TOKEN: Slack refused it (invalid_auth"),
    ({}, ("commands", "chat:write", "im:write", "users:read", "usergroups:read"),
     "SLACK_BOT_TOKEN: the token lacks the bot scope(s) users:read.email"),
    ({"CLOUDFLARE_API_TOKEN": "cf-secret-but-not-this-one-4711"}, None, "CLOUDFLARE_API_TOKEN: Cloudflare refused it"),
])  # fmt: skip
async def test_serve_with_a_credential_slack_or_cloudflare_refuses_exits_2_with_one_line_naming_it(
        workdir: Path, values: dict[str, str], scopes: tuple[str, ...] | None, named: str) -> None:
    out = await _serve_against_simulators(workdir, scopes=scopes, **values)
    assert out.returncode == 2, show(out)
    line = one_clear_line(out)
    assert named in line, line
    for secret in (BOT_TOKEN, CF_TOKEN, SIGNING_SECRET, *values.values()):
        assert secret not in out.stdout + out.stderr, show(out)


async def test_serve_with_a_role_whose_group_cloudflare_does_not_know_exits_2_naming_the_role(workdir: Path) -> None:
    groups = _example_groups()
    out = await _serve_against_simulators(workdir, groups=groups[1:])
    assert out.returncode == 2, show(out)
    line = one_clear_line(out)
    assert "group_id: Cloudflare has no Access group " + groups[0][1] in line, line
    assert line.startswith("accessbot: roles."), line


async def test_serve_starts_with_a_warning_when_cloudflare_cannot_be_reached(workdir: Path) -> None:
    from bot.simulators.slack_sim import SlackSimulator
    from tests.procs import ServeProcess

    slack = SlackSimulator(token=BOT_TOKEN)
    url = await slack.start()
    serve = ServeProcess(serve_env(workdir / "accessbot.db", SLACK_API_URL=url), workdir)  # Cloudflare: port 9
    try:
        await asyncio.to_thread(serve.start)
        log = serve.log_path.read_text()
        code = await asyncio.to_thread(serve.terminate)
    finally:
        serve.kill()
        await slack.stop()
    assert code == 0, log[-2000:]
    warnings = [line for line in log.splitlines() if "warning" in line.lower() and "start-up check" in line]
    assert len(warnings) == 1 and all(f"roles.{r}.group_id" in warnings[0] for r in ("prod-db", "staging")), log
    assert log.index("start-up check") < log.index("listening on")
    assert len(slack.calls_to("auth.test")) >= 1


# --------------------------------------------------------------------------- db


async def test_db_upgrade_brings_a_fresh_database_to_head(database_url: str, workdir: Path) -> None:
    env = cli_env(DATABASE_URL=database_url)
    up = await arun_cli(workdir, "db", "upgrade", env=env)
    assert up.returncode == 0, show(up)
    now = await arun_cli(workdir, "db", "current", env=env)
    assert now.returncode == 0, show(now)
    assert now.stdout.strip() == f"{head()} (head)", show(now)


def test_grants_on_an_unmigrated_database_says_to_run_db_upgrade(workdir: Path) -> None:
    out = run_cli(workdir, "grants", env=cli_env(DATABASE_URL=f"sqlite+aiosqlite:///{workdir.parent / 'empty.db'}"))
    assert out.returncode != 0, show(out)
    assert "Traceback" not in out.stderr, show(out)
    assert "db upgrade" in out.stderr, show(out)


def _as_people_write_it(database_url: str) -> str:
    """The fixture's URL in the plain form people paste (postgres://…, sqlite:///…)."""
    plain = database_url.replace("postgresql+asyncpg://", "postgres://", 1)
    return plain.replace("sqlite+aiosqlite://", "sqlite://", 1)


async def test_db_upgrade_and_grants_take_the_plain_database_url_forms(database_url: str, workdir: Path) -> None:
    env = cli_env(DATABASE_URL=_as_people_write_it(database_url))
    up = await arun_cli(workdir, "db", "upgrade", env=env)
    from bot.storage.migrate import head

    assert up.returncode == 0 and up.stdout.strip() == f"{head()} (head)", show(up)
    listed = await arun_cli(workdir, "grants", env=env)
    assert listed.returncode == 0 and "(no grants)" in listed.stdout, show(listed)


def test_a_command_run_where_no_sqlite_database_exists_warns_with_the_path_and_creates_nothing(workdir: Path) -> None:
    for args in (("grants",), ("audit", "export"), ("db", "current")):
        out = run_cli(workdir, *args, env=cli_env())
        assert out.returncode == 2, show(out)
        line = one_clear_line(out)
        assert "warning" in line and str(workdir / "accessbot.db") in line, line
        assert not (workdir / "accessbot.db").exists()
    up = run_cli(workdir, "db", "upgrade", env=cli_env())
    assert up.returncode == 0 and (workdir / "accessbot.db").exists(), show(up)
    assert run_cli(workdir, "grants", env=cli_env()).returncode == 0


# --------------------------------------------------------------------------- grants


def expected_row(g: Grant) -> dict[str, Any]:
    return {"id": g.id, "request_id": g.request_id, "role": g.role, "email": g.email, "slack_user": g.requester,
            "state": g.state.value, "granted_at": g.granted_at, "expires_at": g.expires_at,
            "revoked_at": g.revoked_at, "break_glass": g.break_glass, "acknowledged_by": g.acknowledged_by,
            "acknowledged_at": g.acknowledged_at}


def parsed_row(row: dict[str, Any]) -> dict[str, Any]:
    assert set(row) == GRANT_KEYS, row
    return {**row, **{k: utc(row[k]) for k in ("granted_at", "expires_at", "revoked_at", "acknowledged_at")}}


async def test_grants_prints_every_grant_as_a_table_or_one_json_object_per_line(core: Core, workdir: Path) -> None:
    s = await seed(core)
    db = await all_grants(core)
    env = core_env(core, workdir)
    as_json, table = await asyncio.gather(arun_cli(workdir, "grants", "--json", env=env),
                                          arun_cli(workdir, "grants", env=env))
    rows = json_lines(as_json)
    assert len(rows) == 3, rows  # bob's request still waiting for votes is no grant
    by_id = {r["id"]: parsed_row(r) for r in rows}
    assert by_id == {gid: expected_row(g) for gid, g in db.items()}
    assert by_id[s.alice_db]["expires_at"] - by_id[s.alice_db]["granted_at"] == timedelta(hours=1)
    assert by_id[s.alice_db]["state"] == "active" and by_id[s.alice_db]["revoked_at"] is None
    assert by_id[s.alice_a]["state"] == "revoked" and by_id[s.alice_a]["revoked_at"] is not None
    assert by_id[s.alice_db]["slack_user"] == "U0ALICE" and by_id[s.alice_db]["email"] == "alice@example.com"

    assert table.returncode == 0, show(table)
    lines = table.stdout.splitlines()
    for column in ("ID", "ROLE", "EMAIL", "STATE", "EXPIRES"):
        assert column in lines[0].upper(), lines[0]
    for gid, role, email, state in ((s.alice_db, "prod-db", "alice@example.com", "active"),
                                    (s.bob_a, "shared-a", "bob@example.com", "active"),
                                    (s.alice_a, "shared-a", "alice@example.com", "revoked")):
        line = next((line for line in lines if gid in line), None)
        assert line is not None, (gid, table.stdout)
        assert role in line and email in line and state in line, line
    assert s.waiting not in table.stdout


async def test_grants_filters_by_active_user_and_role_and_all_of_them_at_once(core: Core, workdir: Path) -> None:
    s = await seed(core)
    env = core_env(core, workdir)
    queries = {
        "active": (["--active"], [s.alice_db, s.bob_a]),
        "user": (["--user", "alice@example.com"], [s.alice_db, s.alice_a]),
        "role": (["--role", "shared-a"], [s.bob_a, s.alice_a]),
        "all three": (["--active", "--user", "alice@example.com", "--role", "shared-a"], []),
    }
    runs = await asyncio.gather(*(arun_cli(workdir, "grants", "--json", *flags, env=env)
                                  for flags, _ in queries.values()))
    for (name, (_, expected)), out in zip(queries.items(), runs, strict=True):
        assert sorted(r["id"] for r in json_lines(out)) == sorted(expected), (name, show(out))


# --------------------------------------------------------------------------- revoke


async def test_revoke_marks_the_grant_revoking_by_cli_and_the_scheduler_removes_it(core: Core,
                                                                                   workdir: Path) -> None:
    s = await seed(core)
    out = await arun_cli(workdir, "revoke", s.alice_db, "--reason", "x", env=core_env(core, workdir))
    assert out.returncode == 0, show(out)
    assert s.alice_db in out.stdout
    g = (await all_grants(core))[s.alice_db]
    assert g.state is GrantState.REVOKING
    assert (g.revoke_reason, g.revoke_actor) == ("cli", "cli")
    assert "alice@example.com" in core.groups.emails(ACCOUNT, GROUP)  # the running bot removes it, not the CLI

    catch_up(core)
    await core.settle()
    after = await all_grants(core)
    assert after[s.alice_db].state is GrantState.REVOKED and after[s.alice_db].revoked_at is not None
    assert after[s.bob_a].state is GrantState.ACTIVE  # nothing else was touched
    assert "alice@example.com" not in core.groups.emails(ACCOUNT, GROUP)
    rows = await audit_rows(core)
    revoked = [r for r in rows if r["action"] == "grant.revoked" and r["grant_id"] == s.alice_db]
    assert len(revoked) == 1, revoked
    assert revoked[0]["actor"] == "cli" and revoked[0]["details"]["reason"] == "cli"
    assert any(p.get("note") == "x" for p in core.owed("notify.thread")), core.owed("notify.thread")
    assert first_broken(rows) is None


async def test_revoke_of_an_unknown_or_ended_grant_exits_1_and_says_why(core: Core, workdir: Path) -> None:
    s = await seed(core)
    before = await all_grants(core)
    env = core_env(core, workdir)
    unknown, ended = await asyncio.gather(arun_cli(workdir, "revoke", "g-ZZZZZZ", env=env),
                                          arun_cli(workdir, "revoke", s.alice_a, env=env))
    for out in (unknown, ended):
        assert out.returncode == 1, show(out)
        assert "Traceback" not in out.stderr, show(out)
    assert "g-ZZZZZZ" in unknown.stderr and "accessbot grants" in unknown.stderr, show(unknown)
    assert s.alice_a in ended.stderr and "revoked" in ended.stderr, show(ended)
    assert await all_grants(core) == before


# --------------------------------------------------------------------------- audit


async def test_audit_export_streams_the_log_oldest_first_as_jsonl_or_csv_and_since_filters(
        core: Core, workdir: Path) -> None:
    s = await seed(core)
    rows = await audit_rows(core)
    later = [r for r in rows if utc(r["at"]) >= s.cut]
    assert 0 < len(later) < len(rows)
    env = core_env(core, workdir)
    jsonl, as_csv, since = await asyncio.gather(
        arun_cli(workdir, "audit", "export", env=env),
        arun_cli(workdir, "audit", "export", "--format", "csv", env=env),
        arun_cli(workdir, "audit", "export", "--since", s.cut.isoformat(), env=env),  # the +00:00 spelling
    )
    exported = json_lines(jsonl)
    assert all(set(r) == {"seq", "at", "actor", "action", "request_id", "grant_id", "role", "subject", "details",
                          "prev_hash", "hash"} for r in exported), exported[0]
    assert [r["seq"] for r in exported] == list(range(1, len(rows) + 1))
    assert exported == rows
    assert first_broken(exported) is None  # the export alone lets anyone re-check the chain

    assert as_csv.returncode == 0, show(as_csv)
    table = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert table[0] == list(FIELDS)
    assert len(table) == len(rows) + 1
    for line, row in zip(table[1:], rows, strict=True):
        got = dict(zip(FIELDS, line, strict=True))
        assert int(got["seq"]) == row["seq"] and got["action"] == row["action"] and got["hash"] == row["hash"]
        assert json.loads(got["details"]) == row["details"]

    assert json_lines(since) == later


def test_audit_export_refuses_a_bad_since_with_exit_2(workdir: Path) -> None:
    env = cli_env(DATABASE_URL=f"sqlite+aiosqlite:///{workdir.parent / 'audit.db'}")
    out = run_cli(workdir, "audit", "export", "--since", "yesterday", env=env)
    assert out.returncode == 2, show(out)
    line = one_clear_line(out)
    assert "--since" in line and "yesterday" in line, line
    assert out.stdout == ""


async def test_audit_verify_counts_the_events_and_names_the_first_changed_row(core: Core, workdir: Path) -> None:
    await seed(core)
    n = len(await audit_rows(core))
    assert n > 5
    env = core_env(core, workdir)
    ok = await arun_cli(workdir, "audit", "verify", env=env)
    assert ok.returncode == 0, show(ok)
    assert re.search(rf"\b{n}\b", ok.stdout), show(ok)

    async with core.deps.store.engine.begin() as conn:
        await conn.execute(text("UPDATE audit_log SET details = :d WHERE seq = 3"), {"d": '{"tampered":true}'})
    bad = await arun_cli(workdir, "audit", "verify", env=env)
    assert bad.returncode == 1, show(bad)
    assert "Traceback" not in bad.stderr
    assert re.search(r"\bseq 3\b", bad.stdout + bad.stderr), show(bad)


# --------------------------------------------------------------------------- reconcile

DOMAIN_RULE = {"email_domain": {"domain": "sre.example.com"}}
STANDING_RULE = {"email": {"email": "standing@example.com"}}
ONCALL_RULE = {"email": {"email": "oncall@example.com"}}
EXCLUDE = [{"email": {"email": "contractor@example.com"}}]


async def test_reconcile_lists_drift_and_fix_repairs_only_the_bots_own_rules(core: Core, workdir: Path) -> None:
    # The database: alice holds prod-db (active); bob held it, the grant ended, yet the bot still owns his rule.
    alice = await approved_grant(core, "U0ALICE", "prod-db", timedelta(hours=1), "incident 4211")
    bob = await approved_grant(core, "U0BOB", "prod-db", timedelta(hours=1), "debugging")
    assert (await grants.revoke(core.deps, "U0ADMIN1", bob)).ok
    await core.settle()
    assert (await all_grants(core))[bob].state is GrantState.REVOKED
    async with core.deps.store.tx() as tx:
        await tx.members.add(ACCOUNT, GROUP, {"bob@example.com"})
        assert await tx.members.emails(ACCOUNT, GROUP) == {"alice@example.com", "bob@example.com"}
    # Cloudflare: alice's rule is missing, bob's is still there, a standing member and foreign rules.
    sim = CloudflareSimulator(token=CF_TOKEN)
    await sim.start()
    try:
        sim.add_group(ACCOUNT, GROUP, name="prod-db (accessbot)", exclude=EXCLUDE,
                      include=[DOMAIN_RULE, STANDING_RULE, {"email": {"email": "bob@example.com"}}])
        sim.add_group(ACCOUNT, GROUP2, name="shared", include=[ONCALL_RULE])
        group2_before = sim.group(ACCOUNT, GROUP2)
        env = core_env(core, workdir, CLOUDFLARE_API_URL=sim.base_url, CLOUDFLARE_API_TOKEN=CF_TOKEN)

        report = await arun_cli(workdir, "reconcile", env=env)
        assert report.returncode == 1, show(report)
        assert "Traceback" not in report.stderr
        lines = report.stdout.splitlines()
        missing = [line for line in lines if "alice@example.com" in line]
        stale = [line for line in lines if "bob@example.com" in line]
        assert len(missing) == 1 and "missing" in missing[0].lower(), show(report)
        assert len(stale) == 1 and "missing" not in stale[0].lower(), show(report)
        assert "standing" in report.stdout.lower(), show(report)
        for foreign in ("standing@example.com", "sre.example.com", "oncall@example.com"):
            assert foreign in report.stdout, (foreign, show(report))
        assert sim.count("PUT") == 0  # a report changes nothing
        drift = [r for r in await audit_rows(core) if r["action"] == "drift.detected"]
        assert len(drift) == 1 and drift[0]["actor"] == "cli", drift
        assert drift[0]["details"]["missing"] == ["alice@example.com"]
        assert drift[0]["details"]["stale"] == ["bob@example.com"]
        assert drift[0]["details"]["fixed"] is False

        fixed = await arun_cli(workdir, "reconcile", "--fix", env=env)
        assert fixed.returncode == 0, show(fixed)
        group = sim.group(ACCOUNT, GROUP)
        assert group["include"] == [DOMAIN_RULE, STANDING_RULE, {"email": {"email": "alice@example.com"}}]
        assert group["exclude"] == EXCLUDE and group["require"] == [] and group["name"] == "prod-db (accessbot)"
        assert sim.group(ACCOUNT, GROUP2) == group2_before
        assert sim.count("PUT") == 1 and sim.count("PUT", GROUP2) == 0
        assert sim.invalid_requests == []
        async with core.deps.store.tx() as tx:
            assert await tx.members.emails(ACCOUNT, GROUP) == {"alice@example.com"}
        assert (await all_grants(core))[alice].state is GrantState.ACTIVE
        drift = [r for r in await audit_rows(core) if r["action"] == "drift.detected"]
        assert len(drift) == 2 and drift[1]["actor"] == "cli" and drift[1]["details"]["fixed"] is True, drift

        again = await arun_cli(workdir, "reconcile", env=env)
        assert again.returncode == 0, show(again)
        assert sim.count("PUT") == 1
        assert "standing@example.com" in again.stdout  # standing members are still reported, never removed
        rows = await audit_rows(core)
        assert [r["action"] for r in rows].count("drift.detected") == 2
        assert first_broken(rows) is None
    finally:
        await sim.stop()
