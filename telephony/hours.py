"""Business hours of a phone number: weekly opening windows in a time zone. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from telephony.errors import InvalidRoute

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class Window:
    weekday: int  # 0 = Monday, as datetime.weekday()
    opens: int  # minutes after midnight, inclusive
    closes: int  # minutes after midnight, exclusive; 1440 = midnight at the end of the day


@dataclass(frozen=True, slots=True)
class BusinessHours:
    timezone: str
    windows: tuple[Window, ...]

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidRoute(f"unknown time zone {self.timezone!r}") from exc

    def is_open(self, at: datetime) -> bool:
        """``at`` must be timezone-aware; it is read in the number's own zone."""
        if at.tzinfo is None:
            raise ValueError("business hours need an aware datetime")
        local = at.astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        return any(w.weekday == day and w.opens <= minute < w.closes for w in self.windows)

    @classmethod
    def parse(cls, timezone: str, days: Mapping[str, Sequence[str]]) -> BusinessHours:
        """``{"mon": ["09:00-12:30", "13:30-17:00"], ...}``; days not named are closed.

        A window ends at or before ``24:00``; a night shift is two windows on two days.
        """
        windows: list[Window] = []
        for day, spans in days.items():
            if day not in DAYS:
                raise InvalidRoute(f"unknown day {day!r} (use {', '.join(DAYS)})")
            if isinstance(spans, str):
                raise InvalidRoute(f"{day}: give a list of windows such as ['09:00-17:00']")
            for span in spans:
                windows.append(_window(DAYS.index(day), span))
        return cls(timezone, tuple(windows))


def _window(weekday: int, span: str) -> Window:
    match = _WINDOW.match(span) if isinstance(span, str) else None
    if match is None:
        raise InvalidRoute(f"window {span!r} is not HH:MM-HH:MM")
    oh, om, ch, cm = (int(g) for g in match.groups())
    opens, closes = oh * 60 + om, ch * 60 + cm
    if om > 59 or cm > 59 or opens >= MINUTES_PER_DAY or closes > MINUTES_PER_DAY:
        raise InvalidRoute(f"window {span!r} has an impossible time")
    if closes <= opens:
        raise InvalidRoute(f"window {span!r} closes before it opens")
    return Window(weekday, opens, closes)
