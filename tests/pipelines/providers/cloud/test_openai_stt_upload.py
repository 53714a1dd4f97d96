"""OpenAI transcription with the upload streamed while the user speaks.

Against the OpenAI fake (aiohttp reading the chunked body as it arrives) and,
for the body's framing and batching, a recording HTTP stand-in.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from media.frames import AudioFrame, Reframer
from pipelines.errors import ProviderError, ProviderStatusError
from pipelines.fallback.stt import FallbackSTT
from pipelines.providers.base import STTStream, Transcript
from pipelines.providers.cloud import DeepgramSTT, OpenAISTT
from pipelines.providers.cloud.openai_stt import wav_header
from pipelines.providers.cloud.streamed_upload import MultipartWriter, StreamedUpload
from tests.fakes import TEST_API_KEY as API_KEY
from tests.fakes import DeepgramFake, OpenAIFake
from tests.fakes.audio import speech
from tests.fakes.openai_server import parse_form, wav_seconds

WAIT = 2.0  # a guard against a hung test, not a speed assertion
FRAME = 640  # bytes in 20 ms at 16 kHz


def push(stream: STTStream, pcm: bytes) -> None:
    for chunk in Reframer().push(pcm):
        stream.push_frame(AudioFrame(chunk))


async def final(stream: STTStream) -> Transcript:
    async with asyncio.timeout(WAIT):
        async for t in stream:
            if t.is_final:
                return t
    raise AssertionError("stream ended without a final")


async def until(condition: Any) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 (polls a fake's counter)
            await asyncio.sleep(0.005)


@pytest.fixture
async def stt(openai_fake: OpenAIFake) -> AsyncIterator[OpenAISTT]:
    adapter = OpenAISTT(api_key=API_KEY, base_url=f"{openai_fake.http_url}/v1", timeout=1.0)
    yield adapter
    await adapter.aclose()


# ---------------------------------------------------------------- against the fake


async def test_audio_is_uploaded_before_the_flush(stt: OpenAISTT, openai_fake: OpenAIFake) -> None:
    stream = await stt.open_stream(language="de")
    pcm = speech(0.6)
    push(stream, pcm)
    # The request is on its way and most of the audio is in before the user stops.
    await until(lambda: openai_fake.upload_bytes >= len(pcm) - stt.upload_batch_bytes)
    assert openai_fake.requests == []  # the body is still open: nothing answered yet
    stream.flush()
    t = await final(stream)
    assert t.text == "what is the weather" and t.audio_seconds == pytest.approx(0.6)
    request = openai_fake.requests[-1]
    assert request.headers.get("Transfer-Encoding") == "chunked"
    assert request.headers.get("Authorization") == f"Bearer {API_KEY}"
    assert request.headers.get("User-Agent", "").startswith("AsyncOpenAI/Python")
    assert request.body == {"model": stt.model, "language": "de", "response_format": "json"}
    # The file is the streamed WAV header and exactly the audio pushed.
    assert openai_fake.last_audio == wav_header(16_000) + pcm
    assert wav_seconds(openai_fake.last_audio) == pytest.approx(0.6)
    await stream.aclose()


async def test_utterances_are_answered_in_order(stt: OpenAISTT, openai_fake: OpenAIFake) -> None:
    openai_fake.knobs.latency = 0.05
    stream = await stt.open_stream()
    push(stream, speech(0.4))
    stream.flush()
    push(stream, speech(0.2))  # the next upload starts while the first waits for its answer
    stream.flush()
    first, second = await final(stream), await final(stream)
    assert first.audio_seconds == pytest.approx(0.4)
    assert second.audio_seconds == pytest.approx(0.2)
    assert len(openai_fake.requests) == 2
    await stream.aclose()


async def test_prompt_goes_in_the_streamed_form(openai_fake: OpenAIFake) -> None:
    adapter = OpenAISTT(
        api_key=API_KEY,
        base_url=f"{openai_fake.http_url}/v1",
        prompt='Names: "Zoë", O\'Brien\r\n--not-a-boundary',
    )
    stream = await adapter.open_stream()
    push(stream, speech(0.2))
    stream.flush()
    await final(stream)
    assert openai_fake.requests[-1].body["prompt"] == 'Names: "Zoë", O\'Brien\r\n--not-a-boundary'
    await stream.aclose()
    await adapter.aclose()


@pytest.mark.parametrize("status", [400, 411, 415])
async def test_a_server_that_refuses_streamed_uploads_gets_them_whole(
    stt: OpenAISTT, openai_fake: OpenAIFake, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    openai_fake.refuse_streamed = status
    stream = await stt.open_stream()
    pcm = speech(0.3)
    push(stream, pcm)
    stream.flush()
    with caplog.at_level(logging.WARNING):
        t = await final(stream)
    assert t.text == "what is the weather" and t.audio_seconds == pytest.approx(0.3)
    refused, whole = openai_fake.requests
    assert refused.headers.get("Transfer-Encoding") == "chunked"
    assert "Transfer-Encoding" not in whole.headers and openai_fake.last_audio is not None
    assert wav_seconds(openai_fake.last_audio) == pytest.approx(0.3)
    assert stt.stream_upload is False  # from now on, whole uploads
    assert "streamed upload refused" in caplog.text and API_KEY not in caplog.text
    push(stream, speech(0.2))
    stream.flush()
    assert (await final(stream)).audio_seconds == pytest.approx(0.2)
    assert len(openai_fake.requests) == 3
    assert "Transfer-Encoding" not in openai_fake.requests[-1].headers
    await stream.aclose()


async def test_a_bad_request_that_whole_uploads_get_too_stays_an_error(
    stt: OpenAISTT, openai_fake: OpenAIFake
) -> None:
    """A 400 that is not about streaming (the whole upload gets it too) fails the
    stream and leaves streaming on."""
    openai_fake.knobs.error_status = 400
    stream = await stt.open_stream()
    push(stream, speech(0.2))
    stream.flush()
    with pytest.raises(ProviderStatusError) as info:
        await final(stream)
    assert info.value.status == 400 and not info.value.retryable
    assert len(openai_fake.requests) == 2 and stt.stream_upload is True
    await stream.aclose()


async def test_an_utterance_over_the_limit_goes_whole_with_its_newest_audio(
    openai_fake: OpenAIFake,
) -> None:
    adapter = OpenAISTT(
        api_key=API_KEY, base_url=f"{openai_fake.http_url}/v1", max_utterance_seconds=0.2
    )
    stream = await adapter.open_stream()
    pcm = speech(0.5)
    push(stream, pcm)
    stream.flush()
    t = await final(stream)
    assert t.audio_seconds == pytest.approx(0.2)
    assert len(openai_fake.requests) == 1  # the streamed one was dropped before it ended
    assert "Transfer-Encoding" not in openai_fake.requests[0].headers
    assert openai_fake.last_audio is not None and openai_fake.last_audio.endswith(pcm[-6400:])
    assert wav_seconds(openai_fake.last_audio) == pytest.approx(0.2)
    # The next utterance streams again.
    push(stream, speech(0.1))
    stream.flush()
    assert (await final(stream)).audio_seconds == pytest.approx(0.1)
    assert openai_fake.requests[-1].headers.get("Transfer-Encoding") == "chunked"
    await stream.aclose()
    await adapter.aclose()


async def test_closing_mid_utterance_drops_the_upload(
    stt: OpenAISTT, openai_fake: OpenAIFake
) -> None:
    stream = await stt.open_stream()
    push(stream, speech(0.4))
    await until(lambda: openai_fake.upload_bytes > 0)
    await stream.aclose()
    await asyncio.sleep(0.05)
    assert openai_fake.requests == []  # never completed, never answered
    # The adapter's connections are fine for the next call.
    again = await stt.open_stream()
    push(again, speech(0.2))
    again.flush()
    assert (await final(again)).audio_seconds == pytest.approx(0.2)
    await again.aclose()


async def test_an_unreachable_server_fails_the_stream_while_the_user_speaks() -> None:
    adapter = OpenAISTT(api_key=API_KEY, base_url="http://127.0.0.1:9/v1", timeout=1.0)
    stream = await adapter.open_stream()
    push(stream, speech(0.3))  # no flush: the connect fails while the user is still speaking
    with pytest.raises(ProviderError) as info:
        await final(stream)
    assert info.value.retryable is True and API_KEY not in str(info.value)
    assert adapter.last_metrics is not None and adapter.last_metrics.error is not None
    push(stream, speech(0.1))  # a failed stream takes no more audio, and says nothing more
    stream.flush()
    await stream.aclose()
    await adapter.aclose()


async def test_an_early_failure_waits_for_the_answers_already_due(
    stt: OpenAISTT, openai_fake: OpenAIFake
) -> None:
    """The previous utterance's transcript is still on its way: it comes first."""
    openai_fake.knobs.latency = 0.2
    stream = await stt.open_stream()
    push(stream, speech(0.3))
    stream.flush()
    await until(lambda: len(openai_fake.requests) == 1)  # answered in 0.2 s
    stt._url = "http://127.0.0.1:9/v1/audio/transcriptions"  # the next upload cannot connect
    push(stream, speech(0.2))
    first = await final(stream)
    assert first.audio_seconds == pytest.approx(0.3)
    stream.flush()
    with pytest.raises(ProviderError):
        await final(stream)
    await stream.aclose()


