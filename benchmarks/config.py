"""What a benchmark run is asked for: quick or full, the Cloudflare latency, repeats, the databases."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    """The run's options (see `python -m benchmarks --help`)."""

    quick: bool = False
    latency: float = 0.05
    repeat: int = 1
