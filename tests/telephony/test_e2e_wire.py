"""The taken-over media socket on a real server (``cap serve``'s uvicorn protocol):
which path serves the call, a slow peer (transport backpressure), fragments, bad
UTF-8, and a peer that vanishes mid-message; the ASGI path for other servers."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from control_plane.voice.runtime import VoiceRuntime
from telephony import metrics
from telephony.service import TwilioTelephony
from telephony.socket import SocketOutbox
from telephony.wire import MediaWebSocketProtocol, wire_socket
from telephony.wire_stream import WireOutbox
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

pytestmark = pytest.mark.slow  # real sockets, real-time microphone

STACKS = [
    pytest.param(MediaWebSocketProtocol, id="cap-wire"),
    pytest.param("websockets-sansio", id="asgi"),
]


@asynccontextmanager
async def served(
    ws: type[asyncio.Protocol] | str, *stt_script: str
) -> AsyncIterator[tuple[str, httpx.AsyncClient, VoiceRuntime, TwilioTelephony]]:
    runtime = VoiceRuntime(fake_registry(stt_script), {"default": fake_agent()})
    app = make_app(runtime)
    async with live_server(app, ws=ws) as base, httpx.AsyncClient() as http:
        yield base, http, runtime, app.state.telephony


async def dial(http: httpx.AsyncClient, base: str, call_sid: str) -> TwilioPeer:
    answer = await twilio_post(http, f"{base}/telephony/twilio/voice", call_params(call_sid))
    stream = parse_stream(answer.text)
    return TwilioPeer(
        stream.url,
        call_sid=call_sid,
        parameters=stream.parameters,
        signature=sign_upgrade(stream.url),
    )


async def eventually(predicate: Any, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def closed_count(reason: str) -> float:
    return float(metrics.STREAMS_CLOSED.labels(reason)._value.get())


@pytest.mark.parametrize("ws", STACKS)
async def test_a_call_is_answered_on_either_path(ws: type[asyncio.Protocol] | str) -> None:
    async with served(ws, "what time is it") as (base, http, runtime, telephony):
        peer = await dial(http, base, "CA" + "5" * 32)
        async with peer:
            await peer.pause(0.2)
            stream = telephony.streams[peer.call_sid]
            wire = ws is MediaWebSocketProtocol
            assert isinstance(stream.outbox, WireOutbox if wire else SocketOutbox)
            await peer.say(speak("Hello, what time is it?", 8000))
            await peer.pause(0.4)
            await eventually(lambda: peer.log.played_secs() > 0.5)
            assert stream.bad_messages == {} and stream.media_received > 50
            assert peer.log.marks_echoed  # marks went out and came back
        await eventually(lambda: not telephony.streams and not runtime.sessions)


@pytest.mark.parametrize("ws", STACKS)
async def test_a_peer_vanishing_mid_message_ends_only_its_call(
    ws: type[asyncio.Protocol] | str,
) -> None:
    async with served(ws) as (base, http, runtime, telephony):
        staying = await dial(http, base, "CA" + "6" * 32)
        leaving = await dial(http, base, "CA" + "7" * 32)
        await staying.open()
        await leaving.open()
        await leaving.pause(0.1)
        before = closed_count("peer_closed")
        assert leaving.ws is not None
        gate = asyncio.Event()

        async def fragments() -> AsyncIterator[str]:
            yield '{"event":"media","streamSid":"'
            await gate.wait()  # never: the connection drops with the message half sent
            yield '"}'

        sending = asyncio.create_task(leaving.ws.send(fragments()))
        await asyncio.sleep(0.05)
        leaving.ws.transport.abort()
        await eventually(lambda: list(telephony.streams) == [staying.call_sid])
        assert len(runtime.sessions) == 1
        assert closed_count("peer_closed") == before + 1
        stream = telephony.streams[staying.call_sid]
        received = stream.media_received
        await staying.pause(0.2)
        assert stream.media_received >= received + 5 and stream.bad_messages == {}
        sending.cancel()
        await leaving.aclose()
        await staying.hang_up()


async def test_a_fragmented_message_arrives_whole_and_bad_utf8_closes_with_1007() -> None:
    async with served(MediaWebSocketProtocol) as (base, http, runtime, telephony):
        peer = await dial(http, base, "CA" + "8" * 32)
        await peer.open()
        await peer.pause(0.1)
        stream = telephony.streams[peer.call_sid]
        received = stream.media_received
        text = json.dumps(
            {
                "event": "media",
                "streamSid": peer.stream_sid,
                "media": {"track": "inbound", "payload": base64.b64encode(b"\xff" * 160).decode()},
            }
        )
        assert peer.ws is not None
        await peer.ws.send([text[:10], text[10:50], text[50:]])
        await eventually(lambda: stream.media_received > received)
        assert stream.bad_messages == {}
        await peer.ws.send(b"\xff\xfe not utf-8", text=True)
        await asyncio.wait_for(peer.closed.wait(), 3.0)
        assert peer.close_code == 1007
        await eventually(lambda: not telephony.streams and not runtime.sessions)
        await peer.aclose()


# ---------------------------------------------------------------- a slow peer


class Recorder:
    """A ``WireSink`` for the backpressure test: records, flushes on resume."""

    def __init__(self, outbox: WireOutbox) -> None:
        self.outbox = outbox
        self.texts: list[str] = []
        self.resumed = 0
        self.closed = asyncio.Event()

    def on_text(self, text: str) -> None:
        self.texts.append(text)

    def on_binary(self, data: bytes) -> None:
        pass

    def on_closed(self, code: int) -> None:
        self.closed.set()

    def on_writable(self) -> None:
        self.resumed += 1
        self.outbox.flush()


async def test_a_slow_peer_pauses_the_transport_audio_is_dropped_control_is_not() -> None:
    taken: asyncio.Queue[tuple[MediaWebSocketProtocol, WireOutbox, Recorder]] = asyncio.Queue()
    app = FastAPI()

    @app.websocket("/media")
    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        wire = wire_socket(ws.scope)
        assert isinstance(wire, MediaWebSocketProtocol)
        # Small buffers, so a peer that stops reading is felt within a few messages.
        wire.transport.set_write_buffer_limits(high=4096)
        raw = wire.transport.get_extra_info("socket")
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        outbox = WireOutbox(wire, limit=50)
        recorder = Recorder(outbox)
        wire.take_over(recorder)
        taken.put_nowait((wire, outbox, recorder))
        await recorder.closed.wait()

    async with live_server(app) as base:
        port = int(base.rsplit(":", 1)[1])
        client_sock = socket.socket()
        client_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client_sock.connect(("127.0.0.1", port))
        client_sock.setblocking(False)
        url = f"ws://127.0.0.1:{port}/media"
        async with connect(url, sock=client_sock, max_queue=2, compression=None) as client:
            wire, outbox, recorder = await asyncio.wait_for(taken.get(), 3.0)
            audio = "a" * 1000
            controls = 0
            for index in range(2000):  # the peer reads nothing meanwhile
                outbox.send(json.dumps({"n": index, "audio": audio}), audio=True)
                if index % 500 == 0:
                    outbox.send(json.dumps({"control": controls}))
                    controls += 1
            assert not wire.can_write and outbox.held > 0 and outbox.dropped > 0
            # Reading from the peer goes on while writing is paused.
            await client.send("still talking")
            await eventually(lambda: recorder.texts == ["still talking"])
            # The peer reads again: the transport resumes and what was held goes out.
            audio_seen: list[int] = []
            control_seen: list[int] = []
            expected = 2000 - outbox.dropped
            while len(audio_seen) < expected or len(control_seen) < controls:
                message = json.loads(await asyncio.wait_for(client.recv(), 5.0))
                if "control" in message:
                    control_seen.append(message["control"])
                else:
                    audio_seen.append(message["n"])
            assert control_seen == list(range(controls))
            assert audio_seen == sorted(audio_seen) and len(set(audio_seen)) == expected
            assert recorder.resumed > 0 and outbox.held == 0 and wire.can_write


async def test_other_sockets_on_the_same_server_are_plain_asgi() -> None:
    """The voice socket and the rest are not taken over: uvicorn's protocol as it is."""
    app = FastAPI()

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        assert wire_socket(ws.scope) is not None  # available, but this endpoint does not use it
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") == "bye":
                await ws.close(4001, "done")
                return
            if message.get("text") is not None:
                await ws.send_text(message["text"].upper())
            else:
                await ws.send_bytes(message["bytes"][::-1])

    async with live_server(app) as base:
        url = base.replace("http", "ws") + "/echo"
        async with connect(url) as client:
            await client.send("hello")
            assert await client.recv() == "HELLO"
            await client.send(b"\x01\x02")
            assert await client.recv() == b"\x02\x01"
            await client.send(["frag", "mented"])
            assert await client.recv() == "FRAGMENTED"
            await client.send("bye")
            with pytest.raises(ConnectionClosed):
                await client.recv()
            assert client.close_code == 4001 and client.close_reason == "done"
