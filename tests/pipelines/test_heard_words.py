"""A barge-in keeps only whole words: whatever the voice says about its text
(per-character marks, per-segment marks, nothing), ``heard_text`` over the
``StreamAligner``'s segments never ends part-way through a word, and a word
counts only once its last character has played. Pure: no event loop."""

from __future__ import annotations

import random
import re

import pytest

from pipelines.providers.base import SpeechChunk, TextMark
from pipelines.text import SpokenSegment, StreamAligner, heard_text, word_end

# 1000 samples a second and 10 ms a character: character k ends at sample 10 * k.
RATE = 1000
MS = 10

# Han, kana and their punctuation: written without spaces, a word per character.
_UNSPACED = "\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_UNFINISHED = re.compile(f"[^\\s{_UNSPACED}]+$")
_UNSPACED_CHAR = re.compile(f"[{_UNSPACED}]")


def whole_words(reply: str, chars: int) -> str:
    """What a listener who heard ``reply[:chars]`` heard in whole words."""
    head, rest = reply[:chars], reply[chars:]
    mid_word = head and rest and not head[-1].isspace() and not rest[0].isspace()
    if mid_word and not (_UNSPACED_CHAR.match(head[-1]) or _UNSPACED_CHAR.match(rest[0])):
        head = _UNFINISHED.sub("", head)
    return head.strip()


def per_char(start: int, end: int, first_ms: float) -> SpeechChunk:
    """Audio voicing ``text[start:end]``, a character every ``MS`` from ``first_ms``."""
    marks = tuple(TextMark(i + 1, first_ms + (i - start + 1) * MS) for i in range(start, end))
    return SpeechChunk(b"\0\0" * ((end - start) * MS), marks)


def voice_per_char(reply: str, chunk: int = 7, *, finish: bool = True) -> list[SpokenSegment]:
    """``reply``, pushed whole, voiced by a per-character voice (ElevenLabs) in
    audio messages of ``chunk`` characters (so they end mid-word)."""
    aligner = StreamAligner(RATE)
    aligner.push(reply)
    segments: list[SpokenSegment] = []
    for start in range(0, len(reply), chunk):
        end = min(start + chunk, len(reply))
        segments += aligner.add(per_char(start, end, 0.0), (end - start) * MS)
    if finish:
        segments += aligner.finish()
    return segments


SENTENCES = [
    "Sure, I can move it. Anything else?",
    "Well... \"it's\" 5% off, isn't it?! (Yes.)",
    "Sure,  I   can\tmove it.\nAnything   else?",
    "Größe: naïve café, Ærøskøbing, Ελληνικά, русский текст.",
    "Thé cafe\u0301 au lait.",
    "好的，我可以帮你改到星期五。还有别的吗？",
    "OK，好的 then: 東京 tomorrow.",
    "x",
    "supercalifragilistic",
]


