"""The replayed window: ``--since 24h`` (s, m, h, d, w before now) or an ISO 8601 time, ``--until`` likewise (default now)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Window", "parse_when", "parse_window", "show_duration", "show_time"]

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])\Z")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass(frozen=True)
class Window:
    """``[since, until]``, both aware UTC times."""

    since: datetime
    until: datetime

    @property
    def seconds(self) -> float:
        return (self.until - self.since).total_seconds()


def parse_when(text: str, now: datetime) -> datetime:
    """``24h`` (that long before ``now``) or an ISO 8601 time (``Z`` or an offset; none means UTC); ValueError says what is allowed."""
    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        return now - timedelta(seconds=float(relative.group(1)) * _UNITS[relative.group(2)])
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"'{text}' is not a time: give a duration before now (90m, 24h, 7d, 2w; units s m h d w) "
            "or an ISO 8601 time such as 2026-12-01T00:00Z"
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def parse_window(since: str, until: str | None, now: datetime | None = None) -> Window:
    """The window from the command's options; ValueError when a time is malformed or the window is empty."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    start = parse_when(since, now)
    end = parse_when(until, now) if until else now
    if end <= start:
        raise ValueError(f"the window is empty: --since {start.isoformat()} is not before --until {end.isoformat()}")
    return Window(start, end)


def show_duration(seconds: float) -> str:
    """``7d``, ``24h``, ``90m``: days from 3 days on, else the largest unit that divides it, else hours with one decimal."""
    for unit, size, least in (("d", 86400, 3 * 86400), ("h", 3600, 3600), ("m", 60, 60), ("s", 1, 1)):
        if seconds >= least and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds / 3600:.1f}h"


def show_time(moment: datetime) -> str:
    """``2026-12-01T10:05:00Z``: UTC to the second."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
