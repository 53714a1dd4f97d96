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
further on in the text. ``StreamAlignment`` does this for one socket stream,
and turns Deepgram's in-order ``Flushed`` acknowledgements into segment ends.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.providers.base import SpeechChunk, TextMark
from pipelines.providers.cloud.metrics import TTS_ALIGNMENT_FAULTS

# Far more characters than one audio message voices.
MAX_ALIGNED_CHARS = 4096
# Longest string one aligned "character" may be (a grapheme cluster, not a word).
MAX_CHAR_LENGTH = 8

log = logging.getLogger(__name__)


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


class StreamAlignment:
    """One socket stream's view of which text its audio voices.

    Timings (ElevenLabs) are matched to the text pushed; flushes acknowledged in
    order (``flush_marks``: Deepgram) end a segment each. The first fault
    (timings malformed or not matching, a flush acknowledged out of order) is
    counted in ``faults`` by kind, logged, and ends alignment for the stream.
    """

    def __init__(self, provider: str, faults: Counter[str], flush_marks: bool) -> None:
        self._provider = provider
        self._faults = faults
        self._flush_marks = flush_marks
        self._matcher = TextMatcher()
        self._pushed = 0
        # Where each flush ends in the text pushed.
        self._flush_ends: list[int] = []
        self._ok = True

    def pushed(self, text: str) -> None:
        self._pushed += len(text)
        self._matcher.feed(text)

    def flushed(self) -> None:
        self._flush_ends.append(self._pushed)

    def chunk(self, pcm: bytes, acknowledged: int, timings: CharTimings | None) -> SpeechChunk:
        """``pcm`` with what is known of its text (``acknowledged`` flushes so far)."""
        if not self._ok:
            return SpeechChunk(pcm)
        if self._flush_marks:
            ends = self._flush_ends
            return SpeechChunk(pcm, upto=ends[acknowledged] if acknowledged < len(ends) else None)
        if timings is None:
            self._matcher.skip()
            return SpeechChunk(pcm)
        marks = self._matcher.match(timings)
        if marks is None:
            self.fault("mismatch", "characters do not match the text sent")
            return SpeechChunk(pcm)
        return SpeechChunk(pcm, tuple(marks))

    def acknowledged(self, number: int, sequence: int | None) -> tuple[TextMark, ...]:
        """The mark for flush ``number`` (0-based), acknowledged as ``sequence``."""
        if not (self._flush_marks and self._ok) or number >= len(self._flush_ends):
            return ()
        if sequence is not None and sequence != number:
            self.fault("sequence", f"flush {number} acknowledged as {sequence}")
            return ()
        return (TextMark(self._flush_ends[number], 0.0),)

    def fault(self, kind: str, detail: str) -> None:
        if self._ok:
            log.warning("%s: alignment not used (%s): %s", self._provider, kind, detail[:200])
        self._ok = False
        self._faults[kind] += 1
        TTS_ALIGNMENT_FAULTS.labels(provider=self._provider).inc()
