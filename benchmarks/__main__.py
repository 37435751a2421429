"""`python -m benchmarks`: run every scenario against a real `accessbot serve` and print one table."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
import traceback
from collections.abc import Awaitable, Callable

from benchmarks import ack, audit_drain, bigdb, footprint, slack_drain, steady_expiries, sweep
from benchmarks.config import Config
from benchmarks.table import Row, render

SCENARIOS: dict[str, Callable[[str, Config], Awaitable[list[Row]]]] = {
    "footprint": footprint.run, "expiries": steady_expiries.run, "sweep": sweep.run, "ack": ack.run,
    "bigdb": bigdb.run,
    "slackdrain": slack_drain.run, "auditdrain": audit_drain.run,
}


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small versions of every scenario (about a minute)")
    p.add_argument("--pg", metavar="URL", default=os.environ.get("ACCESSBOT_TEST_PG_URL"),
                   help="also run on PostgreSQL (a server URL; default $ACCESSBOT_TEST_PG_URL); a database is "
                        "created and dropped per run")
    p.add_argument("--latency", type=float, default=50.0, help="Cloudflare simulator latency in ms (default 50)")
    p.add_argument("--repeat", type=int, default=1, help="runs of each scenario; figures pool the runs")
    p.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="run only this scenario (repeatable)")
    return p


async def run_all(args: argparse.Namespace) -> tuple[list[Row], list[str]]:
    """Every chosen scenario on every database: (the rows, the errors)."""
    cfg = Config(quick=args.quick, latency=args.latency / 1000, repeat=max(1, args.repeat))
    dbs = ["sqlite"] + ([args.pg] if args.pg else [])
    rows: list[Row] = []
    errors: list[str] = []
    for name in args.only or list(SCENARIOS):
        for db in dbs:
            label = "sqlite" if db == "sqlite" else "postgres"
            started = time.monotonic()
            try:
                got = await SCENARIOS[name](db, cfg)
            except Exception as exc:  # noqa: BLE001 - one scenario's crash is reported, the others still run
                errors.append(f"{name} on {label}: {type(exc).__name__}: {exc}")
                traceback.print_exc(file=sys.stderr)
                continue
            for row in got:
                row.db = label
            rows += got
            print(f"# {name} on {label}: {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return rows, errors


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM as Ctrl-C: the scenarios' clean-ups (serve, simulators, databases) still run."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run, print the table (and errors); exit 1 when a scenario failed, never for slowness."""
    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # so a killed run still stops its serve processes
    started = time.monotonic()
    rows, errors = asyncio.run(run_all(args))
    load = os.getloadavg()
    print(f"accessbot benchmarks ({'quick' if args.quick else 'full'}; Cloudflare latency {args.latency:.0f} ms; "
          f"{os.cpu_count()} cores; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f})")
    print(render(rows))
    if not args.only or "sweep" in args.only:
        print(sweep.arithmetic(sweep.size(Config(quick=args.quick))))
        if args.quick:
            print(sweep.arithmetic(10_000))
    print(f"({time.monotonic() - started:.0f} s in all)")
    for e in errors:
        print(f"ERROR {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
