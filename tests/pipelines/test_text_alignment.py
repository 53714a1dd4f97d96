"""StreamAligner with what the voice says about its text: exact marks, segment
bounds, a fallback voice resuming; and heard_text over what it produced."""

from __future__ import annotations

from pipelines.providers.base import SpeechChunk, TextMark
from pipelines.text import SpokenSegment, StreamAligner, heard_text

# 1000 samples a second: 1 ms is one sample.
RATE = 1000
REPLY = "Sure, I can move it. Anything else?"


def aligner(text: str = REPLY, chars_per_second: float = 10.0) -> StreamAligner:
    a = StreamAligner(RATE, chars_per_second=chars_per_second)
    a.push(text)
    return a


def per_char(text: str, start: int, end: int, ms: float, first_at: float = 0.0) -> SpeechChunk:
    """A chunk voicing ``text[start:end]``, one character every ``ms``."""
    marks = tuple(TextMark(i + 1, first_at + (i - start + 1) * ms) for i in range(start, end))
    return SpeechChunk(b"\0\0" * round((end - start) * ms), marks)


def test_exact_marks_cut_at_the_last_word_whose_audio_ended() -> None:
    a = aligner()
    segments: list[SpokenSegment] = []
    # Two audio chunks of 50 ms per character, as ElevenLabs sends them.
    for start, end in ((0, 12), (12, len(REPLY))):
        chunk = per_char(REPLY, start, end, 50.0)
        segments += a.add(chunk, len(chunk.audio) // 2)
    # "else?" ends the text pushed so far: it may go on, so it waits.
    assert a.credited == len(REPLY) - len("else?")
    assert heard_text(segments, 0) == ""
    assert heard_text(segments, 199) == ""
    # "Sure," ends with its comma, the 5th character.
    assert heard_text(segments, 249) == ""
    assert heard_text(segments, 250) == "Sure,"
    # 13 characters ("Sure, I can m") have fully played at 650 ms: "move" has not.
    assert heard_text(segments, 650) == "Sure, I can"
    assert heard_text(segments, 799) == "Sure, I can"
    assert heard_text(segments, 800) == "Sure, I can move"
    assert heard_text(segments, 10_000) == "Sure, I can move it. Anything"
    segments += a.finish()
    assert segments[-1] == SpokenSegment("else?", 250, True)
    assert heard_text(segments, 1749) == "Sure, I can move it. Anything"
    assert heard_text(segments, 1750) == REPLY


def test_marks_beat_the_estimate_when_the_voice_is_slower_than_it() -> None:
    # A slow voice (5 chars/s): the estimate (10 chars/s) would claim words early.
    a = aligner()
    chunk = per_char(REPLY, 0, 11, 200.0)
    segments = a.add(chunk, len(chunk.audio) // 2)
    assert heard_text(segments, 1000) == "Sure,"
    estimate = aligner()
    assert heard_text(estimate.add_audio(1000), 1000) == "Sure, I"


def test_audio_without_marks_is_estimated_from_the_last_exact_point() -> None:
    a = aligner()
    chunk = per_char(REPLY, 0, 5, 100.0)  # "Sure," exactly, in 500 ms
    segments = a.add(chunk, 500)
    # Then 700 ms without marks: a word costs (chars + 1) * 100 ms from the
    # exact point: " I" (200) and " can" (400) fit, " move" (500) does not.
    segments += a.add(SpeechChunk(b"\0\0" * 700), 700)
    assert [s.text for s in segments][-2:] == [" I", " can"]
    assert heard_text(segments, 1099) == "Sure, I"
    assert heard_text(segments, 1100) == "Sure, I can"


def test_a_flushed_segment_is_cut_at_its_end_and_estimated_only_within_it() -> None:
    text = "Yes. Of course."
    a = aligner(text, chars_per_second=10.0)
    segments: list[SpokenSegment] = []
    # Segment "Yes." voiced in 900 ms (a slow voice): its last word waits for
    # the segment's end, however much audio came.
    segments += a.add(SpeechChunk(b"\0\0" * 900, upto=4), 900)
    assert segments == []
    # Flushed: the segment's audio ends here, exactly.
    segments += a.add(SpeechChunk(marks=(TextMark(4, 0.0),)), 0)
    assert segments == [SpokenSegment("Yes.", 900, True)]
    # The next segment is estimated from there: " Of" needs 300 ms.
    segments += a.add(SpeechChunk(b"\0\0" * 299, upto=len(text)), 299)
    assert heard_text(segments, 899) == ""
    assert heard_text(segments, 10_000) == "Yes."
    segments += a.add(SpeechChunk(b"\0\0" * 700, upto=len(text)), 700)
    assert heard_text(segments, 1199) == "Yes."
    assert heard_text(segments, 1200) == "Yes. Of"
    segments += a.add(SpeechChunk(marks=(TextMark(len(text), 0.0),)), 0)
    # The end of the text pushed so far: "course." is credited once the reply is over.
    assert heard_text(segments, 10_000) == "Yes. Of"
    segments += a.finish()
    assert heard_text(segments, 1898) == "Yes. Of"
    assert heard_text(segments, 1899) == text


def test_an_exact_point_after_the_estimate_moves_the_estimate_on() -> None:
    a = aligner("Yes. Of course.")
    a.add_audio(500)  # the estimate credits "Yes." at 500 ms
    assert a.credited == 4
    # The voice says "Yes." really ended at 900 ms: " Of" is counted from there.
    a.add(SpeechChunk(b"\0\0" * 400, (TextMark(4, 400.0),)), 400)
    assert a.add_audio(299) == []
    assert a.add_audio(1) == [SpokenSegment(" Of", 700, True)]  # 500 ms -> 1200 ms


def test_a_fallback_voice_pays_again_for_the_words_it_repeats() -> None:
    a = aligner()
    segments = a.add(per_char(REPLY, 0, 13, 50.0), 650)  # "Sure, I can m"
    assert a.credited == 12  # "m" is not a word
    # The next voice resumes at "move" (offset 12) and says "m" again.
    segments += a.add(SpeechChunk(resumes_at=12), 0)
    # Without marks: "m" again costs 100 ms, then "ove " 400 ms.
    segments += a.add(SpeechChunk(b"\0\0" * 499), 499)
    assert heard_text(segments, 10_000) == "Sure, I can"
    segments += a.add(SpeechChunk(b"\0\0"), 1)
    assert heard_text(segments, 10_000) == "Sure, I can move"
    # Marks from the new voice for text already credited are ignored.
    shifted = SpeechChunk(b"", (TextMark(13, 0.0), TextMark(16, 0.0)))
    assert a.add(shifted, 0) == []


def test_a_fallback_resuming_past_the_credited_text_credits_it_at_once() -> None:
    a = aligner()
    a.add(SpeechChunk(b"\0\0" * 100), 100)  # not enough for a word
    assert a.credited == 0
    out = a.add(SpeechChunk(resumes_at=12), 0)
    assert out == [SpokenSegment("Sure, I can ", 100, True)]


def test_marks_past_the_text_or_going_back_are_bounded() -> None:
    a = aligner("Hi there")
    out = a.add(SpeechChunk(b"\0\0" * 10, (TextMark(3, 5.0), TextMark(2, 9.0))), 10)
    assert out == [SpokenSegment("Hi ", 5, True)]
    # Bounded to the end of the text, where "there" waits for the reply to end.
    assert a.add(SpeechChunk(b"", (TextMark(99, 0.0),)), 0) == []
    assert a.finish() == [SpokenSegment("there", 5, True)]


def test_heard_text_mixes_verbatim_and_stripped_segments() -> None:
    segments = [SpokenSegment("One two", 100, True), SpokenSegment("three four", 100)]
    assert heard_text(segments, 100) == "One two"
    assert heard_text(segments, 150) == "One two three"
    assert heard_text(segments, 200) == "One two three four"


def test_complete_text_credits_a_held_last_word_from_its_mark() -> None:
    a = aligner()
    chunk = per_char(REPLY, 0, len(REPLY), 50.0)
    segments = a.add(chunk, len(chunk.audio) // 2)
    assert a.credited == len(REPLY) - len("else?")  # "else?" may go on: held
    # The LLM finished: the text ends there, so "else?" ended at its mark (1750 ms).
    segments += a.complete()
    assert a.credited == len(REPLY)
    assert segments[-1] == SpokenSegment("else?", 250, True)
    assert heard_text(segments, 1749) == "Sure, I can move it. Anything"
    assert heard_text(segments, 1750) == REPLY
    assert a.finish() == []


def test_a_mark_at_the_end_of_complete_text_is_credited_when_it_comes() -> None:
    a = aligner()
    assert a.complete() == []
    first = per_char(REPLY, 0, 12, 50.0)
    segments = a.add(first, len(first.audio) // 2)
    rest = per_char(REPLY, 12, len(REPLY), 50.0)
    segments += a.add(rest, len(rest.audio) // 2)
    assert a.credited == len(REPLY)
    assert heard_text(segments, 1750) == REPLY and heard_text(segments, 1749) != REPLY


def test_without_complete_a_mark_at_the_end_of_the_text_still_waits() -> None:
    a = aligner("Sure, I can")
    chunk = per_char("Sure, I can", 0, len("Sure, I can"), 50.0)
    a.add(chunk, len(chunk.audio) // 2)
    assert a.credited == len("Sure, I ")
    a.push("not")  # "can" went on as "cannot": crediting it would have been wrong
    a.add_audio(0)
    assert a.credited == len("Sure, I ")
