"""ElevenLabs, Deepgram Aura and OpenAI speech adapters against their wire fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from pipelines.errors import ProviderError, ProviderStatusError, ProviderTimeout
from pipelines.providers.cloud import DeepgramTTS, ElevenLabsTTS, OpenAITTS
from pipelines.providers.cloud.tts_base import CloudTTS, SampleAligner
from tests.fakes import TEST_API_KEY as API_KEY
from tests.fakes import DeepgramFake, ElevenLabsFake, FakeServer, OpenAIFake
from tests.fakes.audio import decode_text

TEXT = "Hello there, how can I help you today?"

Factory = Callable[[], tuple[FakeServer, Callable[..., CloudTTS]]]


@pytest.fixture(params=["elevenlabs", "deepgram", "openai"])
async def tts_pair(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[FakeServer, Callable[..., CloudTTS]]]:
    kind = request.param
    fake: FakeServer
    if kind == "elevenlabs":
        fake = ElevenLabsFake()

        def make(**kw: object) -> CloudTTS:
            return ElevenLabsTTS(api_key=API_KEY, voice_id="voice-1", base_url=fake.http_url, **kw)  # type: ignore[arg-type]
    elif kind == "deepgram":
        fake = DeepgramFake()

        def make(**kw: object) -> CloudTTS:
            return DeepgramTTS(api_key=API_KEY, base_url=fake.http_url, **kw)  # type: ignore[arg-type]
    else:
        fake = OpenAIFake()

        def make(**kw: object) -> CloudTTS:
            return OpenAITTS(api_key=API_KEY, base_url=f"{fake.http_url}/v1", **kw)  # type: ignore[arg-type]

    async with fake:
        yield fake, make


async def synth(tts: CloudTTS, text: str = TEXT) -> list[bytes]:
    try:
        return [chunk async for chunk in tts.synthesize(text)]
    finally:
        await tts.aclose()


async def test_streams_whole_samples_of_the_right_speech(
    tts_pair: tuple[FakeServer, Callable[..., CloudTTS]],
) -> None:
    _, make = tts_pair
    tts = make()
    chunks = await synth(tts)
    assert len(chunks) > 1  # streamed, not buffered
    assert all(len(c) % 2 == 0 for c in chunks)  # fakes cut chunks at odd byte counts
    assert decode_text(b"".join(chunks), tts.sample_rate) == TEXT
    metrics = tts.last_metrics
    assert metrics is not None and metrics.characters == len(TEXT)
    assert metrics.audio_seconds == pytest.approx(len(TEXT) / 16, rel=0.01)
    assert metrics.ttfb is not None and metrics.ttfb <= metrics.duration


async def test_request_speaks_each_provider_dialect(
    tts_pair: tuple[FakeServer, Callable[..., CloudTTS]],
) -> None:
    fake, make = tts_pair
    await synth(make())
    request = fake.requests[-1]
    if isinstance(fake, ElevenLabsFake):
        assert request.path == "/v1/text-to-speech/voice-1/stream"
        assert request.headers["xi-api-key"] == API_KEY
        assert request.query["output_format"] == "pcm_16000"
        assert request.body["text"] == TEXT
    elif isinstance(fake, DeepgramFake):
        assert request.path == "/v1/speak"
        assert request.headers["Authorization"] == f"Token {API_KEY}"
        assert request.query == {
            "model": "aura-2-thalia-en",
            "encoding": "linear16",
            "sample_rate": "24000",
            "container": "none",
        }
    else:
        assert request.path == "/v1/audio/speech"
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
        assert request.body["response_format"] == "pcm"


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (429, True), (500, True)])
async def test_http_errors_map_to_status_errors(
    tts_pair: tuple[FakeServer, Callable[..., CloudTTS]], status: int, retryable: bool
) -> None:
    fake, make = tts_pair
    fake.knobs.error_status = status
    tts = make()
    with pytest.raises(ProviderStatusError) as info:
        await synth(tts)
    assert (info.value.status, info.value.retryable) == (status, retryable)
    assert tts.last_metrics is not None and tts.last_metrics.error == "ProviderStatusError"


async def test_disconnect_mid_stream_keeps_the_audio_sent(
    tts_pair: tuple[FakeServer, Callable[..., CloudTTS]],
) -> None:
    fake, make = tts_pair
    fake.knobs.disconnect_after = 2
    tts = make()
    got: list[bytes] = []
    with pytest.raises(ProviderError) as info:
        async for chunk in tts.synthesize(TEXT):
            got.append(chunk)
    await tts.aclose()
    assert info.value.retryable
    heard = decode_text(b"".join(got), tts.sample_rate)
    assert heard and TEXT.startswith(heard) and heard != TEXT


async def test_hang_times_out(tts_pair: tuple[FakeServer, Callable[..., CloudTTS]]) -> None:
    fake, make = tts_pair
    fake.knobs.hang = True
    with pytest.raises(ProviderTimeout):
        await synth(make(timeout=0.2))


async def test_closing_early_stops_the_download(
    tts_pair: tuple[FakeServer, Callable[..., CloudTTS]],
) -> None:
    fake, make = tts_pair
    fake.knobs.token_interval = 0.05
    tts = make()
    stream = tts.synthesize(TEXT * 4)
    await anext(stream)
    await stream.aclose()  # type: ignore[attr-defined]  # barge-in
    assert tts.last_metrics is not None and tts.last_metrics.audio_seconds < len(TEXT) / 16
    await tts.aclose()


def test_sample_aligner_carries_odd_bytes() -> None:
    aligner = SampleAligner()
    assert aligner.push(b"\x01\x02\x03") == b"\x01\x02"
    assert aligner.pending == 1
    assert aligner.push(b"\x04") == b"\x03\x04"
    assert aligner.push(b"") == b""


def test_unsupported_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="pcm output"):
        ElevenLabsTTS(api_key=API_KEY, voice_id="v", sample_rate=11_025)
    with pytest.raises(ValueError, match="Aura"):
        DeepgramTTS(api_key=API_KEY, sample_rate=22_050)
