"""ACCESSBOT_RETENTION: a duration (default 30 days), 0 keeps everything, never shorter than the replay window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config.errors import ConfigError
from bot.config.settings import load_settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> pytest.MonkeyPatch:  # noqa: ANN001
    """A clean environment (no ACCESSBOT_RETENTION) and an empty working directory (no `.env`)."""
    monkeypatch.delenv("ACCESSBOT_RETENTION", raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_retention_defaults_to_30_days(env: pytest.MonkeyPatch) -> None:
    assert load_settings().accessbot_retention == timedelta(days=30)


@pytest.mark.parametrize(("written", "meant"), [("7d", timedelta(days=7)), ("0", timedelta(0)),
                                                ("10m", timedelta(minutes=10)), ("1d12h", timedelta(hours=36))])
def test_retention_is_read_as_a_duration_and_0_keeps_everything(env: pytest.MonkeyPatch, written: str,
                                                                  meant: timedelta) -> None:
    env.setenv("ACCESSBOT_RETENTION", written)
    assert load_settings().accessbot_retention == meant


@pytest.mark.parametrize(("written", "says"), [
    ("5m", "ACCESSBOT_RETENTION: must be 0 (keep everything) or at least 10m: delivery keys are the replay defence"),
    ("9m59s", "ACCESSBOT_RETENTION: must be 0 (keep everything) or at least 10m"),
    ("thirty days", "ACCESSBOT_RETENTION: 'thirty days' is not a duration"),
    ("30", "ACCESSBOT_RETENTION: '30' is not a duration: no unit"),
    ("-1d", "ACCESSBOT_RETENTION: '-1d' is not a duration"),
])
def test_a_bad_retention_is_refused_in_one_line_naming_the_setting(env: pytest.MonkeyPatch, written: str,
                                                                   says: str) -> None:
    env.setenv("ACCESSBOT_RETENTION", written)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(says) and "\n" not in message, message
