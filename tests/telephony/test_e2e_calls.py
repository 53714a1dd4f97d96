"""End to end over a real socket: Twilio's webhook, then a protocol-faithful Twilio peer
on the Media Streams WebSocket, against the app served by uvicorn, with fake providers
(VAD is the real webrtcvad on espeak-ng speech)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from control_plane.voice.runtime import VoiceRuntime
from telephony.service import TwilioTelephony
from tests.support.speech import speak
from tests.telephony.peer import TwilioPeer
from tests.telephony.platform import platform_app
from tests.telephony.support import (
    HUMAN,
    STORY,
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
from tests.tenancy.backends import Backend

pytestmark = pytest.mark.slow  # real-time audio

CALL_SID = "CA" + "1" * 32


@asynccontextmanager
async def call(
    rest: TwilioRestFake, *stt_script: str, latency: float = 0.0, call_sid: str = CALL_SID
) -> AsyncIterator[tuple[TwilioPeer, VoiceRuntime, TwilioTelephony]]:
    runtime = VoiceRuntime(fake_registry(stt_script), {"default": fake_agent()})
    app = make_app(runtime, api_base_url=rest.http_url)
    telephony: TwilioTelephony = app.state.telephony
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
            yield peer, runtime, telephony


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


async def test_barge_in_clears_the_callers_audio_and_keeps_only_what_was_heard(
    rest_fake: TwilioRestFake,
) -> None:
    latency = 0.3  # Twilio's buffer and the network: sent is not heard
    async with call(rest_fake, "tell me a story", latency=latency) as (peer, runtime, telephony):
        await peer.pause(0.2)
        await peer.say(speak("Please tell me a story.", 8000))
        await peer.pause(0.3)
        await wait_until(lambda: peer.log.played_secs() > 1.5, within=8.0)
        await peer.say(speak("Stop, stop, wait a moment.", 8000))
        await wait_until(lambda: peer.log.clears, within=3.0)
        cleared_at = peer.log.clears[0]
        heard_secs = peer.log.played_secs(until=cleared_at)
        await peer.pause(0.2)

        # Playback stopped within one frame of the clear, and nothing more of the
        # interrupted reply arrived while the caller was still talking.
        assert peer.log.played_secs(since=cleared_at + 0.02, until=cleared_at + 0.5) == 0.0
        assert peer.log.received_secs(since=cleared_at, until=cleared_at + 0.5) <= 0.02
        # Pending marks came back at once on the clear, as Twilio does.
        assert peer.log.marks_echoed == peer.log.marks_received

        stream = telephony.streams[CALL_SID]
        cut = stream.last_interruption
        assert cut is not None
        # What the server believes was heard is what the marks said had been played when
        # it interrupted: the peer's playback minus the audio still in flight (latency),
        # and at most one mark interval (100 ms) short of it.
        at_interrupt = heard_secs - latency
        assert at_interrupt - 0.18 <= cut.played_ms / 1000 <= at_interrupt + 0.06
        session = next(iter(runtime.sessions.values()))
        agent = next(m for m in session.history if m.role == "assistant")
        assert agent.interrupted and agent.content == cut.heard_text
        assert cut.heard_text and STORY.startswith(cut.heard_text)


async def test_keypad_zero_transfers_the_live_call_to_a_human(rest_fake: TwilioRestFake) -> None:
    rest_fake.add_live_call(CALL_SID)
    async with call(rest_fake) as (peer, runtime, _):

        async def twilio_ends_stream(_call: object, _fields: dict[str, str]) -> None:
            peer.end_soon()

        rest_fake.on_update = twilio_ends_stream
        await peer.pause(0.1)
        await peer.press("0")
        await asyncio.wait_for(peer.closed.wait(), 3.0)
        await wait_until(lambda: not runtime.sessions)
    (update,) = rest_fake.calls[CALL_SID].twiml_updates
    assert update.endswith(f"<Response><Dial>{HUMAN}</Dial></Response>")
    assert rest_fake.requests[-1].headers["Authorization"].startswith("Basic ")


async def test_keypad_nine_hangs_up_and_other_digits_reach_the_agent(
    rest_fake: TwilioRestFake,
) -> None:
    rest_fake.add_live_call(CALL_SID)
    async with call(rest_fake) as (peer, runtime, telephony):
        await peer.pause(0.1)
        await peer.press("5")
        await wait_until(lambda: peer.log.played_secs() > 0.3)
        session = next(iter(runtime.sessions.values()))
        assert session.history[0].content == "[keypad] 5"
        assert telephony.streams[CALL_SID].digits == ["5"]
        await peer.press("9")
        await wait_until(lambda: rest_fake.calls[CALL_SID].status == "completed")
        await telephony.drain()


async def test_outbound_call_is_placed_answered_and_hung_up_through_the_api(
    rest_fake: TwilioRestFake, sqlite_backend: Backend, tmp_path: Path
) -> None:
    """The control plane's API places the call from the organisation's number; the
    callee hears the agent's published version; the status callback bills the org."""
    async with platform_app(
        sqlite_backend, tmp_path, rest_url=rest_fake.http_url, serve=True, stt_script=("hello",)
    ) as platform:
        base, http = platform.base, platform.api.client
        owner = await platform.api.person(tag="owner")
        agent_id = await platform.published_agent(owner)
        number = (await platform.number(owner, agent_id))["number"]
        key = {"Authorization": f"Bearer {await platform.api.api_key(owner, ['calls.write'])}"}
        placed = await http.post(
            "/v1/calls", json={"to": "+1 555 123 4567", "agent_id": agent_id}, headers=key
        )
        assert placed.status_code == 201, placed.text
        call_sid = placed.json()["call_sid"]
        made = rest_fake.calls[call_sid]
        assert (made.to, made.from_) == ("+15551234567", number)
        assert made.url == f"{base}/telephony/twilio/voice?agent={agent_id}"
        assert made.status_callback == f"{base}/telephony/twilio/status"
        assert made.status_events == ["initiated", "ringing", "answered", "completed"]

        # The callee answers: Twilio fetches the TwiML from the URL it was given.
        params = call_params(call_sid, to="+15551234567", from_=number)
        params["Direction"] = "outbound-api"
        answer = await twilio_post(http, made.url, params)
        stream = parse_stream(answer.text)
        assert stream.parameters["agent"] == agent_id
        assert stream.parameters["number"] == number
        peer = TwilioPeer(
            stream.url, call_sid=call_sid, parameters=stream.parameters, signature=None
        )  # no upgrade signature: admitted by the stream token alone

        async def twilio_ends_stream(_call: object, _fields: dict[str, str]) -> None:
            peer.end_soon()

        rest_fake.on_update = twilio_ends_stream
        await peer.open()
        await peer.pause(0.2)
        await peer.say(speak("Hello there.", 8000))
        await wait_until(lambda: peer.log.played_secs() > 0.5)
        # The session runs for the organisation (suspending it would end the call).
        assert platform.runtime.live_sessions_of(owner.org_id or "") == 1

        hung = await http.post(f"/v1/calls/{call_sid}/hangup", headers=key)
        assert hung.status_code == 200 and made.status == "completed"
        await asyncio.wait_for(peer.closed.wait(), 3.0)

        done = {**params, "CallStatus": "completed", "CallDuration": "7"}
        recorded = await twilio_post(http, f"{base}/telephony/twilio/status", done)
        assert recorded.status_code == 204
        record = (await platform.api.call("GET", f"/v1/calls/{call_sid}", owner)).json()
        assert record["status"] == "completed" and record["duration_secs"] == 7
        assert record["direction"] == "outbound" and record["agent_id"] == agent_id
        assert record["started_at"] <= record["ended_at"]


