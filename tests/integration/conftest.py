"""Fixtures shared by the integration tests: a working directory for `accessbot` as a process, and a Cloudflare
simulator with a client pointed at it (the token is the requesting module's `TOKEN`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cloudflare.client import CloudflareClient
from bot.simulators.cloudflare_sim import CloudflareSimulator


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty working directory (no .env, no policy.yml) for the CLI process."""
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[CloudflareSimulator]:
    """A Cloudflare simulator on 127.0.0.1 that accepts the test module's `TOKEN`."""
    async with CloudflareSimulator(request.module.TOKEN) as simulator:
        yield simulator


@pytest.fixture
async def client(sim: CloudflareSimulator, request: pytest.FixtureRequest) -> AsyncIterator[CloudflareClient]:
    """The bot's Cloudflare client, pointed at `sim` with the test module's `TOKEN`."""
    assert sim.base_url is not None
    cf = CloudflareClient(sim.base_url, request.module.TOKEN, timeout=2.0)
    yield cf
    await cf.aclose()