@pytest.mark.parametrize("reply", SENTENCES)
def test_a_cut_after_every_character_keeps_only_the_words_that_ended(reply: str) -> None:
    segments = voice_per_char(reply)
    for k in range(len(reply) + 1):
        expected = whole_words(reply, k)
        # Just as character k's audio ended, midway through the next, and just before.
        assert heard_text(segments, k * MS) == expected, k
        assert heard_text(segments, k * MS + MS // 2) == expected, k
        if k:
            assert heard_text(segments, k * MS - 1) == whole_words(reply, k - 1), k


def test_the_words_of_a_sentence_one_cut_at_a_time() -> None:
    reply = "Sure, I can move it."
    segments = voice_per_char(reply, chunk=3)
    # (characters played, heard) where what is heard changes: nothing of
    # "Sure," before its comma, "move" only once its "e" played.
    steps = [(0, ""), (5, "Sure,"), (7, "Sure, I"), (11, "Sure, I can")]
    steps += [(16, "Sure, I can move"), (20, "Sure, I can move it.")]
    for (chars, heard), (until, _) in zip(steps, [*steps[1:], (21, "")], strict=True):
        for k in range(chars, until):
            assert heard_text(segments, k * MS) == heard, k


def test_whitespace_inside_is_kept_as_voiced_and_trimmed_at_the_ends() -> None:
    reply = "  Sure,  I\tcan\n\nmove it.  "
    segments = voice_per_char(reply)
    assert heard_text(segments, 9 * MS) == "Sure,"
    assert heard_text(segments, 10 * MS) == "Sure,  I"
    assert heard_text(segments, 17 * MS) == "Sure,  I\tcan"
    assert heard_text(segments, len(reply) * MS) == "Sure,  I\tcan\n\nmove it."


def test_a_combining_accent_is_part_of_its_word() -> None:
    reply = "cafe\u0301 noir"
    segments = voice_per_char(reply)
    # "cafe" without its accent is not a word that was said.
    assert heard_text(segments, 4 * MS) == ""
    assert heard_text(segments, 5 * MS) == "cafe\u0301"


def test_nothing_is_heard_before_the_first_word_ends() -> None:
    reply = "Absolutely, let me check."
    segments = voice_per_char(reply)
    for k in range(len("Absolutely,")):
        assert heard_text(segments, k * MS) == ""
    assert heard_text(segments, 11 * MS) == "Absolutely,"
    # Nothing voiced at all, or nothing to voice.
    assert heard_text([], 10_000) == ""
    empty = StreamAligner(RATE)
    empty.push("   ")
    out = empty.add(SpeechChunk(b"\0\0" * 30, (TextMark(3, 30.0),)), 30)
    assert heard_text(out + empty.finish(), 10_000) == ""


def test_a_mark_at_the_end_of_the_text_so_far_waits_for_what_follows() -> None:
    a = StreamAligner(RATE)
    a.push("Sure, I can mo")
    # The voice got to the end of the text pushed so far (a flush mid-word).
    out = a.add(per_char(0, 14, 0.0), 140)
    assert heard_text(out, 10_000) == "Sure, I can"
    a.push("ve it")
    # "mo" did not end a word: nothing more, whatever the audio.
    out += a.add(SpeechChunk(), 0)
    assert heard_text(out, 10_000) == "Sure, I can"
    out += a.add(per_char(14, 19, 0.0), 50)
    assert heard_text(out, 159) == "Sure, I can"
    assert heard_text(out, 160) == "Sure, I can move"
    # "it" ended the text: it counts once the text goes on past it...
    a.push(" and")
    out += a.add(SpeechChunk(), 0)
    assert heard_text(out, 189) == "Sure, I can move"
    assert heard_text(out, 190) == "Sure, I can move it"
    # ... unless what follows is more of the word ("it." is the word, not "it").
    c = StreamAligner(RATE)
    c.push("Move it")
    out = c.add(per_char(0, 7, 0.0), 70)
    c.push(". Yes")
    assert heard_text(out + c.add(SpeechChunk(), 0), 10_000) == "Move"
    # ... or the reply is over.
    b = StreamAligner(RATE)
    b.push("Yes")
    out = b.add(per_char(0, 3, 0.0), 30)
    assert out == []
    assert b.finish() == [SpokenSegment("Yes", 30, True)]


def test_text_arriving_in_pieces_that_end_mid_word() -> None:
    reply = "Sure, I can move your booking to Friday. 好的，谢谢！ Anything else?"
    rng = random.Random(7)
    for _ in range(50):
        a = StreamAligner(RATE)
        segments: list[SpokenSegment] = []
        pushed = voiced = 0
        while voiced < len(reply):
            # The LLM writes a few characters; the voice says some or all of
            # what it has (up to the end of the text so far), in one message.
            more = min(len(reply), pushed + rng.randint(1, 6))
            a.push(reply[pushed:more])
            pushed = more
            upto = rng.randint(voiced, pushed)
            segments += a.add(per_char(voiced, upto, 0.0), (upto - voiced) * MS)
            voiced = upto
        segments += a.finish()
        for k in range(len(reply) + 1):
            assert heard_text(segments, k * MS) == whole_words(reply, k), k


@pytest.mark.parametrize("seed", range(30))
def test_random_replies_never_end_mid_word_or_before_a_word_played(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = ["a", "é", "ß", "Ж", "7", ",", ".", "'", "-", "?", " ", " ", "  ", "\n", "好", "。"]
    reply = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
    finished = rng.random() < 0.5
    segments = voice_per_char(reply, chunk=rng.randint(1, 9), finish=finished)
    last = ""
    for k in range(len(reply) + 1):
        heard = heard_text(segments, k * MS)
        assert len(heard) >= len(last)
        last = heard
        # A prefix of the reply (trimmed), ending where a word does, and of the
        # characters played.
        start = len(reply) - len(reply.lstrip())
        assert reply[start:].startswith(heard)
        cut = start + len(heard)
        assert not heard or whole_words(reply, cut) == heard
        assert cut <= max(k, start)
        if finished or k < len(reply):
            # Exactly the words played (the last waits for the reply's end).
            assert heard == whole_words(reply, k), k


# ---------------------------------------------------------------- a fallback voice


def test_a_fallback_voice_resuming_at_the_word_says_it_whole_before_it_counts() -> None:
    reply = "Sure, I can move it. Anything else?"
    a = StreamAligner(RATE)
    a.push(reply)
    segments = a.add(per_char(0, 14, 0.0), 140)  # "Sure, I can mo", then the voice fails
    assert heard_text(segments, 10_000) == "Sure, I can"
    # The next voice starts again at "move" (offset 12), 200 ms on, with marks of its own.
    segments += a.add(SpeechChunk(b"\0\0" * 60, resumes_at=12), 60)
    new = tuple(TextMark(i + 1, (i - 11) * 20.0) for i in range(12, 20))  # 20 ms a character
    segments += a.add(SpeechChunk(b"\0\0" * 160, new), 160)
    # "mo" again is ignored (voiced already); "move" ends with its "e", 80 ms in.
    assert heard_text(segments, 200 + 79) == "Sure, I can"
    assert heard_text(segments, 200 + 80) == "Sure, I can move"
    assert heard_text(segments, 200 + 160) == "Sure, I can move it."


def test_a_fallback_voice_resuming_mid_word_credits_no_part_of_it() -> None:
    reply = "Sure, I can move it."
    a = StreamAligner(RATE)
    a.push(reply)
    segments = a.add(per_char(0, 9, 0.0), 90)  # "Sure, I c"
    # Resuming at "mo|ve", past what the first voice's marks reached: its
    # audio had voiced that far by the switch.
    segments += a.add(SpeechChunk(resumes_at=14), 0)
    assert heard_text(segments, 89) == "Sure, I"
    assert heard_text(segments, 10_000) == "Sure, I can"
    segments += a.add(SpeechChunk(b"\0\0" * 300), 300)
    # Without marks, "ve " at the slow rate (11 chars/s: 91 ms a character)
    # counts from the resume point, so "move" needs 3 * 91 ms after 90 ms.
    assert heard_text(segments, 90 + 272) == "Sure, I can"
    assert heard_text(segments, 90 + 273) == "Sure, I can move"


# ---------------------------------------------------------------- per-segment marks and estimates


def test_a_segment_flushed_mid_word_keeps_its_whole_words_and_finishes_the_word_later() -> None:
    # Deepgram: the first flush came when the text pushed ended in "Anyth".
    reply = "Sure, I can move it. Anything else? "
    flushed = reply.index("Anyth") + len("Anyth")
    a = StreamAligner(RATE, chars_per_second=10.0)  # 100 ms a character
    a.push(reply)
    segments = a.add(SpeechChunk(b"\0\0" * 2000, upto=flushed), 2000)
    segments += a.add(SpeechChunk(marks=(TextMark(flushed, 0.0),)), 0)
    # Within the segment, the estimate credits the words it has paid for.
    assert heard_text(segments, 1999) == "Sure, I can move"
    # Every whole word of the segment, by its end; "Anyth" is not a word.
    assert heard_text(segments, 2000) == "Sure, I can move it."
    # The next segment's first word needs "ing" and a space of audio (400 ms)
    # past the flush, at the slow rate: its start was voiced already.
    segments += a.add(SpeechChunk(b"\0\0" * 399, upto=len(reply)), 399)
    assert heard_text(segments, 10_000) == "Sure, I can move it."
    segments += a.add(SpeechChunk(b"\0\0"), 1)
    assert heard_text(segments, 2399) == "Sure, I can move it."
    assert heard_text(segments, 2400) == "Sure, I can move it. Anything"


def test_per_character_marks_that_stop_mid_word_leave_the_rest_to_the_estimate() -> None:
    reply = "Sure, I can move it. "
    a = StreamAligner(RATE, chars_per_second=10.0)
    a.push(reply)
    segments = a.add(per_char(0, 14, 0.0), 140)  # "Sure, I can mo"
    # The rest comes without marks (the alignment was dropped): "ve " costs
    # 300 ms from the last mark, not "move " from the last word.
    segments += a.add(SpeechChunk(b"\0\0" * 299), 299)
    assert heard_text(segments, 10_000) == "Sure, I can"
    segments += a.add(SpeechChunk(b"\0\0"), 1)
    assert heard_text(segments, 439) == "Sure, I can"
    assert heard_text(segments, 440) == "Sure, I can move"


def test_the_estimate_alone_still_waits_for_each_word_at_the_slow_rate() -> None:
    reply = "Größe naïve café. "
    a = StreamAligner(RATE, chars_per_second=10.0)
    a.push(reply)
    segments = a.add_audio(599)
    assert heard_text(segments, 10_000) == ""
    segments += a.add_audio(1)
    assert heard_text(segments, 600) == "Größe"
    segments += a.add_audio(10_000)
    # Each word, plus a space, at 100 ms a character from the one before.
    assert [s.samples for s in segments] == [600, 600, 600]
    assert heard_text(segments, 10_000) == "Größe naïve café."


# ---------------------------------------------------------------- word_end


@pytest.mark.parametrize(
    ("text", "offset", "final", "expected"),
    [
        ("move it", 0, False, True),
        ("move it", 2, False, False),
        ("move it", 4, False, True),
        ("move it", 5, False, True),
        ("move it", 7, False, None),
        ("move it", 7, True, True),
        ("it.", 2, True, False),
        ("it. ", 3, False, True),
        ("don't", 3, True, False),
        ("好的", 1, False, True),
        ("好的", 2, False, True),
        ("OK好", 2, False, True),
        ("OK好", 1, False, False),
        ("a\u00a0b", 1, False, True),
    ],
)
def test_word_end(text: str, offset: int, final: bool, expected: bool | None) -> None:
    assert word_end(text, offset, final=final) is expected
