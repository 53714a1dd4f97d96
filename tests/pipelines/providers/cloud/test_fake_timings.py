"""The fakes' own timing side channel, which the providers benchmark relies on.

Each fake records how long it held an answer (input fully read -> first useful
byte written) and serves it on ``/_fake/last`` and ``/_fake/timings``; the
fixed latency knob runs from when the input was fully read.
"""

from __future__ import annotations

import asyncio
import io
import time
import wave

import httpx
import websockets

from tests.fakes import DeepgramFake, OpenAIFake
from tests.fakes.audio import speech
from tests.fakes.server import wait_until

from .conftest import API_KEY

BEARER = {"Authorization": f"Bearer {API_KEY}"}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}


def wav_bytes(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(speech(seconds))
    return out.getvalue()


async def test_hold_covers_the_latency_and_is_served(openai_fake: OpenAIFake) -> None:
    openai_fake.knobs.latency = 0.03
    async with httpx.AsyncClient(base_url=openai_fake.http_url) as http:
        for _ in range(2):
            r = await http.post("/v1/chat/completions", json=CHAT, headers=BEARER)
            assert r.status_code == 200
        last = (await http.get("/_fake/last", params={"path": "/v1/chat/completions"})).json()
        timings = await http.get("/_fake/timings", params={"path": "/v1/chat/completions", "n": 5})
    rec = openai_fake.requests[-1]
    assert rec.first_byte_at is not None and rec.hold() == rec.first_byte_at - rec.received_at
    assert last["hold"] == rec.hold() and last["hold"] >= 0.03  # never answers early
    assert [t["hold"] for t in timings.json()] == [r.hold() for r in openai_fake.requests]


async def test_timings_clear_and_reject_a_bad_count(openai_fake: OpenAIFake) -> None:
    async with httpx.AsyncClient(base_url=openai_fake.http_url) as http:
        await http.post("/v1/chat/completions", json=CHAT, headers=BEARER)
        bad = await http.get("/_fake/timings", params={"n": "many"})
        assert bad.status_code == 400 and "n must be an integer" in bad.text
        cleared = await http.get("/_fake/timings", params={"n": "0", "clear": "1"})
        assert cleared.json() == [] and openai_fake.requests == []
        missing = await http.get("/_fake/last", params={"path": "/v1/chat/completions"})
        assert missing.status_code == 404


async def test_transcription_form_parsed_from_the_read_body(openai_fake: OpenAIFake) -> None:
    openai_fake.knobs.latency = 0.02
    async with httpx.AsyncClient(base_url=openai_fake.http_url) as http:
        r = await http.post(
            "/v1/audio/transcriptions",
            data={"model": "m", "language": "en"},
            files={"file": ("a.wav", wav_bytes(0.5), "audio/wav")},
            headers=BEARER,
        )
        assert r.status_code == 200
        assert r.json()["usage"] == {"type": "duration", "seconds": 0.5}  # the WAV came intact
        assert openai_fake.requests[-1].body == {"model": "m", "language": "en"}
        hold = openai_fake.requests[-1].hold()
        assert hold is not None and hold >= 0.02
        for broken in (b"not a form", b"--x\r\nContent-Disposition: form-data\r\n\r\n--x--"):
            r = await http.post(
                "/v1/audio/transcriptions",
                content=broken,
                headers={**BEARER, "Content-Type": "multipart/form-data; boundary=x"},
            )
            assert r.status_code == 400 and "'file' and 'model' are required" in r.text


async def test_listen_hold_is_finalize_to_its_result(deepgram_fake: DeepgramFake) -> None:
    url = f"{deepgram_fake.ws_url}/v1/listen?encoding=linear16&sample_rate=16000"
    headers = {"Authorization": f"Token {API_KEY}"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send(speech(0.4))
        await ws.send('{"type": "Finalize"}')
        while '"from_finalize": true' not in str(await ws.recv()):
            pass
        rec = deepgram_fake.requests[-1]
        marks = dict(rec.marks)
        assert rec.hold() == marks["out:from_finalize"] - marks["in:Finalize"]


async def test_wait_until_never_returns_early_and_lets_others_run() -> None:
    ticks = 0

    async def other() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    deadline = time.perf_counter() + 0.01
    await wait_until(deadline)
    assert time.perf_counter() >= deadline and ticks > 0
    task.cancel()
