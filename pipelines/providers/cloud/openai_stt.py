"""OpenAI-compatible transcription (``/v1/audio/transcriptions``), utterance at a time.

The endpoint is not streaming: it answers once the whole file is in. By default
(``stream_upload``) the upload starts with the utterance's first frame: a
chunked multipart POST whose WAV header says "length unknown" (the
0xFFFFFFFF sizes decoders read to the end of the file; reported to work with
OpenAI's Whisper in openai/openai-python#1025). Audio follows in batches while
the user speaks, so when ``flush()`` comes only the last batch and the closing
boundary are left to send. The SDK has no streamed uploads, so this request goes
through the SDK's own HTTP client with the SDK's headers; HTTP errors become the
SDK's ``APIStatusError`` and are mapped like every other call.

A server that refuses a streamed upload (400, 411, 415) gets the utterance again
whole, through the SDK (``transcriptions.create``); if that works, the adapter
uploads whole from then on. Whole uploads are also the path with
``stream_upload=False``, and for an utterance longer than
``max_utterance_seconds`` (its older audio is dropped).

Flushes are answered in order by one worker task. Works with OpenAI, Groq and
local Whisper-compatible servers through ``base_url``.

The whole upload keeps its CPU down two ways: the SDK's multipart body is
written in one piece (``_one_write``; httpx otherwise sends each part, ~17
pieces, as its own socket write), and the JSON answer is read raw instead of
built into a pydantic model.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import openai

from media.frames import AudioFrame
from pipelines.errors import ProviderError
from pipelines.providers.base import Transcript
from pipelines.providers.cloud.adapter import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, CloudAdapter
from pipelines.providers.cloud.metrics import MetricsRecorder, MetricsSink
from pipelines.providers.cloud.results import TranscriptQueue
from pipelines.providers.cloud.sse import json_object
from pipelines.providers.cloud.streamed_upload import UNKNOWN_SIZE, MultipartWriter, StreamedUpload

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# One utterance longer than this is noise or a stuck VAD; older audio is dropped.
MAX_UTTERANCE_SECONDS = 120.0
# A streamed upload sends the audio in pieces of this much (one socket write each).
UPLOAD_BATCH_SECONDS = 0.1
# What a server that cannot take a streamed upload answers it with.
STREAM_REFUSED = frozenset({400, 411, 415})


_WAV_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")


def wav_header(sample_rate: int, data_bytes: int = UNKNOWN_SIZE) -> bytes:
    """A canonical 44-byte PCM16 mono WAV header; without a size, a streamed one."""
    riff = UNKNOWN_SIZE if data_bytes == UNKNOWN_SIZE else 36 + data_bytes
    return _WAV_HEADER.pack(
        b"RIFF", riff, b"WAVE", b"fmt ", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16,
        b"data", data_bytes,
    )  # fmt: skip


def pcm_to_wav(pcm: bytes, sample_rate: int) -> bytes:
    """PCM16 mono in a canonical 44-byte WAV header (what ``wave`` writes, one copy)."""
    n = len(pcm) - len(pcm) % 2
    header = wav_header(sample_rate, n)
    return header + pcm[:n] if n != len(pcm) else header + pcm


class _Readable(Protocol):
    headers: Any

    async def aread(self) -> bytes: ...


async def _one_write(request: _Readable) -> None:
    """httpx request hook: read a streamed body (the multipart upload) into one
    piece, so it goes out in one socket write instead of one per part. A chunked
    body (the streamed upload) is left alone: it is still being written."""
    if "transfer-encoding" not in request.headers:
        await request.aread()


@dataclass(slots=True)
class _Job:
    """One flushed utterance: its audio, and its upload if one was streamed."""

    pcm: bytes | bytearray
    upload: StreamedUpload | None


class OpenAISTT(CloudAdapter):
    stage = "stt"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        model: str = "gpt-4o-mini-transcribe",
        name: str = "openai-stt",
        sample_rate: int = 16_000,
        prompt: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_utterance_seconds: float = MAX_UTTERANCE_SECONDS,
        stream_upload: bool = True,
        upload_batch_seconds: float = UPLOAD_BATCH_SECONDS,
        on_metrics: MetricsSink | None = None,
    ) -> None:
        super().__init__(name=name, base_url=base_url, api_key=api_key, on_metrics=on_metrics)
        self.model = model
        self.sample_rate = sample_rate
        self.prompt = prompt
        self.max_utterance_seconds = max_utterance_seconds
        self.stream_upload = stream_upload
        self.upload_batch_bytes = max(2, int(upload_batch_seconds * sample_rate) * 2)
        self.timeout = timeout
        self._http = openai.DefaultAsyncHttpxClient(event_hooks={"request": [_one_write]})
        self._client = openai.AsyncOpenAI(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            http_client=self._http,
        )
        self._url = f"{str(self._client.base_url).rstrip('/')}/audio/transcriptions"
        # The SDK's own headers (auth, user agent, client info), minus its JSON content type.
        self._upload_headers = {
            key: value
            for key, value in {**self._client.default_headers, **self._client.auth_headers}.items()
            if isinstance(value, str) and key.lower() != "content-type"
        }

    async def aclose(self) -> None:
        await self._client.close()

    async def open_stream(self, *, language: str = "en") -> OpenAISTTStream:
        return OpenAISTTStream(self, language)

    def _fields(self, language: str) -> dict[str, str]:
        fields = {"model": self.model, "language": language, "response_format": "json"}
        if self.prompt:
            fields["prompt"] = self.prompt
        return fields

    def start_upload(self, language: str) -> StreamedUpload:
        """An utterance's streamed upload, its WAV header already written."""
        form = MultipartWriter(self._fields(language), "file", "utterance.wav", "audio/wav")
        upload = StreamedUpload(
            self._http,
            self._url,
            self._upload_headers,
            form,
            timeout=self.timeout,
            batch_bytes=self.upload_batch_bytes,
            status_error=_status_error,
        )
        upload.write(wav_header(self.sample_rate))
        return upload

    async def transcribe(self, pcm: bytes, language: str) -> str:
        """One utterance uploaded whole, through the SDK."""
        extra: dict[str, Any] = {}
        if self.prompt:
            extra["prompt"] = self.prompt
        response = await self._client.audio.transcriptions.with_raw_response.create(
            model=self.model,
            file=("utterance.wav", pcm_to_wav(pcm, self.sample_rate), "audio/wav"),
            language=language,
            response_format="json",
            **extra,
        )
        return self._text(response.content)

    async def finish(self, job: _Job, language: str) -> str:
        """A flushed utterance's transcript: its streamed upload's answer, or a whole upload."""
        if job.upload is None:
            return await self.transcribe(bytes(job.pcm), language)
        try:
            return self._text(await job.upload.result())
        except openai.APIStatusError as exc:
            if exc.status_code not in STREAM_REFUSED:
                raise
            refused = exc.status_code
        text = await self.transcribe(bytes(job.pcm), language)
        if self.stream_upload:
            self.stream_upload = False
            log.warning(
                "%s: streamed upload refused (HTTP %d), whole uploads worked: uploading whole",
                self.name,
                refused,
            )
        return text

    def _text(self, raw: bytes) -> str:
        body = json_object(raw)  # untrusted: anything but {"text": str} is an error
        text = body.get("text") if body is not None else None
        if not isinstance(text, str):
            raise ProviderError(f"{self.name}: response has no text", provider=self.name)
        return text.strip()


