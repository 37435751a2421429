"""`accessbot policy check` and `accessbot reconcile` on a policy with a Zero Trust list role."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_cli import cli_env, run_cli, show
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
