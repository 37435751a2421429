"""`accessbot policy check` and `accessbot reconcile` on a policy with a Zero Trust list role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.domain.model import GrantState
from bot.simulators.cloudflare_sim import CloudflareSimulator
from tests.core_harness import ACCOUNT, make_core
from tests.integration.test_cli import (
    BOT_TOKEN,
    CF_TOKEN,
    approved_grant,
    arun_cli,
    cli_env,
    core_env,
    one_clear_line,
    run_cli,
    serve_env,
    show,
)
from tests.policies import list_role, policy_text, role


def test_policy_check_says_per_role_whether_it_writes_a_zero_trust_list_or_the_group(workdir: Path) -> None:
    list_id = "5b2c1d0e-aaaa-4bbb-8ccc-0123456789ab"
    (workdir / "lists.yml").write_text(policy_text({
        "prod-db": role("0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60", approvers=["U0APPR01"]),
        "staging": list_role(list_id, auto_approve=True)}))
    out = run_cli(workdir, "policy", "check", "lists.yml", env=cli_env())
    assert out.returncode == 0, show(out)
    lines = out.stdout.splitlines()
    assert "  prod-db: Access group 0f3e2a1b-6c2d-4c1e-9f7a-1b2c3d4e5f60 in account " in lines[1]
    assert lines[1].endswith("(GET + PUT per batch)")
    assert lines[2].startswith(f"  staging: Zero Trust list {list_id} in account ")
    assert lines[2].endswith("(1 call per batch: PATCH append/remove)")


LIST = "5b2c1d0e-aaaa-4bbb-8ccc-0123456789ab"
LIST_POLICY = policy_text({"list-role": list_role(LIST, auto_approve=True, require_reason=False)})


async def test_reconcile_reports_a_lists_drift_and_fix_removes_only_the_bots_email(database_url: str,
                                                                                  workdir: Path) -> None:
    core = await make_core(database_url, LIST_POLICY)
    try:
        core.clock.advance(datetime.now(UTC) - core.clock.now())
        (workdir.parent / "policy.yml").write_text(LIST_POLICY)
        core.groups.add_list(ACCOUNT, LIST)
        gid = await approved_grant(core, "U0ALICE", "list-role", timedelta(hours=1), "")
        assert core.groups.list_values(ACCOUNT, LIST) == ["alice@example.com"]
        async with core.deps.store.tx() as tx:  # the grant ended while its removal was lost
            assert await tx.grants.move(gid, (GrantState.ACTIVE,), GrantState.REVOKED)
        sim = CloudflareSimulator(token=CF_TOKEN)
        await sim.start()
        try:
            sim.add_list(ACCOUNT, LIST, values=["hand@example.com", "alice@example.com"])
            env = core_env(core, workdir, CLOUDFLARE_API_URL=sim.base_url, CLOUDFLARE_API_TOKEN=CF_TOKEN)

            report = await arun_cli(workdir, "reconcile", env=env)
            assert report.returncode == 1, show(report)
            assert f"Zero Trust list {LIST}" in report.stdout, show(report)
            [stale] = [line for line in report.stdout.splitlines() if "alice@example.com" in line]
            assert "still present" in stale, show(report)
            assert '{"value": "hand@example.com"}' in report.stdout, show(report)
            assert sim.count("PATCH") == 0

            fixed = await arun_cli(workdir, "reconcile", "--fix", env=env)
            assert fixed.returncode == 0, show(fixed)
            assert sim.list_values(ACCOUNT, LIST) == ["hand@example.com"]
            assert sim.count("PATCH") == 1 and sim.invalid_requests == []
        finally:
            await sim.stop()
    finally:
        await core.deps.store.engine.dispose()


async def test_serve_with_a_list_role_whose_list_is_not_of_type_email_exits_2_with_one_line(workdir: Path) -> None:
    from bot.simulators.slack_sim import SlackSimulator

    (workdir / "policy.yml").write_text(LIST_POLICY)
    slack, cf = SlackSimulator(token=BOT_TOKEN), CloudflareSimulator(token=CF_TOKEN)
    slack_url, cf_url = await slack.start(), await cf.start()
    cf.add_list(ACCOUNT, LIST, type_="DOMAIN")
    try:
        env = serve_env(workdir / "accessbot.db", SLACK_API_URL=slack_url, CLOUDFLARE_API_URL=cf_url,
                        ACCESSBOT_POLICY=str(workdir / "policy.yml"))
        out = await arun_cli(workdir, "serve", env=env, timeout=60)
    finally:
        await slack.stop()
        await cf.stop()
    assert out.returncode == 2, show(out)
    line = one_clear_line(out)
    assert line.startswith(f"accessbot: roles.list-role.list_id: Cloudflare's Zero Trust list {LIST} "), line
    assert "is of type DOMAIN, not EMAIL" in line, line
