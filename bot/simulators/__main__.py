"""`python -m bot.simulators`: the Slack, Cloudflare and PagerDuty simulators on 127.0.0.1, for trying `serve`
without accounts.

It starts the simulators (free ports unless given), creates the Access group (or Zero Trust list) of every role
in the policy (the demo policy unless `--policy` names one) and the demo's people (in PagerDuty too, with dana,
U0ADMIN1, on call in schedule PSCHED1), then prints the settings
`serve` needs as `KEY=VALUE` lines (also written to `--env-file`, ready for `--env-file` of docker or a `.env`),
and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config.errors import PolicyError
from bot.config.policy_file import parse_policy
from bot.simulators.cloudflare_sim import CloudflareSimulator
from bot.simulators.pagerduty_sim import PD_TOKEN, PagerDutySimulator
from bot.simulators.slack_sim import SlackSimulator
from bot.simulators.stack import (
    ACCOUNT,
    CF_TOKEN,
    DEMO_POLICY,
    ONCALL_SCHEDULE,
    SIGNING_SECRET,
    SLACK_TOKEN,
    default_people,
    pagerduty_people,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot.simulators",
                                description="Run the Slack and Cloudflare simulators on 127.0.0.1 until stopped.")
    p.add_argument("--policy", help="create the Cloudflare groups of this policy file (default: the demo policy)")
    p.add_argument("--write-policy", metavar="FILE", help="write the policy used (e.g. the demo policy) to FILE")
    p.add_argument("--env-file", metavar="FILE", help="also write the settings for `serve` to FILE")
    p.add_argument("--slack-port", type=int, default=0, help="Slack simulator port (default: a free one)")
    p.add_argument("--cloudflare-port", type=int, default=0, help="Cloudflare simulator port (default: a free one)")
    p.add_argument("--pagerduty-port", type=int, default=0, help="PagerDuty simulator port (default: a free one)")
    return p


def settings_lines(slack_url: str, cloudflare_url: str, pagerduty_url: str | None = None) -> list[str]:
    """The environment `serve` needs to talk to the simulators (tokens the simulators accept)."""
    pagerduty = [f"PAGERDUTY_API_URL={pagerduty_url}", f"PAGERDUTY_API_TOKEN={PD_TOKEN}"] if pagerduty_url else []
    return pagerduty + [
        f"SLACK_API_URL={slack_url}",
        f"SLACK_BOT_TOKEN={SLACK_TOKEN}",
        f"SLACK_SIGNING_SECRET={SIGNING_SECRET}",
        f"CLOUDFLARE_API_URL={cloudflare_url}",
        f"CLOUDFLARE_API_TOKEN={CF_TOKEN}",
        f"CLOUDFLARE_ACCOUNT_ID={ACCOUNT}",
    ]


def _write_atomically(path: Path, text: str) -> None:
    """Write `text` so a reader waiting for `path` never sees half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def run(args: argparse.Namespace) -> int:
    """Start the simulators, print the settings, serve until SIGINT/SIGTERM."""
    text = Path(args.policy).read_text() if args.policy else DEMO_POLICY
    policy = parse_policy(text, args.policy or "demo policy", os.environ.get("CLOUDFLARE_ACCOUNT_ID") or ACCOUNT)
    slack = SlackSimulator(token=SLACK_TOKEN)
    cloudflare = CloudflareSimulator(token=CF_TOKEN)
    default_people(slack)
    for role in policy.roles.values():
        if role.list_id:  # a list role: an empty Zero Trust EMAIL list
            cloudflare.add_list(role.account_id, role.list_id, name=f"{role.name} (accessbot)")
        else:
            cloudflare.add_group(role.account_id, role.group_id, name=f"{role.name} (accessbot)")
    pagerduty = PagerDutySimulator()
    pagerduty_people(pagerduty)
    pagerduty.set_on_call(ONCALL_SCHEDULE, ["P0ADMIN1"])
    slack_url = await slack.start(port=args.slack_port)
    cf_url = await cloudflare.start(port=args.cloudflare_port)
    pd_url = await pagerduty.start(port=args.pagerduty_port)
    try:
        lines = settings_lines(slack_url, cf_url, pd_url)
        if args.write_policy:
            _write_atomically(Path(args.write_policy), text)
        if args.env_file:
            _write_atomically(Path(args.env_file), "\n".join(lines) + "\n")
        print("\n".join(lines), flush=True)
        print(f"# {len(policy.roles)} group(s) ready: {', '.join(sorted(policy.roles))}; Ctrl-C stops",
              file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await slack.stop()
        await cloudflare.stop()
        await pagerduty.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; exit 2 on a policy that does not parse or a port that is taken."""
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except PolicyError as exc:
        print(f"python -m bot.simulators: policy: {exc.problems[0]}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"python -m bot.simulators: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
