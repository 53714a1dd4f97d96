"""Pure text helpers for speaking: cutting a token stream into sentences for TTS,
and cutting a reply down to the words the user actually heard."""

from __future__ import annotations

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
