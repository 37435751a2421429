"""Fixtures shared by the integration tests that run `accessbot` as a process."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """An empty working directory (no .env, no policy.yml) for the CLI process."""
    path = tmp_path / "work"
    path.mkdir()
    return path
