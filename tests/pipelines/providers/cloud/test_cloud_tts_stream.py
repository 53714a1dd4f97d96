"""Input-streaming TTS (ElevenLabs stream-input, Deepgram Aura socket) against wire fakes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from pipelines.agent import ProviderSpec
from pipelines.errors import ProviderError, ProviderStatusError, ProviderTimeout
from pipelines.fallback import Failover, FallbackTTS
from pipelines.providers.base import TextStreamingTTS
from pipelines.providers.cloud import DeepgramStreamingTTS, ElevenLabsStreamingTTS, ProviderMetrics
from pipelines.providers.cloud.tts_socket import CloudSocketTTS, SocketTTSStream
from pipelines.providers.registry import ProviderRegistry
from tests.fakes import TEST_API_KEY as API_KEY
from tests.fakes import DeepgramFake, ElevenLabsFake
from tests.fakes.audio import decode_text

RATE = 16_000
FIRST = "Hello there, how can I help you with your booking today? "
REST = "I can change the date, the time, or the number of guests for you."
TEXT = FIRST + REST


@dataclass
class Pair:
    kind: str
    fake: ElevenLabsFake | DeepgramFake
    metrics: list[ProviderMetrics]

    def make(self, **kw: Any) -> CloudSocketTTS:
        sink = self.metrics.append
        if self.kind == "elevenlabs":
            return ElevenLabsStreamingTTS(
                api_key=kw.pop("api_key", API_KEY),
                voice_id="voice-1",
                base_url=self.fake.http_url,
                sample_rate=RATE,
                on_metrics=sink,
                **kw,
            )
        return DeepgramStreamingTTS(
            api_key=kw.pop("api_key", API_KEY),
            base_url=self.fake.http_url,
            sample_rate=RATE,
            on_metrics=sink,
            **kw,
        )


async def _pair(kind: str) -> AsyncIterator[Pair]:
    fake: ElevenLabsFake | DeepgramFake = (
        ElevenLabsFake() if kind == "elevenlabs" else DeepgramFake()
    )
    async with fake:
        yield Pair(kind, fake, [])


@pytest.fixture(params=["elevenlabs", "deepgram"])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    async for p in _pair(request.param):
        yield p


async def collect(stream: SocketTTSStream | Any) -> bytes:
    return b"".join([chunk async for chunk in stream])


def words(text: str) -> list[str]:
    return text.split()


# ---------------------------------------------------------------- happy path


async def test_is_a_text_streaming_provider_and_registered() -> None:
    registry = ProviderRegistry()
    assert {"elevenlabs-ws", "deepgram-ws"} <= set(registry.names("tts"))
    tts = registry.tts(
        [ProviderSpec("deepgram-ws", {"api_key": API_KEY, "base_url": "http://127.0.0.1:9"})]
    )
    assert isinstance(tts, DeepgramStreamingTTS)
    assert isinstance(tts, TextStreamingTTS)


async def test_streamed_text_is_spoken_in_order_with_usage(pair: Pair) -> None:
    tts = pair.make()
    stream = await tts.open_stream()
    for token in TEXT.split(" "):
        stream.push_text(token + " ")
    stream.end_input()
    audio = await collect(stream)
    assert decode_text(audio, RATE) == TEXT.replace("  ", " ").strip() or words(
        decode_text(audio, RATE)
    ) == words(TEXT)
    assert len(audio) % 2 == 0
    [metrics] = pair.metrics
    assert metrics.characters == sum(len(t) + 1 for t in TEXT.split(" "))
    assert metrics.ttfb is not None and metrics.error is None
    assert metrics.audio_seconds == pytest.approx(len(audio) / 2 / RATE)
    assert pair.fake.open_sockets == 0 or await _sockets_drained(pair.fake)


async def _sockets_drained(fake: ElevenLabsFake | DeepgramFake) -> bool:
    for _ in range(100):
        if fake.open_sockets == 0:
            return True
        await asyncio.sleep(0.01)
    return False


async def test_first_audio_arrives_before_the_first_sentence_is_complete(pair: Pair) -> None:
    tts = pair.make()
    stream = await tts.open_stream()
    # Only part of the first sentence: up to its first clause (and 50+ chars for
    # ElevenLabs' first chunk_length_schedule step).
    partial = "Hello there, I am looking at the booking you made last week "
    stream.push_text(partial)
    chunks = aiter(stream)
    first = await asyncio.wait_for(anext(chunks), 5)
    assert first and decode_text(first, RATE)[0] == "H"
    stream.push_text("for four people.")
    stream.end_input()
    rest = b"".join([c async for c in chunks])
    assert words(decode_text(first + rest, RATE)) == words(partial + "for four people.")


async def test_synthesize_works_as_a_plain_tts_provider(pair: Pair) -> None:
    tts = pair.make()
    audio = b"".join([c async for c in tts.synthesize(FIRST.strip())])
    assert decode_text(audio, RATE) == FIRST.strip()


async def test_wire_messages_follow_the_documented_shapes(pair: Pair) -> None:
    tts = pair.make()
    stream = await tts.open_stream()
    stream.push_text("Hi, this is a test of the wire. ")
    stream.end_input()
    await collect(stream)
    await _sockets_drained(pair.fake)
    [rec] = pair.fake.requests
    if pair.kind == "elevenlabs":
        assert rec.path == "/v1/text-to-speech/voice-1/stream-input"
        assert rec.query["output_format"] == f"pcm_{RATE}"
        assert rec.headers["xi-api-key"] == API_KEY
        first, *middle, last = rec.messages
        assert first["text"] == " " and "chunk_length_schedule" in first["generation_config"]
        assert middle[0] == {"text": "Hi, this is a test of the wire. "}
        assert last == {"text": ""}
    else:
        assert rec.path == "/v1/speak"
        assert rec.query["encoding"] == "linear16" and rec.query["sample_rate"] == str(RATE)
        assert rec.headers["Authorization"] == f"Token {API_KEY}"
        kinds = [m["type"] for m in rec.messages]
        assert kinds[0] == "Speak" and kinds[-1] == "Close" and "Flush" in kinds
        assert "Clear" not in kinds


# ---------------------------------------------------------------- faults


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (429, True), (503, True)])
async def test_handshake_errors_are_classified(pair: Pair, status: int, retryable: bool) -> None:
    pair.fake.knobs.error_status = status
    with pytest.raises(ProviderStatusError) as info:
        await pair.make().open_stream()
    assert info.value.status == status and info.value.retryable is retryable
    assert API_KEY not in str(info.value)
    assert pair.metrics[-1].error == "ProviderStatusError"


async def test_bad_key_is_final_and_never_echoed(pair: Pair) -> None:
    bad = "sk-bad-key-123456"
    with pytest.raises(ProviderStatusError) as info:
        await pair.make(api_key=bad).open_stream()
    assert info.value.status == 401 and not info.value.retryable
    assert bad not in str(info.value) and bad not in repr(pair.make(api_key=bad))


async def test_hang_at_connect_times_out(pair: Pair) -> None:
    pair.fake.knobs.hang = True
    with pytest.raises(ProviderTimeout):
        await pair.make(connect_timeout=0.2).open_stream()


async def test_disconnect_mid_stream_is_a_retryable_error(pair: Pair) -> None:
    pair.fake.knobs.disconnect_after = 1
    pair.fake.knobs.token_interval = 0.01
    stream = await pair.make().open_stream()
    stream.push_text(TEXT)
    stream.end_input()
    got: list[bytes] = []
    with pytest.raises(ProviderError) as info:
        async for chunk in stream:
            got.append(chunk)
    assert got and info.value.retryable
    assert pair.metrics[-1].error == "ProviderError"


async def test_in_band_error_message_is_classified(pair: Pair) -> None:
    pair.fake.stream_error_after = 1
    stream = await pair.make().open_stream()
    stream.push_text(TEXT)
    stream.end_input()
    with pytest.raises(ProviderStatusError) as info:
        await collect(stream)
    assert info.value.status == 500 and info.value.retryable


# ---------------------------------------------------------------- barge-in


async def test_barge_in_stops_at_once_and_nothing_leaks_into_the_next_reply(pair: Pair) -> None:
    pair.fake.knobs.token_interval = 0.02
    tts = pair.make()
    old = await tts.open_stream()
    old.push_text(TEXT)
    old.end_input()
    chunks = aiter(old)
    heard = await asyncio.wait_for(anext(chunks), 5)
    await old.aclose()
    assert [c async for c in chunks] == []  # nothing more from the old reply
    assert heard

    new = await tts.open_stream()
    new.push_text("Sure, what date works?")
    new.end_input()
    audio = await collect(new)
    assert decode_text(audio, RATE) == "Sure, what date works?"
    assert await _sockets_drained(pair.fake)
    if pair.kind == "deepgram":
        kinds = [m["type"] for m in pair.fake.requests[0].messages]
        assert "Clear" in kinds  # the provider was told to drop the rest


async def test_barge_in_from_another_task_ends_the_reader_quietly(pair: Pair) -> None:
    pair.fake.stall_after = 1
    stream = await pair.make().open_stream()
    stream.push_text(TEXT)
    stream.end_input()
    got: list[bytes] = []
    first = asyncio.Event()

    async def read() -> None:
        async for chunk in stream:
            got.append(chunk)
            first.set()

    reader = asyncio.get_running_loop().create_task(read())
    await asyncio.wait_for(first.wait(), 5)
    await stream.aclose()
    await asyncio.wait_for(reader, 2)  # ends without an error
    assert len(got) == 1


# ---------------------------------------------------------------- fallback


def elevenlabs_ws(fake: ElevenLabsFake) -> ElevenLabsStreamingTTS:
    return ElevenLabsStreamingTTS(
        api_key=API_KEY, voice_id="voice-1", base_url=fake.http_url, sample_rate=RATE
    )


def deepgram_ws(fake: DeepgramFake) -> DeepgramStreamingTTS:
    return DeepgramStreamingTTS(api_key=API_KEY, base_url=fake.http_url, sample_rate=RATE)


async def test_fallback_takes_over_mid_stream_and_speaks_the_rest() -> None:
    async with ElevenLabsFake() as el, DeepgramFake() as dg:
        el.knobs.disconnect_after = 8  # 0.8 s of speech: "Hello there" cut mid-word
        primary = elevenlabs_ws(el)
        backup = deepgram_ws(dg)
        failovers: list[Failover] = []
        chain = FallbackTTS([primary, backup], on_failover=failovers.append)
        stream = await chain.open_stream()
        for token in TEXT.split(" "):
            stream.push_text(token + " ")
        stream.end_input()
        audio = await collect(stream)
        [failover] = failovers
        assert failover.provider == "elevenlabs-ws" and failover.error.retryable
        spoken = decode_text(audio, RATE)
        # What was cut off is said again from the start of its word, then the rest.
        carried = failover.carried_text.strip()
        assert carried and TEXT.strip().endswith(carried) and len(carried) < len(TEXT.strip())
        assert spoken.strip().endswith(carried)
        # Only the words the first voice had reached are heard twice.
        assert spoken.strip().startswith(TEXT[: len(TEXT) - len(carried) - 1].strip())


async def test_fallback_replaces_a_stalled_provider_after_the_first_byte_deadline() -> None:
    async with ElevenLabsFake() as el, DeepgramFake() as dg:
        el.stall_after = 0
        primary = elevenlabs_ws(el)
        backup = deepgram_ws(dg)
        failovers: list[Failover] = []
        chain = FallbackTTS([primary, backup], first_byte_timeout=0.3, on_failover=failovers.append)
        stream = await chain.open_stream()
        stream.push_text(FIRST)
        loop = asyncio.get_running_loop()
        chunks = aiter(stream)
        stream.end_input()
        started = loop.time()
        first = await asyncio.wait_for(anext(chunks), 5)
        waited = loop.time() - started
        rest = b"".join([c async for c in chunks])
        assert isinstance(failovers[0].error, ProviderTimeout)
        assert decode_text(first + rest, RATE).strip() == FIRST.strip()
        assert 0.3 <= waited < 0.3 + 1.0  # deadline, plus generous slack for a busy machine


async def test_fallback_to_a_plain_http_provider_goes_sentence_by_sentence() -> None:
    from pipelines.providers.cloud import ElevenLabsTTS

    async with DeepgramFake() as dg, ElevenLabsFake() as el:
        dg.knobs.error_status = 503
        primary = deepgram_ws(dg)
        backup = ElevenLabsTTS(
            api_key=API_KEY, voice_id="voice-1", base_url=el.http_url, sample_rate=RATE
        )
        chain = FallbackTTS([primary, backup])
        stream = await chain.open_stream()
        stream.push_text(TEXT)
        stream.end_input()
        audio = await collect(stream)
        await backup.aclose()
        # Two sentences, one request each (the fake voices no gap between them).
        assert decode_text(audio, RATE).replace(" ", "") == TEXT.replace(" ", "")
        assert [r.path for r in el.requests].count("/v1/text-to-speech/voice-1/stream") == 2


async def test_slow_first_audio_fails_over_after_the_deadline() -> None:
    async with ElevenLabsFake() as el, DeepgramFake() as dg:
        el.knobs.latency = 2.0  # the fake's fixed latency before a socket's first audio
        primary = elevenlabs_ws(el)
        backup = deepgram_ws(dg)
        failovers: list[Failover] = []
        chain = FallbackTTS([primary, backup], first_byte_timeout=0.2, on_failover=failovers.append)
        stream = await chain.open_stream()
        stream.push_text(FIRST)
        stream.end_input()
        audio = await asyncio.wait_for(collect(stream), 1.5)
        assert [f.provider for f in failovers] == ["elevenlabs-ws"]
        assert isinstance(failovers[0].error, ProviderTimeout)
        assert decode_text(audio, RATE).strip() == FIRST.strip()


async def test_stall_mid_stream_fails_over_after_the_idle_deadline() -> None:
    async with DeepgramFake() as dg, ElevenLabsFake() as el:
        dg.stall_after = 3
        primary = deepgram_ws(dg)
        backup = elevenlabs_ws(el)
        failovers: list[Failover] = []
        chain = FallbackTTS([primary, backup], idle_timeout=0.2, on_failover=failovers.append)
        stream = await chain.open_stream()
        stream.push_text(TEXT)
        stream.end_input()
        audio = await asyncio.wait_for(collect(stream), 3)
        [failover] = failovers
        assert failover.provider == "deepgram-ws" and isinstance(failover.error, ProviderTimeout)
        assert decode_text(audio, RATE).strip().endswith(failover.carried_text.strip())


# ---------------------------------------------------------------- untrusted provider messages


@pytest.mark.parametrize(
    "message",
    ["not json", "[1, 2]", '{"audio": "%%%not-base64%%%"}', b"\x00\x01"],
)
def test_malformed_elevenlabs_messages_are_errors_not_crashes(message: str | bytes) -> None:
    codec = ElevenLabsStreamingTTS(api_key=API_KEY, voice_id="v").codec()
    event = codec.decode(message)
    assert event.error is not None and event.error.retryable and not event.audio


def test_elevenlabs_error_message_maps_its_status() -> None:
    codec = ElevenLabsStreamingTTS(api_key=API_KEY, voice_id="v").codec()
    event = codec.decode('{"message": "Quota exceeded.", "error": "quota_exceeded", "code": 1008}')
    assert isinstance(event.error, ProviderStatusError)
    assert event.error.status == 402 and not event.error.retryable


@pytest.mark.parametrize(
    ("message", "status"),
    [
        ('{"type": "Error", "err_code": "DATA-0000", "err_msg": "bad"}', 400),
        ('{"type": "Error", "err_code": "SOMETHING", "description": "x"}', 500),
    ],
)
def test_deepgram_error_messages_map_their_status(message: str, status: int) -> None:
    event = DeepgramStreamingTTS(api_key=API_KEY).codec().decode(message)
    assert isinstance(event.error, ProviderStatusError) and event.error.status == status


def test_deepgram_ignores_metadata_warnings_and_unknown_types() -> None:
    codec = DeepgramStreamingTTS(api_key=API_KEY).codec()
    for message in ('{"type": "Metadata"}', '{"type": "Warning", "description": "w"}', "{}"):
        event = codec.decode(message)
        assert event.error is None and not event.audio and not event.flushed
    assert codec.decode('{"type": "Flushed", "sequence_id": 0}').flushed
    assert codec.decode("garbage").error is not None


def test_deepgram_flushes_early_once_then_at_sentence_ends() -> None:
    tts = DeepgramStreamingTTS(api_key=API_KEY)
    assert tts.auto_flush("today. ", since_flush=30, flushes=3)  # a sentence end
    assert tts.auto_flush("there, ", since_flush=12, flushes=0)  # the first clause
    assert not tts.auto_flush("Sure, ", since_flush=6, flushes=0)  # too short to say alone
    assert not tts.auto_flush("there, ", since_flush=40, flushes=1)  # only the first is early
    assert tts.auto_flush("evening ", since_flush=50, flushes=0)  # long, no comma: word edge
    assert not tts.auto_flush("even", since_flush=60, flushes=0)  # never mid-word
    assert not tts.auto_flush("today. ", since_flush=30, flushes=tts.max_flushes)
