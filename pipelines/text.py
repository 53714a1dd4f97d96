"""Pure text helpers for speaking: cutting a token stream into sentences for TTS,
and cutting a reply down to the words the user actually heard."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.providers.base import SpeechChunk

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
    """A piece of reply text and how many output samples its audio took.

    A ``verbatim`` segment is an exact slice of the reply, its whitespace
    included, that follows the previous segment directly and ends where a word
    does (``StreamAligner`` never ends one mid-word); it counts as heard only
    once all its samples have played (whoever cut it knew no finer). Other
    segments are stripped pieces (sentences, an estimate's remainder), one
    space apart; a partly played one keeps a share of its words.
    """

    text: str
    samples: int
    verbatim: bool = False


def heard_text(segments: Sequence[SpokenSegment], played_samples: int) -> str:
    """The reply text the user heard when ``played_samples`` of audio had played.

    Whole segments that played fully are kept; a stripped segment cut mid-way
    keeps the share of its words proportional to the share of its audio that
    played (speech rate within one sentence is close enough to uniform for this).
    """
    parts: list[str] = []
    remaining = max(0, played_samples)
    for segment in segments:
        if segment.verbatim:
            if segment.samples > remaining:
                break
            parts.append(segment.text)
            remaining -= segment.samples
            continue
        if remaining <= 0:
            break
        if remaining >= segment.samples:
            text = segment.text
        else:
            words = segment.text.split()
            kept = int(len(words) * remaining / segment.samples) if segment.samples else 0
            text = " ".join(words[:kept])
        if text:
            parts.append(f" {text}" if parts else text)
        if remaining < segment.samples:
            break
        remaining -= segment.samples
    return "".join(parts).strip()


# A lower bound on how fast a voice speaks, for crediting streamed audio to
# words. Real voices speak 14-17 characters a second: crediting at 11 means a
# word counts as heard only after more audio than it really took has played.
STREAM_CHARS_PER_SECOND = 11.0


class StreamAligner:
    """Turns a streamed reply's audio into verbatim ``SpokenSegment``s that end on whole words.

    A word is a run of text between whitespace (punctuation attached to it is
    part of it); in scripts written without spaces (Han, kana) each character
    is one. A word counts as heard only once its last character has played, so
    every segment ends where a word ends (``word_end``).

    Where the voice says exactly how far its audio got (``TextMark``s: per
    character from ElevenLabs, per flushed segment from Deepgram, per sentence
    from a sentence-by-sentence voice), the segments end at the last word end
    the mark reached, at the mark's time. A mark at the very end of the text
    pushed so far is held until the text goes on (or is ``complete``, or the
    stream finishes): the word there may not be over. Audio without marks is
    credited to whole words (a word followed by whitespace, or ending the
    segment being voiced: ``upto``) at the audio a slow voice
    (``chars_per_second``) would need for each of its characters not yet
    marked plus a space, counted from the last exact point. ``heard_text``
    over these segments then never counts a word before it has fully played,
    as long as the voice is faster than that rate.
    ``finish`` gives what is left the audio left over when the stream ended.

    A fallback voice that takes over mid-reply (``resumes_at``) repeats text
    already voiced: its audio pays for that text again before it counts
    towards new words, so nothing is credited twice or early.
    """

    def __init__(self, sample_rate: int, chars_per_second: float = STREAM_CHARS_PER_SECOND) -> None:
        self._rate = sample_rate
        self._samples_per_char = sample_rate / chars_per_second
        self._text = ""
        # Samples of audio received so far.
        self._end = 0
        # The segment being voiced ends at this offset (from ``upto``).
        self._limit: int | None = None
        self._reset()

    def _reset(self) -> None:
        # text[:_done] has segments, the last ending at sample _at.
        self._done = 0
        self._at = self._end
        # The furthest exact point: text[:_from] was voiced by sample _base
        # (>= _at). Unmarked audio counts towards words only from there.
        self._from = 0
        self._base = self._end
        # An exact point at the end of the text pushed so far, whose word may
        # go on: (offset, sample), settled once more text (or the end) comes.
        self._held: tuple[int, int] | None = None
        # Word ends are searched for once: text[:_scanned] has been, and
        # _last_end is the furthest found there.
        self._scanned = 0
        self._last_end = 0
        # No more text will be pushed: the end of the text ends a word.
        self._complete = False

    @property
    def credited(self) -> int:
        """How many characters of the reply have segments."""
        return self._done

    def push(self, text: str) -> None:
        self._text += text

    def complete(self) -> list[SpokenSegment]:
        """No more text comes: a mark at its end credits the last word at once
        (a held one now, at its own time), not only at ``finish``."""
        self._complete = True
        out: list[SpokenSegment] = []
        self._settle(out, final=True)
        return out

    def add_audio(self, samples: int) -> list[SpokenSegment]:
        """Audio without anything said about its text."""
        return self.add(SpeechChunk(), samples)

    def add(self, chunk: SpeechChunk, samples: int) -> list[SpokenSegment]:
        """``chunk`` played as ``samples`` output samples (offsets are the reply's)."""
        out: list[SpokenSegment] = []
        start = self._end
        self._settle(out, final=self._complete)
        if chunk.resumes_at is not None:
            self._resume(chunk.resumes_at, start, out)
        self._end += max(0, samples)
        self._limit = chunk.upto
        for mark in chunk.marks:
            self._exact(mark.offset, start + round(mark.at_ms * self._rate / 1000), out)
        if not chunk.marks:
            self._estimate(out)
        return out

    def finish(self) -> list[SpokenSegment]:
        out: list[SpokenSegment] = []
        self._settle(out, final=True)
        rest, self._text = self._text[self._done :].strip(), ""
        credit = self._end - self._at
        self._reset()
        if rest:
            out.append(SpokenSegment(rest, max(credit, 1)))
        return out

    def _credit(self, offset: int, position: int, out: list[SpokenSegment]) -> None:
        """text[_done:offset] (ending on a word end) has played by ``position``."""
        if offset <= self._done:
            return
        out.append(SpokenSegment(self._text[self._done : offset], position - self._at, True))
        self._done, self._at = offset, position
        self._from = max(self._from, offset)
        self._base = max(self._base, position)
        if self._held is not None and self._held[0] <= offset:
            self._held = None

    def _exact(self, offset: int, position: int, out: list[SpokenSegment]) -> None:
        offset = min(offset, len(self._text))
        if offset <= self._from:
            if offset == self._from:
                # Reached already (or credited by the estimate): what follows starts no earlier.
                self._base = max(self._base, position)
            return  # or said again after a fallback
        position = max(position, self._at)
        self._from = offset
        self._base = max(self._base, position)
        self._held = None
        self._credit(self._last_word_end(offset), position, out)
        if self._done < offset and word_end(self._text, offset, final=self._complete) is None:
            self._held = (offset, position)

    def _settle(self, out: list[SpokenSegment], *, final: bool) -> None:
        """Credit the held exact point if its word turned out to end there."""
        if self._held is None:
            return
        offset, position = self._held
        ends = word_end(self._text, offset, final=final)
        if ends is None:
            return
        self._held = None
        if ends:
            self._credit(offset, position, out)

    def _last_word_end(self, offset: int) -> int:
        """The furthest certain word end in text[:offset] (``_done`` if none past it)."""
        text = self._text
        at = self._scanned
        while at < offset:
            ends = word_end(text, at + 1, final=self._complete)
            if ends is None:
                break
            at += 1
            if ends:
                self._last_end = at
        self._scanned = at
        return max(self._last_end, self._done)

    def _estimate(self, out: list[SpokenSegment]) -> None:
        while (word := _complete_word(self._text, self._done, self._limit)) is not None:
            start, end = word
            # Characters up to the last exact point were paid for by its audio.
            cost = math.ceil((end - max(start, self._from) + 1) * self._samples_per_char)
            position = max(self._at, self._base) + cost
            if position > self._end:
                break
            self._credit(end, position, out)

    def _resume(self, offset: int, start: int, out: list[SpokenSegment]) -> None:
        if offset > self._from:
            # The voice that stopped had got this far: all of it has played by now.
            self._exact(offset, start, out)
            return
        # The new voice says text[offset:_from] again before anything new.
        again = self._text[offset : self._from]
        debt = math.ceil(len(again.strip()) * self._samples_per_char) if again.strip() else 0
        self._base = max(self._at, start) + debt


def word_end(text: str, offset: int, *, final: bool) -> bool | None:
    """Whether a word of ``text`` ends at ``offset`` (nothing is cut there), or
    None while that depends on text still to come.

    Words run between whitespace; a character of a script written without
    spaces is a word of its own. The end of ``final`` text ends a word.
    """
    if offset <= 0:
        return True
    before = text[offset - 1]
    if before.isspace() or _unspaced(before):
        return True
    if offset >= len(text):
        return True if final else None
    after = text[offset]
    return after.isspace() or _unspaced(after)


def _unspaced(char: str) -> bool:
    """A character of a script written without spaces between words: CJK
    symbols and punctuation, kana, Han ideographs, full-width forms."""
    code = ord(char)
    return (
        0x3000 <= code <= 0x30FF
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF
        or 0x20000 <= code <= 0x3FFFF
    )


def _complete_word(text: str, at: int, limit: int | None) -> tuple[int, int] | None:
    """(start, end) of the first word of ``text[at:limit]`` if whitespace follows
    it there. The last word of a voiced segment (``limit``) is left to the mark
    that ends the segment."""
    stop = len(text) if limit is None else min(limit, len(text))
    start = at
    while start < stop and text[start].isspace():
        start += 1
    end = start
    while end < stop and not text[end].isspace():
        end += 1
    if end == start or end >= stop:
        return None
    return start, end
