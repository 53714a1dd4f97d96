"""Input-streaming TTS sends whole words only: a partial word is held until it
is complete (or the input ends), so a flush never voices half a word."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pipelines.fallback import Failover, FallbackTTS
from pipelines.providers.cloud import DeepgramStreamingTTS
from pipelines.providers.cloud.tts_socket import MAX_HELD_CHARS
from tests.fakes import TEST_API_KEY as API_KEY
from tests.fakes import DeepgramFake, ElevenLabsFake
from tests.fakes.audio import decode_text
from tests.pipelines.providers.cloud.test_cloud_tts_stream import (
    RATE,
    Pair,
    _pair,
    collect,
    deepgram_ws,
    elevenlabs_ws,
)

# As an LLM writes it: tokens carry the space before them, and a sentence end
# is only known once the next word has started (" Any").
TOKENS = ["Sure", ".", " Any", "thing", " else", " I", " can", " do", " for", " you", "?"]
REPLY = "".join(TOKENS)


@pytest.fixture(params=["elevenlabs", "deepgram"])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    async for p in _pair(request.param):
        yield p


def wire(pair: Pair) -> tuple[list[str], list[int]]:
    """The text messages we sent, and how much text had been sent at each flush."""
    texts: list[str] = []
    flushes: list[int] = []
    sent = 0
    [rec] = pair.fake.requests
    messages: list[dict[str, Any]] = rec.messages
    if pair.kind == "elevenlabs":
        messages = messages[1:]  # the opening " " configures the socket
    for message in messages:
        if message.get("type") == "Flush" or message.get("flush") is True:
            flushes.append(sent)
        elif message.get("type", "Speak") == "Speak" and message.get("text"):
            texts.append(message["text"])
            sent += len(message["text"])
    return texts, flushes


def at_word_edge(text: str, offset: int) -> bool:
    return offset in (0, len(text)) or text[offset - 1].isspace() or text[offset].isspace()


async def drained(pair: Pair) -> None:
    for _ in range(200):
        if pair.fake.open_sockets == 0:
            return
        await asyncio.sleep(0.01)


async def test_a_flush_between_the_halves_of_a_word_never_sends_half_of_it(pair: Pair) -> None:
    tts = pair.make()
    stream = await tts.open_stream()
    for token in TOKENS:
        stream.push_text(token)
        if token == " Any":  # where the reply's feed sees "Sure." end and flushes
            stream.flush()
    stream.end_input()
    audio = await collect(stream)
    await drained(pair)
    texts, flushes = wire(pair)
    assert "".join(texts) == REPLY
    assert flushes and all(at_word_edge(REPLY, at) for at in flushes)
    assert flushes[0] == len("Sure. ")  # "Any" went after the flush, with "thing"
    assert all(at_word_edge(REPLY, len("".join(texts[: i + 1]))) for i in range(len(texts)))
    assert "Anything " in texts[1]
    assert decode_text(audio, RATE).split() == REPLY.split()
    [metrics] = pair.metrics
    assert metrics.characters == len(REPLY)


async def test_a_flush_with_only_a_partial_word_waits_for_the_word(pair: Pair) -> None:
    stream = await pair.make().open_stream()
    stream.push_text("Any")
    stream.flush()  # nothing whole to voice yet: no flush, nothing sent
    stream.push_text("thing else?")
    stream.end_input()
    assert decode_text(await collect(stream), RATE) == "Anything else?"
    await drained(pair)
    texts, flushes = wire(pair)
    assert texts == ["Anything ", "else?"]
    assert all(at == len("Anything else?") for at in flushes)


async def test_end_input_sends_the_held_word_before_ending(pair: Pair) -> None:
    stream = await pair.make().open_stream()
    stream.push_text("Hello wor")
    stream.push_text("ld")
    stream.end_input()
    assert decode_text(await collect(stream), RATE) == "Hello world"
    await drained(pair)
    texts, _ = wire(pair)
    assert texts == ["Hello ", "world"]
    [rec] = pair.fake.requests
    if pair.kind == "elevenlabs":
        assert rec.messages[-2:] == [{"text": "world"}, {"text": ""}]
    else:
        assert [m["type"] for m in rec.messages[-3:]] == ["Speak", "Flush", "Close"]
    assert pair.metrics[-1].characters == len("Hello world")


async def test_barge_in_mid_word_never_sends_or_bills_the_held_part(pair: Pair) -> None:
    stream = await pair.make().open_stream()
    sent = "Hello there, I am looking at the booking you made for "
    stream.push_text(sent + "tod")
    stream.flush()
    chunks = aiter(stream)
    assert await asyncio.wait_for(anext(chunks), 5)
    await stream.aclose()
    stream.push_text("ay.")  # after barge-in: ignored
    stream.end_input()
    await stream.wait_closed()
    await drained(pair)
    texts, _ = wire(pair)
    assert "".join(texts) == sent
    assert pair.metrics[-1].characters == len(sent)


async def test_a_run_with_no_word_edge_is_sent_once_it_passes_the_cap(pair: Pair) -> None:
    stream = await pair.make().open_stream()
    run = "x" * (MAX_HELD_CHARS - 1)
    stream.push_text(run)
    stream.push_text("yy")  # past the cap: sent as it is
    stream.push_text(" done.")
    stream.end_input()
    await collect(stream)
    await drained(pair)
    texts, _ = wire(pair)
    assert texts == [run + "yy", " ", "done."]


async def test_unspaced_scripts_are_sent_character_by_character(pair: Pair) -> None:
    stream = await pair.make().open_stream()
    stream.push_text("今日は")
    stream.flush()
    stream.push_text("晴れ")
    stream.end_input()
    await collect(stream)
    await drained(pair)
    texts, flushes = wire(pair)
    assert texts == ["今日は", "晴れ"]
    assert flushes[0] == len("今日は")


# ---------------------------------------------------------------- Deepgram's own flushes


def test_deepgram_flushes_only_at_a_real_sentence_end() -> None:
    tts = DeepgramStreamingTTS(api_key=API_KEY)
    assert not tts.auto_flush("$3.50 ", since_flush=20, flushes=2)  # a price
    assert not tts.auto_flush("e.g. ", since_flush=20, flushes=2)  # an abbreviation
    assert not tts.auto_flush("3.5 ", since_flush=20, flushes=2)  # a decimal
    assert tts.auto_flush("each. ", since_flush=20, flushes=2)
    assert tts.auto_flush("now? Then ", since_flush=20, flushes=2)
    assert not tts.auto_flush("each. ", since_flush=20, flushes=tts.max_flushes)


async def test_deepgram_does_not_flush_inside_a_price() -> None:
    async with DeepgramFake() as dg:
        tts = deepgram_ws(dg)
        stream = await tts.open_stream()
        for token in ["It", " is", " $3.", "50", " each.", " Shall", " I", " book", " it?"]:
            stream.push_text(token)
        stream.end_input()
        audio = await collect(stream)
        assert decode_text(audio, RATE) == "It is $3.50 each. Shall I book it?"
        pair = Pair("deepgram", dg, [])
        await drained(pair)
        texts, flushes = wire(pair)
        text = "".join(texts)
        # One flush at the sentence end (sent with the space after it), one at the end.
        assert flushes == [len("It is $3.50 each. "), len(text)]


# ---------------------------------------------------------------- fallback


async def test_fallback_mid_word_resumes_without_repeating_or_losing_words() -> None:
    text = (
        "Hello there, how can I help you with your booking today? "
        "I can change the date, the time, or the number of guests for you."
    )
    # Tokens that split words: every word reaches the voice in two pieces.
    tokens = [text[i : i + 3] for i in range(0, len(text), 3)]
    async with ElevenLabsFake() as el, DeepgramFake() as dg:
        el.knobs.disconnect_after = 8  # 0.8 s of speech, then the socket drops
        primary = elevenlabs_ws(el)
        backup = deepgram_ws(dg)
        failovers: list[Failover] = []
        chain = FallbackTTS([primary, backup], on_failover=failovers.append)
        stream = await chain.open_stream()
        for token in tokens:
            stream.push_text(token)
        stream.end_input()
        spoken = decode_text(await collect(stream), RATE)
        [failover] = failovers
        carried = failover.carried_text
        # The backup is given the rest from a word's start, all of it, once.
        assert carried and text.endswith(carried) and len(carried) < len(text)
        resumed = len(text) - len(carried)
        assert at_word_edge(text, resumed)
        assert spoken.endswith(carried.strip())
        # What the first voice got out is a prefix of the reply, reaching the resume point.
        first = spoken[: len(spoken) - len(carried.strip())]
        assert text.startswith(first.strip())
        assert len(first.strip()) >= len(text[:resumed].strip())
        texts = "".join(m["text"] for m in dg.requests[0].messages if m["type"] == "Speak")
        assert texts == carried
