"""Bad input over a real socket: each bad message is counted and the call goes on;
a flood closes that socket (1008) while another call on the same server carries on."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from control_plane.voice.runtime import VoiceRuntime
from telephony.service import TwilioTelephony
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

pytestmark = pytest.mark.slow  # real sockets, real-time microphone


async def dial(http: httpx.AsyncClient, base: str, call_sid: str, *, signed: bool) -> TwilioPeer:
    answer = await twilio_post(http, f"{base}/telephony/twilio/voice", call_params(call_sid))
    stream = parse_stream(answer.text)
    return TwilioPeer(
        stream.url,
        call_sid=call_sid,
        parameters=stream.parameters,
        signature=sign_upgrade(stream.url) if signed else None,
    )


async def test_a_flood_closes_only_its_own_socket() -> None:
    runtime = VoiceRuntime(fake_registry(), {"default": fake_agent()})
    app = make_app(runtime)
    telephony: TwilioTelephony = app.state.telephony
    async with live_server(app) as base, httpx.AsyncClient() as http:
        healthy = await dial(http, base, "CA" + "1" * 32, signed=True)
        flooder = await dial(http, base, "CA" + "2" * 32, signed=False)
        await healthy.open()
        await flooder.open()
        await healthy.pause(0.2)
        good = telephony.streams[healthy.call_sid]
        bad = telephony.streams[flooder.call_sid]
        # A few bad messages of each kind: counted, and the call goes on.
        await flooder.send(b"\x00binary")
        await flooder.send("{not json")
        await flooder.send('{"event":"media","streamSid":"MZ0","media":{"payload":"/w=="}}')
        await flooder.pause(0.1)
        assert bad.bad_messages == {"binary_frame": 1, "invalid_json": 1, "wrong_stream_sid": 1}
        assert bad.media_received > 0 and not flooder.closed.is_set()
        # Then a flood.
        for _ in range(60):
            await flooder.send("garbage")
        await asyncio.wait_for(flooder.closed.wait(), 3.0)
        assert flooder.close_code == 1008
        before = good.media_received
        await healthy.pause(0.3)
        assert good.media_received >= before + 10 and good.bad_messages == {}
        assert list(telephony.streams) == [healthy.call_sid]
        assert len(runtime.sessions) == 1
        await healthy.hang_up()
        await flooder.aclose()


async def test_a_stream_without_signature_or_valid_token_is_closed_with_1008() -> None:
    runtime = VoiceRuntime(fake_registry(), {"default": fake_agent()})
    app = make_app(runtime)
    async with live_server(app) as base, httpx.AsyncClient() as http:
        peer = await dial(http, base, "CA" + "3" * 32, signed=False)
        peer.parameters = {**peer.parameters, "token": "v1.9999999999.forged"}
        await peer.open()
        await asyncio.wait_for(peer.closed.wait(), 3.0)
        assert peer.close_code == 1008 and not runtime.sessions
        await peer.aclose()
        # A forged upgrade signature with no token fails the same way.
        forged = await dial(http, base, "CA" + "4" * 32, signed=False)
        forged.signature = "bm90IGEgc2lnbmF0dXJl"
        forged.parameters = {k: v for k, v in forged.parameters.items() if k != "token"}
        await forged.open()
        await asyncio.wait_for(forged.closed.wait(), 3.0)
        assert forged.close_code == 1008 and not runtime.sessions
        await forged.aclose()
