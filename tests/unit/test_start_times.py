"""Reading scheduled start times as people type them: formats, timezones, refusals, and the `at` rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.start_times import (
    StartTimeError,
    meant_as_start,
    parse_start,
    start_length,
    start_problem,
    window_over,
    zone_of,
)

NOW = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)
BERLIN = zone_of("Europe/Berlin")  # UTC+1 in December
UTC_ZONE = zone_of("UTC")


def test_a_clock_time_is_today_in_the_persons_timezone() -> None:
    assert parse_start("14:00", NOW, BERLIN) == datetime(2026, 12, 7, 13, 0, tzinfo=UTC)
    assert parse_start("9:05", NOW, UTC_ZONE) == datetime(2026, 12, 7, 9, 5, tzinfo=UTC)


def test_tomorrow_and_today_name_the_day_in_the_persons_timezone() -> None:
    assert parse_start("tomorrow 09:00", NOW, BERLIN) == datetime(2026, 12, 8, 8, 0, tzinfo=UTC)
    assert parse_start("Today 23:30", NOW, BERLIN) == datetime(2026, 12, 7, 22, 30, tzinfo=UTC)


def test_today_is_the_persons_day_not_utcs() -> None:
    late = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)  # already 8 December in Tokyo
    assert parse_start("tomorrow 09:00", late, zone_of("Asia/Tokyo")) == datetime(2026, 12, 9, 0, 0, tzinfo=UTC)


def test_a_date_and_time_without_offset_is_wall_clock_time_in_the_zone() -> None:
    assert parse_start("2026-12-24 08:00", NOW, BERLIN) == datetime(2026, 12, 24, 7, 0, tzinfo=UTC)
    assert parse_start("2026-12-24T08:00", NOW, BERLIN) == datetime(2026, 12, 24, 7, 0, tzinfo=UTC)


def test_iso_8601_with_z_or_an_offset_ignores_the_persons_zone() -> None:
    assert parse_start("2026-12-24T08:00Z", NOW, BERLIN) == datetime(2026, 12, 24, 8, 0, tzinfo=UTC)
    assert parse_start("2026-12-24T08:00:00+05:30", NOW, BERLIN) == datetime(2026, 12, 24, 2, 30, tzinfo=UTC)


@pytest.mark.parametrize("text", ["25:00", "14:60", "tomorrow", "tomorrow noon", "2026-13-01 08:00",
                                  "2026-02-30 08:00", "2026-12-24", "2026-12-24Tnope", "noon", "",
                                  "tomorrow 09:00 extra"])
def test_unreadable_start_times_are_refused_with_the_ways_to_write_one(text: str) -> None:
    with pytest.raises(StartTimeError):
        parse_start(text, NOW, BERLIN)


def test_a_time_the_clocks_skip_is_refused() -> None:
    spring = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # Berlin skips 02:00-03:00 on 29 March 2026
    with pytest.raises(StartTimeError, match="skip"):
        parse_start("tomorrow 02:30", spring, BERLIN)


def test_a_missing_or_unknown_timezone_is_utc_and_says_so() -> None:
    for name in (None, "", "Mars/Olympus_Mons", "../../etc/passwd"):
        zone = zone_of(name)
        assert zone.name == "UTC" and not zone.known
    assert zone_of("America/New_York").known


def test_past_and_too_far_starts_are_refused_and_the_rest_allowed() -> None:
    month = timedelta(days=30)
    assert start_problem(NOW - timedelta(minutes=1), NOW, month) == "start_in_past"
    assert start_problem(NOW, NOW, month) == "start_in_past"
    assert start_problem(NOW + timedelta(days=31), NOW, month) == "start_too_far"
    assert start_problem(NOW + timedelta(minutes=1), NOW, month) == ""
    assert start_problem(NOW + month, NOW, month) == ""


def test_the_window_is_over_once_start_plus_duration_has_passed() -> None:
    assert not window_over(NOW, timedelta(hours=1), NOW + timedelta(minutes=59))
    assert window_over(NOW, timedelta(hours=1), NOW + timedelta(hours=1))


def test_at_starts_a_start_only_when_a_time_follows() -> None:
    assert meant_as_start(["at", "14:00", "release"])
    assert meant_as_start(["AT", "tomorrow", "09:00"])
    assert meant_as_start(["at", "2026-12-24T08:00Z"])
    assert meant_as_start(["at", "25:99"])  # meant as a time: refused, not taken as the reason
    assert not meant_as_start(["at", "logs"])
    assert not meant_as_start(["look", "at", "14:00"])
    assert not meant_as_start(["at"])
    assert not meant_as_start([])


def test_a_start_takes_one_or_two_words() -> None:
    assert start_length(["14:00", "release"]) == 1
    assert start_length(["tomorrow", "09:00", "release"]) == 2
    assert start_length(["2026-12-24", "08:00", "x"]) == 2
    assert start_length(["2026-12-24T08:00Z", "x"]) == 1
    assert start_length(["tomorrow"]) == 1


ZONES = st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham",
                         "Australia/Lord_Howe"])
MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))


@settings(deadline=None)  # zoneinfo reads a zone's file the first time it is asked for it
@given(text=st.text(max_size=40), zone=ZONES, now=MOMENTS)
def test_any_text_is_read_as_an_aware_utc_time_or_refused_with_words(text: str, zone: str, now: datetime) -> None:
    try:
        got = parse_start(text, now, zone_of(zone))
    except StartTimeError as exc:
        assert str(exc)
        return
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)


@settings(deadline=None)  # zoneinfo reads a zone's file the first time it is asked for it
@given(zone=ZONES, now=MOMENTS, hour=st.integers(0, 23), minute=st.integers(0, 59), days=st.integers(0, 1))
def test_a_wall_clock_start_reads_back_as_the_same_wall_clock_time(zone: str, now: datetime, hour: int,
                                                                    minute: int, days: int) -> None:
    z = zone_of(zone)
    text = f"{'tomorrow' if days else 'today'} {hour:02d}:{minute:02d}"
    try:
        got = parse_start(text, now, z)
    except StartTimeError as exc:
        assert "skip" in str(exc)  # only a time the clocks skip is refused
        return
    local = got.astimezone(z.tz)
    assert (local.hour, local.minute) == (hour, minute)
    assert local.date() == now.astimezone(z.tz).date() + timedelta(days=days)


@settings(deadline=None)  # zoneinfo reads a zone's file the first time it is asked for it
@given(when=MOMENTS, offset=st.integers(-14 * 60, 14 * 60), zone=ZONES)
def test_an_iso_time_with_an_offset_is_that_instant_whatever_the_zone(when: datetime, offset: int, zone: str) -> None:
    from datetime import timezone
    when = when.replace(second=0, microsecond=0)
    text = when.astimezone(timezone(timedelta(minutes=offset))).isoformat()
    assert parse_start(text, NOW, zone_of(zone)) == when


@settings(deadline=None)  # zoneinfo reads a zone's file the first time it is asked for it
@given(words=st.lists(st.text(alphabet=st.characters(blacklist_categories=("Zs", "Cc")), min_size=1,
                              max_size=12), max_size=5))
def test_a_start_never_takes_more_words_than_there_are_nor_more_than_two(words: list[str]) -> None:
    assert 0 <= start_length(words) <= min(2, len(words))
