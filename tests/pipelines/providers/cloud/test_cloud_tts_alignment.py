"""Which text the socket voices' audio voices: ElevenLabs' per-character
alignment, Deepgram's flushed segments, and what happens when the provider's
timings are missing or do not hold up. Against the wire fakes, whose audio is
``encode_text`` speech, so every claim is checked against the audio itself."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from pipelines.providers.base import SpeechChunk
from pipelines.providers.cloud import DeepgramStreamingTTS, ElevenLabsStreamingTTS
from pipelines.providers.cloud.tts_alignment import (
    BadAlignment,
    CharTimings,
    TextMatcher,
    parse_char_timings,
)
from pipelines.text import SpokenSegment, StreamAligner, heard_text
from tests.fakes import TEST_API_KEY as API_KEY
from tests.fakes import DeepgramFake, ElevenLabsFake
from tests.fakes.audio import decode_text, samples_per_char
from tests.fakes.tts_sockets import alignment_knobs

RATE = 16_000
# 20 characters a second: 50 ms, 800 samples a character.
CPS = 20.0
PER = samples_per_char(RATE, CPS)
# The provider's timings are whole milliseconds (16 samples): a barge-in is
# placed more than that from a character's edge.
EDGE = 20
TEXT = (
    "Hello there, how can I help you with your booking today? "
    "I can change the date, the time, or the number of guests for you."
)


def collapse(text: str) -> str:
    return " ".join(text.split())


def words_played(voiced: str, chars: int) -> str:
    """The whole words among the first ``chars`` voiced characters (collapsed):
    a word counts once its last character has played."""
    played = voiced[:chars]
    words = played.split()
    if words and not played[-1].isspace() and chars < len(voiced) and not voiced[chars].isspace():
        words.pop()
    return " ".join(words)


def ends_on_a_word(reply: str, heard: str) -> bool:
    if not reply.startswith(heard):
        return False
    return not heard or len(heard) == len(reply) or reply[len(heard)].isspace()


@pytest.fixture
async def eleven() -> AsyncIterator[ElevenLabsFake]:
    async with ElevenLabsFake() as fake:
        fake.chars_per_second = CPS
        yield fake


@pytest.fixture
async def deepgram() -> AsyncIterator[DeepgramFake]:
    async with DeepgramFake() as fake:
        fake.chars_per_second = CPS
        yield fake


def eleven_tts(fake: ElevenLabsFake) -> ElevenLabsStreamingTTS:
    return ElevenLabsStreamingTTS(
        api_key=API_KEY, voice_id="voice-1", base_url=fake.http_url, sample_rate=RATE
    )


def deepgram_tts(fake: DeepgramFake) -> DeepgramStreamingTTS:
    return DeepgramStreamingTTS(api_key=API_KEY, base_url=fake.http_url, sample_rate=RATE)


async def speak(tts: ElevenLabsStreamingTTS | DeepgramStreamingTTS) -> list[SpeechChunk]:
    stream = await tts.open_stream()
    for token in TEXT.split(" "):
        stream.push_text(token + " ")
    stream.end_input()
    return [chunk async for chunk in stream.speech()]


def align(chunks: list[SpeechChunk]) -> tuple[list[SpokenSegment], str]:
    """The segments a reply of ``TEXT`` gets from ``chunks``, and the voiced text."""
    aligner = StreamAligner(RATE)
    aligner.push(pushed())
    segments: list[SpokenSegment] = []
    for chunk in chunks:
        segments += aligner.add(chunk, len(chunk.audio) // 2)
    segments += aligner.finish()
    voiced = decode_text(b"".join(c.audio for c in chunks), RATE, CPS)
    return segments, voiced


def pushed() -> str:
    return "".join(token + " " for token in TEXT.split(" "))


# ---------------------------------------------------------------- ElevenLabs


async def test_elevenlabs_barge_in_keeps_exactly_the_words_whose_audio_played(
    eleven: ElevenLabsFake,
) -> None:
    chunks = await speak(eleven_tts(eleven))
    assert sum(len(c.marks) for c in chunks) >= len(TEXT.replace(" ", ""))
    segments, voiced = align(chunks)
    reply = pushed()
    # At every point of the reply, just before a character's audio ends, just
    # after, and midway: the history holds exactly the words fully played,
    # never the start of a word still being spoken.
    for k in range(1, len(voiced)):
        for played in (k * PER - EDGE, k * PER + EDGE, k * PER + PER // 2):
            heard = heard_text(segments, played)
            assert ends_on_a_word(reply, heard), heard
            assert collapse(heard) == words_played(voiced, played // PER), played


async def test_elevenlabs_null_alignment_falls_back_to_the_estimate(
    eleven: ElevenLabsFake,
) -> None:
    alignment_knobs(eleven).mode = "null"
    tts = eleven_tts(eleven)
    chunks = await speak(tts)
    assert not any(c.marks for c in chunks)
    assert not tts.alignment_faults  # null is allowed: nothing to count
    segments, voiced = align(chunks)
    estimate = StreamAligner(RATE)
    estimate.push(pushed())
    expected: list[SpokenSegment] = []
    for chunk in chunks:
        expected += estimate.add_audio(len(chunk.audio) // 2)
    assert segments == expected + estimate.finish()
    # The estimate never claims a character before its audio played.
    for played in range(0, len(voiced) * PER, 397):
        assert len(collapse(heard_text(segments, played))) <= len(collapse(voiced[: played // PER]))


async def test_elevenlabs_alignment_absent_or_only_normalized(eleven: ElevenLabsFake) -> None:
    alignment_knobs(eleven).mode = "absent"
    chunks = await speak(eleven_tts(eleven))
    assert not any(c.marks for c in chunks)
    alignment_knobs(eleven).mode = "normalized"
    chunks = await speak(eleven_tts(eleven))
    segments, voiced = align(chunks)
    assert words_played(voiced, 40)
    assert collapse(heard_text(segments, 40 * PER + EDGE)) == words_played(voiced, 40)


async def test_elevenlabs_gaps_of_null_alignment_are_found_again(eleven: ElevenLabsFake) -> None:
    alignment_knobs(eleven).null_every = 3
    tts = eleven_tts(eleven)
    chunks = await speak(tts)
    assert not tts.alignment_faults
    segments, voiced = align(chunks)
    # Whether each audio message came with timings, and where it starts (the
    # fake cuts its audio every ``chunk_bytes``, one message each).
    marks = [bool(c.marks) for c in chunks if c.audio]
    starts = [(i * eleven.chunk_bytes / 2, m) for i, m in enumerate(marks)]
    exact = word_ends = 0
    for k in range(1, len(voiced)):
        heard = collapse(heard_text(segments, k * PER + EDGE))
        played = words_played(voiced, k).split()
        assert heard.split() == played[: len(heard.split())]  # never more than played
        # A word whose last character's audio message had timings is cut exactly.
        _, marked = [s for s in starts if s[0] <= (k - 1) * PER][-1]
        if voiced[k - 1] != " " and (k == len(voiced) or voiced[k] == " "):
            word_ends += 1
            if marked:
                assert heard == " ".join(played)
                exact += 1
    assert exact > word_ends // 2


@pytest.mark.parametrize("malformed", ["lengths", "negative", "missing"])
async def test_elevenlabs_malformed_alignment_is_counted_and_the_estimate_takes_over(
    eleven: ElevenLabsFake, malformed: Any
) -> None:
    knobs = alignment_knobs(eleven)
    knobs.malformed, knobs.malformed_at = malformed, 2
    tts = eleven_tts(eleven)
    chunks = await speak(tts)
    assert tts.alignment_faults == {"malformed": 1}
    # Marks until the bad message, none after it; all the audio still comes.
    marked = [bool(c.marks) for c in chunks if c.audio]
    assert marked[:2] == [True, True] and not any(marked[2:])
    segments, voiced = align(chunks)
    assert collapse(voiced) == collapse(TEXT)
    assert heard_text(segments, len(voiced) * PER) == TEXT
    for played in range(0, len(voiced) * PER, 397):
        heard = heard_text(segments, played)
        assert TEXT.startswith(heard)
        assert len(collapse(heard)) <= len(collapse(voiced[: played // PER]))


def alignment_fault_metric(provider: str) -> float:
    value = REGISTRY.get_sample_value("cap_tts_alignment_faults_total", {"provider": provider})
    return value or 0.0


async def test_a_malformed_alignment_is_counted_for_ops_by_provider(
    eleven: ElevenLabsFake,
) -> None:
    knobs = alignment_knobs(eleven)
    knobs.malformed, knobs.malformed_at = "lengths", 1
    tts = ElevenLabsStreamingTTS(
        api_key=API_KEY,
        voice_id="voice-1",
        base_url=eleven.http_url,
        sample_rate=RATE,
        name="eleven-metric-test",
    )
    before = alignment_fault_metric("eleven-metric-test")
    await speak(tts)
    assert alignment_fault_metric("eleven-metric-test") == before + 1
    # A clean stream on the same voice adds nothing.
    knobs.malformed = None
    await speak(tts)
    assert alignment_fault_metric("eleven-metric-test") == before + 1
    assert tts.alignment_faults == {"malformed": 1}


# ---------------------------------------------------------------- Deepgram


async def test_deepgram_cuts_at_the_end_of_each_flushed_segment(deepgram: DeepgramFake) -> None:
    chunks = await speak(deepgram_tts(deepgram))
    segments, voiced = align(chunks)
    reply = pushed()
    # Where each Flushed came, in samples, and the text flushed up to then.
    position, boundaries = 0, []
    for chunk in chunks:
        position += len(chunk.audio) // 2
        boundaries += [(position, m.offset) for m in chunk.marks]
    flushes = [m for m in deepgram.requests[-1].messages if m.get("type") == "Flush"]
    assert len(boundaries) == len(flushes) >= 3
    for at, offset in boundaries:
        assert heard_text(segments, at) == reply[:offset].strip()
        # The segment's last word is not claimed before its audio ended.
        assert len(heard_text(segments, at - 1)) < len(reply[:offset].strip())
    for played in range(0, len(voiced) * PER, 397):
        heard = heard_text(segments, played)
        assert reply.startswith(heard)
        assert len(collapse(heard)) <= len(collapse(voiced[: played // PER]))


async def test_deepgram_flushes_acknowledged_out_of_order_are_counted_not_used(
    deepgram: DeepgramFake,
) -> None:
    alignment_knobs(deepgram).sequence_offset = 1
    tts = deepgram_tts(deepgram)
    chunks = await speak(tts)
    assert tts.alignment_faults == {"sequence": 1}
    assert not any(c.marks for c in chunks)
    segments, voiced = align(chunks)
    assert collapse(voiced) == collapse(TEXT)
    assert heard_text(segments, len(voiced) * PER) == TEXT


def test_deepgram_flushed_without_a_number_is_trusted_a_bad_number_is_not() -> None:
    codec = DeepgramStreamingTTS(api_key=API_KEY).codec()
    assert codec.decode('{"type": "Flushed"}').flushed
    assert codec.decode('{"type": "Flushed", "sequence_id": 4}').sequence == 4
    bad = codec.decode('{"type": "Flushed", "sequence_id": "4"}')
    assert bad.flushed and bad.bad_alignment


# ---------------------------------------------------------------- parsing and matching


def timings(chars: str, step: float = 10.0) -> dict[str, Any]:
    return {
        "chars": list(chars),
        "charStartTimesMs": [i * step for i in range(len(chars))],
        "charDurationsMs": [step] * len(chars),
    }


def test_alignment_prefers_the_original_characters_and_accepts_both_spellings() -> None:
    body: dict[str, Any] = {"alignment": timings("ab"), "normalizedAlignment": timings("xy")}
    assert parse_char_timings(body) == CharTimings(("a", "b"), (10.0, 20.0))
    body = {"alignment": None, "normalizedAlignment": timings("xy")}
    assert parse_char_timings(body) == CharTimings(("x", "y"), (10.0, 20.0))
    older = {"chars": ["a"], "charStartTimesMs": [5], "charsDurationsMs": [7]}
    assert parse_char_timings({"alignment": older}) == CharTimings(("a",), (12.0,))
    assert parse_char_timings({"alignment": None, "normalizedAlignment": None}) is None
    assert parse_char_timings({}) is None


@pytest.mark.parametrize(
    "alignment",
    [
        [1, 2],
        {"chars": ["a", "b"], "charStartTimesMs": [0, 10], "charDurationsMs": [10]},
        {"chars": ["a"], "charStartTimesMs": [-1], "charDurationsMs": [10]},
        {"chars": ["a"], "charStartTimesMs": [0], "charDurationsMs": [-10]},
        {"chars": ["a"], "charStartTimesMs": [0]},
        {"charStartTimesMs": [0], "charDurationsMs": [10]},
        {"chars": ["a"], "charStartTimesMs": ["0"], "charDurationsMs": [10]},
        {"chars": ["a"], "charStartTimesMs": [True], "charDurationsMs": [10]},
        {"chars": [""], "charStartTimesMs": [0], "charDurationsMs": [10]},
        {"chars": [7], "charStartTimesMs": [0], "charDurationsMs": [10]},
        {"chars": ["a"], "charStartTimesMs": [float("nan")], "charDurationsMs": [10]},
    ],
)
def test_malformed_alignment_is_refused(alignment: Any) -> None:
    with pytest.raises(BadAlignment):
        parse_char_timings({"alignment": alignment})
    # Through the codec: the audio is kept, the timings are not.
    codec = ElevenLabsStreamingTTS(api_key=API_KEY, voice_id="v").codec()
    event = codec.decode(json.dumps({"audio": "AAA=", "alignment": alignment}))
    assert event.audio == b"\0\0" and event.timings is None and event.bad_alignment
    assert event.error is None


def test_matcher_tolerates_the_providers_whitespace_and_finds_text_after_a_gap() -> None:
    matcher = TextMatcher()
    matcher.feed("Hi there,\nfriend. How are you?")
    first = matcher.match(CharTimings(tuple(" Hi  the"), tuple(range(1, 9))))
    assert first is not None and [m.offset for m in first] == [1, 2, 3, 4, 5, 6]
    # "re," and "friend." had no alignment (null): the next aligned text is found again.
    matcher.skip()
    after = matcher.match(CharTimings(tuple(" How"), (1.0, 2.0, 3.0, 4.0)))
    assert after is not None and [m.offset for m in after] == [19, 20, 21]
    assert matcher.match(CharTimings(tuple("xyz"), (1.0, 2.0, 3.0))) is None
