"""Input-streaming TTS rows: the socket adapters against their
fakes, their bare-``websockets`` floor, and first audio after the first LLM token
for sentence-by-sentence HTTP TTS versus text streamed into one socket.

Three figures per socket adapter:

* ``elevenlabs-ws``/``deepgram-ws``: ``synthesize(SENTENCE)`` (``tts_call``)
  on a fresh socket, handshake included, comparable to the HTTP adapters' rows;
* ``pre-opened``: the socket opened before the text (as a reply opens it
  while the LLM thinks), timed from the first ``push_text`` to first audio;
* ``token->audio``: an LLM writing ``REPLY`` at ``TOKEN_INTERVAL`` per word;
  from its first token to the first audio out. The HTTP row cuts the text
  with the responder's ``SentenceAggregator`` and synthesizes each sentence.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

from websockets.asyncio.client import connect

from benchmarks.providers.measure import Call, now
from pipelines.providers.base import TTSProvider
from pipelines.providers.cloud.tts_socket import CloudSocketTTS
from pipelines.text import SentenceAggregator

REPLY = (
    "Sure, I can move your booking to Friday at seven in the evening. "
    "Would you like me to keep the same table for four people?"
)
TOKEN_INTERVAL = 0.03


def ws_preopened_call(tts: CloudSocketTTS, sentence: str) -> Call:
    async def call() -> tuple[float, float, float]:
        stream = await tts.open_stream()
        await asyncio.sleep(0.005)  # the socket idles while the LLM thinks
        (t0, c0), first, cpu = now(), 0.0, 0.0
        stream.push_text(sentence)
        stream.end_input()
        async for _ in stream:
            if not first:
                first, cpu = time.perf_counter(), time.process_time() - c0
        return t0, first, cpu

    return call


def raw_ws_call(url: str, headers: dict[str, str], opening: list[str], speak: list[str]) -> Call:
    """A bare ``websockets`` client: connect, send, first audio (binary or base64 JSON)."""

    async def call() -> tuple[float, float, float]:
        (t0, c0), first, cpu = now(), 0.0, 0.0
        async with connect(
            url, additional_headers=headers, compression=None, close_timeout=0.5
        ) as ws:
            for out in [*opening, *speak]:
                await ws.send(out)
            async for message in ws:
                if isinstance(message, bytes):
                    audio = message
                else:
                    body = json.loads(message)
                    audio = base64.b64decode(body["audio"]) if body.get("audio") else b""
                    if body.get("isFinal"):
                        break
                if audio and not first:
                    first, cpu = time.perf_counter(), time.process_time() - c0
                    break
        return t0, first, cpu

    return call


def raw_elevenlabs(ws_url: str, key: str, sentence: str) -> Call:
    url = f"{ws_url}/v1/text-to-speech/voice-1/stream-input?model_id=m&output_format=pcm_16000"
    opening = [json.dumps({"text": " ", "generation_config": {"chunk_length_schedule": [50]}})]
    return raw_ws_call(
        url, {"xi-api-key": key}, opening, [json.dumps({"text": sentence}), '{"text": ""}']
    )


def raw_deepgram_speak(ws_url: str, key: str, sentence: str) -> Call:
    url = f"{ws_url}/v1/speak?model=m&encoding=linear16&sample_rate=16000"
    speak = [json.dumps({"type": "Speak", "text": sentence}), '{"type": "Flush"}']
    return raw_ws_call(url, {"Authorization": f"Token {key}"}, [], speak)


async def _tokens(text: str, interval: float) -> Any:
    for i, word in enumerate(text.split(" ")):
        if i:
            await asyncio.sleep(interval)
        yield word + " "


def token_to_audio_http(tts: TTSProvider, text: str = REPLY) -> Call:
    """The responder's path today: sentences cut from the token stream, one request each."""

    async def call() -> tuple[float, float, float]:
        sentences: asyncio.Queue[str | None] = asyncio.Queue()
        t0, c0 = 0.0, time.process_time()  # CPU counted from the call's start here

        async def think() -> None:
            nonlocal t0
            aggregator = SentenceAggregator()
            async for token in _tokens(text, TOKEN_INTERVAL):
                t0 = t0 or time.perf_counter()
                for sentence in aggregator.push(token):
                    sentences.put_nowait(sentence)
            if rest := aggregator.flush():
                sentences.put_nowait(rest)
            sentences.put_nowait(None)

        thinking = asyncio.get_running_loop().create_task(think())
        first, cpu = 0.0, 0.0
        while (sentence := await sentences.get()) is not None:
            async for _ in tts.synthesize(sentence):
                if not first:
                    first, cpu = time.perf_counter(), time.process_time() - c0
        await thinking
        return t0, first, cpu

    return call


def token_to_audio_ws(tts: CloudSocketTTS, text: str = REPLY) -> Call:
    """Tokens pushed into a socket opened when the reply started."""

    async def call() -> tuple[float, float, float]:
        c0 = time.process_time()  # CPU counted from the call's start here
        stream = await tts.open_stream()
        t0 = 0.0

        async def think() -> None:
            nonlocal t0
            async for token in _tokens(text, TOKEN_INTERVAL):
                t0 = t0 or time.perf_counter()
                stream.push_text(token)
            stream.end_input()

        thinking = asyncio.get_running_loop().create_task(think())
        first, cpu = 0.0, 0.0
        async for _ in stream:
            if not first:
                first, cpu = time.perf_counter(), time.process_time() - c0
        await thinking
        return t0, first, cpu

    return call