async def test_a_stream_whose_organisation_was_suspended_meanwhile_is_refused(
    rest_fake: TwilioRestFake, sqlite_backend: Backend, tmp_path: Path
) -> None:
    """The webhook answered with a stream, then the organisation was suspended before
    Twilio opened it: the stream's start is refused (1008) and no session opens."""
    async with platform_app(sqlite_backend, tmp_path, serve=True) as platform:
        owner = await platform.api.person(tag="owner")
        agent_id = await platform.published_agent(owner)
        number = (await platform.number(owner, agent_id))["number"]
        params = call_params(CALL_SID, to=number)
        answer = await twilio_post(
            platform.api.client, f"{platform.base}/telephony/twilio/voice", params
        )
        stream = parse_stream(answer.text)
        assert stream.parameters["agent"] == agent_id
        admin = await platform.api.person(org=False, admin=True, tag="admin")
        suspended = await platform.api.call(
            "POST", f"/v1/admin/orgs/{owner.org_id}/suspend", admin, json={"reason": "fraud"}
        )
        assert suspended.status_code == 200
        peer = TwilioPeer(
            stream.url,
            call_sid=CALL_SID,
            parameters=stream.parameters,
            signature=sign_upgrade(stream.url),
        )
        async with peer:
            await asyncio.wait_for(peer.closed.wait(), 3.0)
        # Refused as not allowed (the organisation), not as an unknown agent.
        assert (peer.close_code, peer.close_reason) == (1008, "agent not allowed")
        assert not platform.runtime.sessions
