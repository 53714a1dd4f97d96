"""What a socket voice says about the text its audio voices, made safe to use.

ElevenLabs sends per-character timings with each audio message
(``alignment``: the characters as we sent them; ``normalizedAlignment``: after
its text normalisation). ``parse_char_timings`` validates one such object;
anything off (lengths that disagree, negative or non-finite times, missing
arrays) is a ``BadAlignment``: the caller counts it and carries on without.

``TextMatcher`` maps those characters onto the text we sent: the provider adds
whitespace of its own (a leading space, the flush message's space) and may
drop ours, so whitespace is matched loosely and everything else exactly. Audio
whose alignment was null leaves a gap: the next aligned chunk is found again
further on in the text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.providers.base import TextMark

# Far more characters than one audio message voices.
MAX_ALIGNED_CHARS = 4096
# Longest string one aligned "character" may be (a grapheme cluster, not a word).
MAX_CHAR_LENGTH = 8


class BadAlignment(ValueError):
    """An alignment object that cannot be trusted; the text says why."""


@dataclass(frozen=True, slots=True)
class CharTimings:
    """Aligned characters and when each one's audio ends, in ms from the chunk's start."""

    chars: tuple[str, ...]
    ends_ms: tuple[float, ...]


def parse_char_timings(body: Mapping[str, Any]) -> CharTimings | None:
    """The timings of an ElevenLabs audio message; None when it has none (null or absent).

    ``alignment`` is preferred: its characters are the ones we sent, so they can
    be matched to the reply. ``normalizedAlignment`` is used when it is null.
    """
    raw = body.get("alignment")
    if raw is None:
        raw = body.get("normalizedAlignment")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise BadAlignment("not an object")
    chars = raw.get("chars")
    starts = raw.get("charStartTimesMs")
    durations = raw.get("charDurationsMs", raw.get("charsDurationsMs"))
    if not isinstance(chars, list) or not isinstance(starts, list):
        raise BadAlignment("chars or charStartTimesMs missing")
    if not isinstance(durations, list):
        raise BadAlignment("charDurationsMs missing")
    if not len(chars) == len(starts) == len(durations):
        raise BadAlignment(
            f"lengths differ: {len(chars)} chars, {len(starts)} starts, {len(durations)} durations"
        )
    if len(chars) > MAX_ALIGNED_CHARS:
        raise BadAlignment(f"{len(chars)} characters in one message")
    ends: list[float] = []
    last = 0.0
    for char, start, duration in zip(chars, starts, durations, strict=True):
        if not isinstance(char, str) or not 0 < len(char) <= MAX_CHAR_LENGTH:
            raise BadAlignment("a character is not a short string")
        begin, length = _ms(start), _ms(duration)
        # Ends never go back: a character overlapping the one before ends with it.
        last = max(last, begin + length)
        ends.append(last)
    return CharTimings(tuple(chars), tuple(ends))


def _ms(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadAlignment("a time is not a number")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise BadAlignment("a time is negative or not finite")
    return number


class TextMatcher:
    """Offsets into the text sent so far, for the characters a provider aligned."""

    def __init__(self) -> None:
        self._text = ""
        # text[:_cursor] has been matched.
        self._cursor = 0
        # Audio went by without alignment: the next match may start further on.
        self._gap = False

    def feed(self, text: str) -> None:
        self._text += text

    def skip(self) -> None:
        """Audio with no alignment went by (its text is somewhere ahead)."""
        self._gap = True

    def match(self, timings: CharTimings) -> list[TextMark] | None:
        """Marks for ``timings``, or None when its characters are not the text sent."""
        marks = _match_at(self._text, self._cursor, timings)
        if marks is None and self._gap:
            marks = self._resync(timings)
        if marks is None:
            return None
        self._gap = False
        if marks:
            self._cursor = marks[-1].offset
        return marks

    def _resync(self, timings: CharTimings) -> list[TextMark] | None:
        first = next((c for c in "".join(timings.chars) if not c.isspace()), None)
        if first is None:
            return []
        at = self._text.find(first, self._cursor)
        while at >= 0:
            marks = _match_at(self._text, at, timings)
            if marks is not None:
                return marks
            at = self._text.find(first, at + 1)
        return None


def _match_at(text: str, cursor: int, timings: CharTimings) -> list[TextMark] | None:
    marks: list[TextMark] = []
    reached = cursor
    for chars, end in zip(timings.chars, timings.ends_ms, strict=True):
        for char in chars:
            cursor = _match_char(text, cursor, char)
            if cursor < 0:
                return None
            if cursor > reached:  # not the provider's own whitespace
                reached = cursor
                marks.append(TextMark(cursor, end))
    return marks


def _match_char(text: str, cursor: int, char: str) -> int:
    """The offset after ``char`` matched at ``cursor``, ``cursor`` for extra
    whitespace, -1 when it does not match."""
    while True:
        if cursor < len(text) and text[cursor] == char:
            return cursor + 1
        if char.isspace():
            return cursor
        if cursor < len(text) and text[cursor].isspace():
            cursor += 1
            continue
        return -1


def marks_for_flushes(ends: Sequence[int], acknowledged: int) -> tuple[TextMark, ...]:
    """The mark for the ``acknowledged``-th flush (0-based): its text is all voiced now."""
    return (TextMark(ends[acknowledged], 0.0),) if acknowledged < len(ends) else ()