async def test_a_chain_leaves_a_dead_openai_before_the_user_stops(
    openai_fake: OpenAIFake, deepgram_fake: DeepgramFake
) -> None:
    dead = OpenAISTT(api_key=API_KEY, base_url="http://127.0.0.1:9/v1", timeout=1.0)
    backup = DeepgramSTT(api_key=API_KEY, base_url=deepgram_fake.http_url)
    switched = asyncio.Event()
    chain = FallbackSTT([dead, backup], on_failover=lambda *_: switched.set())
    stream = await chain.open_stream()
    push(stream, speech(0.6))
    async with asyncio.timeout(WAIT):
        await switched.wait()  # still speaking: no flush yet
    await until(lambda: bool(deepgram_fake.requests))  # the backup took over, mid-utterance
    stream.flush()
    t = await final(stream)
    assert t.text == "hello world how"  # Deepgram's fake (a word per 0.2 s), from the replay
    await stream.aclose()
    await dead.aclose()


# ---------------------------------------------------------------- body framing and batching


class RecordingHttp:
    """Stands in for the HTTP client: keeps each body piece as the client would send it."""

    def __init__(self, status: int = 200, body: bytes = b'{"text": "hi"}') -> None:
        self.pieces: list[bytes] = []
        self.headers: Mapping[str, str] = {}
        self.status = status
        self.body = body

    async def post(
        self,
        url: str,
        *,
        content: AsyncIterator[bytes],
        headers: Mapping[str, str],
        timeout: Any,  # noqa: ASYNC109 (mirrors httpx)
    ) -> Any:
        self.headers = headers
        async for piece in content:
            self.pieces.append(piece)
        return self

    @property
    def status_code(self) -> int:
        return self.status

    @property
    def content(self) -> bytes:
        return self.body


