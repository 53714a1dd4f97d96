"""One timed call per stage, through an adapter or through a bare client.

Each ``Call`` returns (t0, first output, CPU time at first output). The bare
clients (``raw_*``) are the floor: the same request on the same fake with
plain httpx/websockets, so ``adapter - raw`` is the adapter's and SDK's share.
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AsyncExitStack
from typing import Any

import httpx
import websockets

from benchmarks.providers.measure import Call, now
from media.frames import AudioFrame, Reframer
from pipelines.providers.base import ChatMessage, LLMProvider, TextDelta, TTSProvider
from pipelines.providers.cloud import DeepgramSTT, OpenAISTT
from tests.fakes.audio import speech

HISTORY = [ChatMessage("system", "Be brief."), ChatMessage("user", "Hi there!")]
SENTENCE = "Hello there, how can I help you today?"
UTTERANCE_S = 0.4


def llm_call(llm: LLMProvider) -> Call:
    async def call() -> tuple[float, float, float]:
        (t0, c0), first, cpu = now(), 0.0, 0.0
        async for event in llm.stream(HISTORY):  # consumed whole: the connection is reused
            if not first and isinstance(event, TextDelta):
                first, cpu = time.perf_counter(), time.process_time() - c0
        return t0, first, cpu

    return call


def tts_call(tts: TTSProvider) -> Call:
    async def call() -> tuple[float, float, float]:
        (t0, c0), first, cpu = now(), 0.0, 0.0
        async for _ in tts.synthesize(SENTENCE):
            if not first:
                first, cpu = time.perf_counter(), time.process_time() - c0
        return t0, first, cpu

    return call


def frames(seconds: float) -> list[AudioFrame]:
    return [AudioFrame(pcm) for pcm in Reframer().push(speech(seconds))]


class STTCall:
    """One utterance: 0.4 s of speech, then flush; t0 is the flush (VAD end of speech).

    ``keep_open`` reuses one stream (Deepgram's socket) across calls. The last
    ``tail_frames`` are pushed just before the flush, as a caller's last words
    arrive: a streamed upload (OpenAI STT) has them, less than one of its
    batches, still to send when the user stops.
    """

    def __init__(self, stt: OpenAISTT | DeepgramSTT, keep_open: bool, tail_frames: int = 0) -> None:
        self.stt = stt
        self.keep_open = keep_open
        self.tail_frames = tail_frames
        self.stream: Any = None

    async def __call__(self) -> tuple[float, float, float]:
        if self.stream is None:
            self.stream = await self.stt.open_stream()
        stream = self.stream
        utterance = frames(UTTERANCE_S)
        split = len(utterance) - self.tail_frames
        for f in utterance[:split]:
            stream.push_frame(f)
        await asyncio.sleep(0.03)  # interim results flow, as in a real utterance
        for f in utterance[split:]:
            stream.push_frame(f)
        t0, c0 = now()
        stream.flush()
        async for t in stream:
            if t.is_final:
                break
        first, cpu = time.perf_counter(), time.process_time() - c0
        if not self.keep_open:
            await self.close()
        return t0, first, cpu

    async def close(self) -> None:
        if self.stream is not None:
            stream, self.stream = self.stream, None
            await stream.aclose()


# ---------------------------------------------------------------- bare clients (the floor)


def raw_http(http: httpx.AsyncClient, url: str, marker: bytes | None, **request: Any) -> Call:
    async def call() -> tuple[float, float, float]:
        (t0, c0), first, cpu = now(), 0.0, 0.0
        async with http.stream("POST", url, **request) as response:
            async for chunk in response.aiter_raw():
                if not first and (marker is None or marker in chunk):
                    first, cpu = time.perf_counter(), time.process_time() - c0
        return t0, first, cpu

    return call


def raw_deepgram(ws_url: str, key: str, stack: AsyncExitStack) -> Call:
    url = f"{ws_url}/v1/listen?encoding=linear16&sample_rate=16000&interim_results=true"
    headers = {"Authorization": f"Token {key}"}
    sockets: list[Any] = []

    async def call() -> tuple[float, float, float]:
        if not sockets:  # connect on first use: an idle socket would hit the idle timeout
            connect = websockets.connect(url, additional_headers=headers)
            sockets.append(await stack.enter_async_context(connect))
        ws = sockets[0]
        await ws.send(speech(UTTERANCE_S))
        await asyncio.sleep(0.03)
        t0, c0 = now()
        await ws.send('{"type": "Finalize"}')
        while not json.loads(await ws.recv()).get("from_finalize"):
            pass
        return t0, time.perf_counter(), time.process_time() - c0

    return call