def _status_error(response: Any) -> openai.APIStatusError:
    """An HTTP error answer as the SDK would raise it (``error_map`` reads its body)."""
    body = json_object(response.content)
    return openai.APIStatusError(
        f"Error code: {response.status_code}", response=response, body=body
    )


class OpenAISTTStream:
    def __init__(self, owner: OpenAISTT, language: str) -> None:
        self.owner = owner
        self.language = language
        self._buffer = bytearray()
        self._limit = int(owner.max_utterance_seconds * owner.sample_rate) * 2
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue()
        self._results = TranscriptQueue()
        self._closed = False
        self._failed = False
        # The utterance's streamed upload; ``_whole`` once it outgrew the limit.
        self._upload: StreamedUpload | None = None
        self._whole = False
        self._busy = False  # the worker is answering a flushed utterance
        self.dropped_seconds = 0.0
        self._worker = asyncio.create_task(self._work())

    def push_frame(self, frame: AudioFrame) -> None:
        if frame.sample_rate != self.owner.sample_rate:
            raise ValueError(f"expected {self.owner.sample_rate} Hz audio, got {frame.sample_rate}")
        if self._closed or self._failed:
            return
        pcm = frame.pcm
        self._buffer += pcm
        if self.owner.stream_upload and not self._whole:
            self._stream(pcm)
        excess = len(self._buffer) - self._limit
        if excess > 0:
            excess += excess % 2
            del self._buffer[:excess]
            self.dropped_seconds += excess / 2 / self.owner.sample_rate

    def _stream(self, pcm: bytes) -> None:
        upload = self._upload
        if upload is None:
            upload = self._upload = self.owner.start_upload(self.language)
            upload.when_done(self._upload_ended)
        if len(self._buffer) > self._limit:
            # Too long to send whole: what was sent cannot be taken back, so this
            # utterance goes whole at flush, its older audio dropped.
            upload.abort()
            self._upload = None
            self._whole = True
            return
        upload.write(pcm)

    def _upload_ended(self, upload: StreamedUpload) -> None:
        """An upload that fails while the user is still speaking fails the stream at
        once (a fallback chain takes over mid-utterance), unless answers for earlier
        utterances are still due (they come first) or the server only refused the
        streaming (the utterance goes whole at the flush)."""
        error = upload.error
        if upload is not self._upload or error is None or self._closed or self._failed:
            return
        if isinstance(error, openai.APIStatusError) and error.status_code in STREAM_REFUSED:
            return
        if self._busy or not self._jobs.empty():
            return
        self._upload = None
        self._fail(self.owner._recorder(), error)
        self._worker.cancel()

    def flush(self) -> None:
        if self._closed or self._failed:
            return
        upload, self._upload = self._upload, None
        if upload is not None:
            upload.finish()
        self._whole = False
        self._jobs.put_nowait(_Job(self._buffer, upload))
        self._buffer = bytearray()

    def __aiter__(self) -> AsyncIterator[Transcript]:
        return self._results.iterate()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)
        self._abort_uploads()
        self._results.end()

    def _abort_uploads(self) -> None:
        if self._upload is not None:
            self._upload.abort()
            self._upload = None
        while not self._jobs.empty():
            job = self._jobs.get_nowait()
            if job.upload is not None:
                job.upload.abort()

    def _fail(self, rec: MetricsRecorder, exc: BaseException) -> None:
        error = self.owner._error(exc)
        self.owner._publish(rec, error)
        self._failed = True
        self._abort_uploads()
        self._results.fail(error)

    async def _work(self) -> None:
        while True:
            job = await self._jobs.get()
            seconds = len(job.pcm) / 2 / self.owner.sample_rate
            rec = self.owner._recorder()
            rec.audio_seconds = seconds
            if not job.pcm:
                self._results.put(Transcript("", True, 1.0, 0.0))
                continue
            self._busy = True
            try:
                text = await self.owner.finish(job, self.language)
            except Exception as exc:
                self._fail(rec, exc)
                return
            finally:
                self._busy = False
                if job.upload is not None:
                    job.upload.abort()  # a no-op once answered; drops it if this task is cancelled
            rec.first_byte()
            rec.finalize_latency = rec.ttfb
            self.owner._publish(rec)
            self._results.put(Transcript(text, True, 1.0, seconds))
