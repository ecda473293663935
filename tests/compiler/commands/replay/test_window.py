"""The window's times: durations before now, ISO 8601 times, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from compiler.commands.replay.window import parse_window, show_duration

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "until", "start", "end"),
    [
        ("24h", None, "2026-11-30T12:00:00+00:00", "2026-12-01T12:00:00+00:00"),
        ("90m", "30m", "2026-12-01T10:30:00+00:00", "2026-12-01T11:30:00+00:00"),
        ("7d", None, "2026-11-24T12:00:00+00:00", "2026-12-01T12:00:00+00:00"),
        ("1w", "1.5d", "2026-11-24T12:00:00+00:00", "2026-11-30T00:00:00+00:00"),
        ("2026-12-01T00:00Z", None, "2026-12-01T00:00:00+00:00", "2026-12-01T12:00:00+00:00"),
        ("2026-12-01T00:00", "2026-12-01T06:00:00+02:00", "2026-12-01T00:00:00+00:00", "2026-12-01T04:00:00+00:00"),
    ],
)
def test_the_window_of_the_options(since: str, until: str | None, start: str, end: str) -> None:
    window = parse_window(since, until, NOW)
    assert (window.since.isoformat(), window.until.isoformat()) == (start, end)


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("yesterday", None, "'yesterday' is not a time: give a duration before now (90m, 24h, 7d, 2w"),
        ("24x", None, "'24x' is not a time"),
        ("1h", "2h", "the window is empty"),
        ("2026-12-01T13:00Z", None, "the window is empty"),
    ],
)
def test_a_bad_window_says_what_is_allowed(since: str, until: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_window(since, until, NOW)


@pytest.mark.parametrize(
    ("seconds", "shown"), [(86400, "24h"), (604800, "7d"), (259200, "3d"), (5400, "90m"), (90000, "25h"), (45, "45s"), (5400.5, "1.5h")]
)
def test_durations_read_in_their_largest_unit_days_from_3_days_on(seconds: float, shown: str) -> None:
    assert show_duration(seconds) == shown
