"""Pure text helpers for speaking: cutting a token stream into sentences for TTS,
and cutting a reply down to the words the user actually heard."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

_ENDERS = ".!?;\n"
# Abbreviations that end in a period but do not end a sentence.
_ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "st.", "vs.", "e.g.", "i.e.", "etc."})


class SentenceAggregator:
    """Collects streamed text deltas and releases whole sentences.

    The first release may be an early clause (cut at a comma once
    ``first_clause_chars`` are buffered) so the first audio starts sooner.
    """

    def __init__(self, *, first_clause_chars: int = 60, max_chars: int = 240) -> None:
        self._buffer = ""
        self._first_clause_chars = first_clause_chars
        self._max_chars = max_chars
        self._released_any = False

    def push(self, delta: str) -> list[str]:
        self._buffer += delta
        out: list[str] = []
        while True:
            cut = self._find_cut()
            if cut is None:
                break
            sentence, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:]
            if sentence:
                out.append(sentence)
                self._released_any = True
        return out

    def flush(self) -> str | None:
        rest, self._buffer = self._buffer.strip(), ""
        return rest or None

    def _find_cut(self) -> int | None:
        text = self._buffer
        for i, ch in enumerate(text):
            # A sentence ender counts once we see what follows it (whitespace).
            if ch in _ENDERS and i + 1 < len(text) and text[i + 1].isspace():
                word = text[: i + 1].rsplit(None, 1)[-1].lower()
                if word in _ABBREVIATIONS:
                    continue
                return i + 1
        if not self._released_any and len(text) >= self._first_clause_chars:
            comma = text.rfind(", ")
            if comma > 0:
                return comma + 1
        if len(text) >= self._max_chars:
            space = text.rfind(" ", 0, self._max_chars)
            return space if space > 0 else self._max_chars
        return None


@dataclass(frozen=True, slots=True)
class SpokenSegment:
    """A piece of reply text and how many output samples its audio took."""

    text: str
    samples: int


def heard_text(segments: Sequence[SpokenSegment], played_samples: int) -> str:
    """The reply text the user heard when ``played_samples`` of audio had played.

    Whole segments that played fully are kept; the segment cut mid-way keeps the
    share of its words proportional to the share of its audio that played
    (speech rate within one sentence is close enough to uniform for this).
    """
    parts: list[str] = []
    remaining = max(0, played_samples)
    for segment in segments:
        if remaining <= 0:
            break
        if remaining >= segment.samples:
            parts.append(segment.text)
            remaining -= segment.samples
            continue
        words = segment.text.split()
        kept = int(len(words) * remaining / segment.samples) if segment.samples else 0
        if kept:
            parts.append(" ".join(words[:kept]))
        break
    return " ".join(parts)


# A lower bound on how fast a voice speaks, for crediting streamed audio to
# words. Real voices speak 14-17 characters a second: crediting at 11 means a
# word counts as heard only after more audio than it really took has played.
STREAM_CHARS_PER_SECOND = 11.0


class StreamAligner:
    """Turns a streamed reply's audio into ``SpokenSegment``s, one per word.

    A text-streaming voice says no more than which audio came in response to the
    text as a whole, so each complete word (one followed by whitespace) is
    credited with the audio a slow voice (``chars_per_second``) would need for
    it plus a space, once that much audio has arrived. ``heard_text`` over these
    segments then never counts a word before it has fully played, as long as
    the voice is faster than that rate. ``finish`` gives the words not yet
    credited the audio left over when the stream ended.
    """

    def __init__(self, sample_rate: int, chars_per_second: float = STREAM_CHARS_PER_SECOND) -> None:
        self._samples_per_char = sample_rate / chars_per_second
        self._text = ""
        self._credit = 0

    def push(self, text: str) -> None:
        self._text += text

    def add_audio(self, samples: int) -> list[SpokenSegment]:
        self._credit += samples
        out: list[SpokenSegment] = []
        while (word := _complete_word(self._text)) is not None:
            start, end = word
            cost = math.ceil((end - start + 1) * self._samples_per_char)
            if cost > self._credit:
                break
            out.append(SpokenSegment(self._text[start:end], cost))
            self._credit -= cost
            self._text = self._text[end:]
        return out

    def finish(self) -> list[SpokenSegment]:
        rest, self._text = self._text.strip(), ""
        credit, self._credit = self._credit, 0
        if not rest:
            return []
        return [SpokenSegment(rest, max(credit, 1))]


def _complete_word(text: str) -> tuple[int, int] | None:
    """(start, end) of the first word of ``text`` if whitespace follows it."""
    start = len(text) - len(text.lstrip())
    end = start
    while end < len(text) and not text[end].isspace():
        end += 1
    if end == start or end >= len(text):
        return None
    return start, end