class StatusError(Exception):
    def __init__(self, response: Any) -> None:
        super().__init__(f"HTTP {response.status_code}")


def upload(http: RecordingHttp, batch: int) -> tuple[StreamedUpload, MultipartWriter]:
    form = MultipartWriter({"model": "m", "language": "en"}, "file", "u.wav", "audio/wav")
    up = StreamedUpload(
        http, "http://x/v1/t", {"Authorization": "Bearer k"}, form,
        timeout=1.0, batch_bytes=batch, status_error=StatusError,
    )  # fmt: skip
    return up, form


async def test_the_body_is_a_multipart_form_sent_in_batches() -> None:
    http = RecordingHttp()
    up, form = upload(http, batch=3 * FRAME)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert http.pieces == [form.head]  # the request starts before any audio
    frames = [bytes([i]) * FRAME for i in range(7)]
    for frame in frames:
        up.write(frame)
        await asyncio.sleep(0)
    up.finish()
    assert await up.result() == b'{"text": "hi"}'
    # Batches of three frames while speaking; the rest and the closing boundary at the end.
    assert http.pieces[1:] == [
        b"".join(frames[0:3]),
        b"".join(frames[3:6]),
        frames[6] + form.tail,
    ]
    assert http.headers["Content-Type"] == form.content_type
    assert http.headers["Authorization"] == "Bearer k"
    audio, fields = parse_form(form.content_type, b"".join(http.pieces))
    assert audio == b"".join(frames) and fields == {"model": "m", "language": "en"}
    assert up.written == 7 * FRAME and up.sent == len(b"".join(http.pieces))


async def test_an_error_status_raises_the_given_error() -> None:
    http = RecordingHttp(status=503, body=b"{}")
    up, _ = upload(http, batch=FRAME)
    up.write(b"\0" * FRAME)
    up.finish()
    with pytest.raises(StatusError, match="HTTP 503"):
        await up.result()
    with pytest.raises(RuntimeError):
        up.write(b"\0\0")  # nothing goes after the closing boundary
    up.abort()  # after the end: a no-op


async def test_abort_after_a_failure_leaves_no_unretrieved_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    http = RecordingHttp(status=500)
    up, _ = upload(http, batch=FRAME)
    up.finish()
    await asyncio.sleep(0.01)  # failed, and nobody awaited it
    up.abort()
    del up
    gc.collect()
    await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text


def test_the_boundary_is_not_in_the_fields() -> None:
    fields = {"prompt": "x" * 100}
    form = MultipartWriter(fields, "file", "u.wav", "audio/wav")
    assert form.boundary not in fields["prompt"]
    assert form.content_type == f"multipart/form-data; boundary={form.boundary}"
    assert form.head.startswith(f"--{form.boundary}\r\n".encode())
    assert form.tail == f"\r\n--{form.boundary}--\r\n".encode()


def test_the_streamed_wav_header_says_length_unknown() -> None:
    header = wav_header(16_000)
    assert len(header) == 44
    assert header[4:8] == b"\xff\xff\xff\xff" and header[40:44] == b"\xff\xff\xff\xff"
    assert wav_seconds(header + b"\0" * 3200) == pytest.approx(0.1)
    assert wav_seconds(header) == 0.0
