from __future__ import annotations

from pipelines.text import SentenceAggregator, SpokenSegment, StreamAligner, heard_text


def feed(agg: SentenceAggregator, text: str, step: int = 3) -> list[str]:
    out: list[str] = []
    for i in range(0, len(text), step):
        out += agg.push(text[i : i + step])
    rest = agg.flush()
    return out + ([rest] if rest else [])


def test_sentences_are_released_as_soon_as_they_end() -> None:
    agg = SentenceAggregator()
    assert agg.push("Hello there. How") == ["Hello there."]
    assert agg.push(" are you?") == []
    assert agg.push(" Fine") == ["How are you?"]
    assert agg.flush() == "Fine"
    assert agg.flush() is None


def test_abbreviations_and_decimals_do_not_split() -> None:
    text = "Dr. Smith paid 4.50 dollars today. Then left."
    assert feed(SentenceAggregator(), text) == ["Dr. Smith paid 4.50 dollars today.", "Then left."]


def test_a_long_first_clause_is_cut_at_a_comma() -> None:
    agg = SentenceAggregator(first_clause_chars=20)
    first = agg.push("Well, considering everything you told me, the answer")
    assert first == ["Well, considering everything you told me,"]
    # Only the first release may be a clause.
    assert agg.push(" is yes, and also, more words follow here") == []


def test_runaway_text_without_punctuation_is_cut_at_max_chars() -> None:
    out = feed(SentenceAggregator(max_chars=50), "word " * 40)
    assert all(len(s) <= 50 for s in out)
    assert " ".join(out).split() == ["word"] * 40


def test_heard_text_keeps_whole_segments_and_a_proportional_part() -> None:
    segments = [SpokenSegment("One two three.", 300), SpokenSegment("Four five six seven.", 400)]
    assert heard_text(segments, 0) == ""
    assert heard_text(segments, 299) == "One two"
    assert heard_text(segments, 300) == "One two three."
    assert heard_text(segments, 500) == "One two three. Four five"
    assert heard_text(segments, 10_000) == "One two three. Four five six seven."


def test_stream_aligner_credits_whole_words_at_the_slow_rate() -> None:
    # 10 samples a second at 1 char a second: a word costs (chars + 1) * 10 samples.
    aligner = StreamAligner(10, chars_per_second=1.0)
    aligner.push("Hi there, frie")
    assert aligner.add_audio(29) == []
    assert aligner.add_audio(1) == [SpokenSegment("Hi", 30, True)]
    # "there," is paid for; "frie" is not a whole word yet whatever the audio.
    assert aligner.add_audio(500) == [SpokenSegment(" there,", 70, True)]
    aligner.push("nd. ")
    assert aligner.add_audio(0) == [SpokenSegment(" friend.", 80, True)]
    segments = [
        SpokenSegment("Hi", 30, True),
        SpokenSegment(" there,", 70, True),
        SpokenSegment(" friend.", 80, True),
    ]
    assert heard_text(segments, 99) == "Hi"
    assert heard_text(segments, 100) == "Hi there,"
    assert heard_text(segments, 180) == "Hi there, friend."


def test_stream_aligner_gives_the_rest_the_leftover_audio_at_the_end() -> None:
    aligner = StreamAligner(10, chars_per_second=1.0)
    aligner.push("one two three four")
    assert aligner.add_audio(45) == [SpokenSegment("one", 40, True)]
    assert aligner.finish() == [SpokenSegment("two three four", 5)]
    aligner.push("five")
    assert aligner.finish() == [SpokenSegment("five", 1)]
    assert aligner.finish() == []
