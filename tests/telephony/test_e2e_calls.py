"""End to end over a real socket: Twilio's webhook, then a protocol-faithful Twilio peer
on the Media Streams WebSocket, against the app served by uvicorn, with fake providers
(VAD is the real webrtcvad on espeak-ng speech)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from control_plane.voice.runtime import VoiceRuntime
from tests.support.speech import speak
from tests.telephony.peer import TwilioPeer
from tests.telephony.support import (
    call_params,
    fake_agent,
    fake_registry,
    live_server,
    make_app,
    parse_stream,
    sign_upgrade,
    twilio_post,
)
from tests.telephony.twilio_rest import TwilioRestFake

pytestmark = pytest.mark.slow  # real-time audio

CALL_SID = "CA" + "1" * 32


@asynccontextmanager
async def call(
    rest: TwilioRestFake, *stt_script: str, latency: float = 0.0, call_sid: str = CALL_SID
) -> AsyncIterator[tuple[TwilioPeer, VoiceRuntime, str]]:
    runtime = VoiceRuntime(fake_registry(stt_script), {"default": fake_agent()})
    app = make_app(runtime, api_base_url=rest.http_url)
    async with live_server(app) as base, httpx.AsyncClient() as http:
        answer = await twilio_post(http, f"{base}/telephony/twilio/voice", call_params(call_sid))
        assert answer.status_code == 200
        stream = parse_stream(answer.text)
        peer = TwilioPeer(
            stream.url,
            call_sid=call_sid,
            parameters=stream.parameters,
            signature=sign_upgrade(stream.url),
            latency=latency,
        )
        async with peer:
            yield peer, runtime, base


async def wait_until(predicate: object, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def test_a_call_hears_a_spoken_answer(rest_fake: TwilioRestFake) -> None:
    async with call(rest_fake, "what time is it") as (peer, runtime, _):
        await peer.pause(0.3)
        await peer.say(speak("Hello, what time is it?", 8000))
        await peer.pause(0.4)
        await wait_until(lambda: peer.log.played_secs() > 1.0)
        session = next(iter(runtime.sessions.values()))
        assert [m.content for m in session.history][:1] == ["what time is it"]
        # 8 kHz mu-law in 20 ms frames (the first one shorter by the resampler's delay),
        # with marks echoed as played.
        sizes = [n for _, n in peer.log.media_received]
        assert max(sizes) == 160 and sizes.count(160) >= len(sizes) - 1
        await wait_until(lambda: len(peer.log.marks_echoed) >= 5)
        assert peer.log.marks_echoed == peer.log.marks_received[: len(peer.log.marks_echoed)]
        assert peer.log.clears == []
