"""`QUIET_HOURS`: when subscription reminders keep quiet, e.g. `22:00-07:00` or `19:00-08:00 Europe/Berlin`.

Reminders only: a new incident or a change is still posted at night (a SOC wants those), but "still
unassigned after 30 min" waits for the morning. A span may cross midnight; the zone is an IANA name
(UTC when none is given). Pure: parsed once at start, an unreadable value stops the start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_SPAN = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])-([01]?[0-9]|2[0-3]):([0-5][0-9])(?:\s+(\S{1,64}))?")


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    zone: ZoneInfo

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` (aware) falls in the quiet span, in the span's zone."""
        local = moment.astimezone(self.zone).time()
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # across midnight


def parse_quiet_hours(text: str) -> QuietHours | None:
    """`HH:MM-HH:MM [Zone/Name]`; empty is none. ValueError naming what is wrong."""
    raw = text.strip()
    if not raw:
        return None
    match = _SPAN.fullmatch(raw)
    if match is None:
        raise ValueError(
            f"{raw[:40]!r} is not HH:MM-HH:MM with an optional time zone, e.g. 22:00-07:00 Europe/Berlin"
        )
    start = time(int(match.group(1)), int(match.group(2)))
    end = time(int(match.group(3)), int(match.group(4)))
    if start == end:
        raise ValueError("the quiet span starts and ends at the same time; leave QUIET_HOURS unset for none")
    try:
        zone = ZoneInfo(match.group(5) or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {match.group(5)!r} (an IANA name such as Europe/Berlin)"
        ) from None
    return QuietHours(start, end, zone)
