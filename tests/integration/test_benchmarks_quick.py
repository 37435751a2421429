"""`python -m benchmarks --quick`: its smallest scenarios run against a real serve and print their table rows."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

import benchmarks.__main__ as bench_main
from benchmarks.bigdb import HOME_GAP_S, sample, startup_prune
from benchmarks.config import Config
from benchmarks.expiry_run import run_expiries
from benchmarks.table import Row, p99, render
from bot.slack.pacer import SlackPacer

ROOT = Path(__file__).resolve().parents[2]


def test_the_quick_footprint_and_both_steady_expiry_variants_print_their_rows_and_exit_zero() -> None:
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--pg", "", "--only", "footprint",
                           "--only", "expiries"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[1].split()[:5] == ["scenario", "figure", "db", "median", "p99"]
    for figure in ("start-up to /healthz 200", "idle RSS after start", "revocation lag (40 grants",
                   "Cloudflare calls", "429s received", "revocation lag at 1/s (20 grants, 4 groups)",
                   "429s received at 1/s"):
        assert any(figure in line and " sqlite " in line for line in lines), (figure, done.stdout)
    assert "ERROR" not in done.stdout


def test_a_scenario_that_crashes_is_reported_and_makes_the_exit_code_non_zero(monkeypatch, capsys) -> None:
    async def crashes(db: str, cfg: Config) -> list[Row]:
        raise TimeoutError("revocations never finished")

    monkeypatch.setitem(bench_main.SCENARIOS, "footprint", crashes)
    assert bench_main.main(["--quick", "--pg", "", "--only", "footprint"]) == 1
    assert "ERROR footprint on sqlite: TimeoutError: revocations never finished" in capsys.readouterr().out


async def test_a_spaced_sample_starts_each_call_the_gap_after_the_last_and_keeps_only_the_measured_ones() -> None:
    starts: list[float] = []

    async def probe(i: int) -> float:
        starts.append(time.monotonic())
        return 0.002

    times = await sample(probe, 4, gap=0.05)
    assert times == [2.0] * 4 and len(starts) == 3 + 4, "3 warm-up calls, not in the figures"
    assert min(b - a for a, b in zip(starts, starts[1:], strict=False)) >= 0.05


async def test_app_home_opens_spaced_as_the_benchmark_sends_them_never_wait_for_the_slack_pacer() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = SlackPacer(clock=lambda: now[0], sleep=sleep)
    for _ in range(200):  # far past the burst of 10
        await pacer.acquire("views.publish")
        now[0] += HOME_GAP_S
    assert slept == [] and pacer.waited == 0.0


async def test_the_big_database_reads_wait_for_serves_start_up_prune_to_log_its_count(tmp_path) -> None:  # noqa: ANN001
    log = tmp_path / "serve.log"
    log.write_text("listening on 127.0.0.1:1234\n")
    bench = SimpleNamespace(serve=SimpleNamespace(log_path=log))
    waiting = asyncio.ensure_future(startup_prune(bench, timeout=5))  # type: ignore[arg-type]
    await asyncio.sleep(0.2)
    assert not waiting.done(), "no prune logged yet"
    log.write_text(log.read_text() + "2026-12-07T20:01:38Z [info] pruned 275343 done effect(s) and 0 delivery key(s) "
                   "older than 30d [bot.retention]\n")
    pruned, seconds = await waiting
    assert pruned == 275343 and seconds >= 0.2
    (tmp_path / "empty.log").write_text("listening on 127.0.0.1:1234\n")
    with pytest.raises(TimeoutError, match="no start-up prune"):
        await startup_prune(SimpleNamespace(serve=SimpleNamespace(log_path=tmp_path / "empty.log")),  # type: ignore[arg-type]
                            timeout=0.1)


def test_the_table_shows_median_p99_and_count_beside_target_and_naive() -> None:
    row = Row("2 sweep", "Cloudflare calls", "sqlite", [float(v) for v in range(1, 101)], "", "<= 40", "20000")
    header, rule, line = render([row]).splitlines()
    assert line.split() == ["2", "sweep", "Cloudflare", "calls", "sqlite", "50.50", "99", "100", "<=", "40", "20000"]
    assert p99([5.0]) == 5.0 and p99([float(v) for v in range(1000)]) == 989.0


async def test_a_sweep_of_1000_grants_writes_each_group_about_once_and_removes_every_email() -> None:
    groups = 10
    at = datetime.now(UTC) + timedelta(seconds=5)
    result = await run_expiries("sqlite", [at] * 1000, groups, latency=0.01, timeout=120)
    assert len(result.lags_ms) == 1000 and result.all_gone_s >= 0
    # one GET + one PUT per group when every expiry lands before the group workers read (not 2 per grant)
    assert result.calls <= 2 * groups and result.refused_429 == 0, result
