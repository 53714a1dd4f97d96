"""The Media Streams WebSocket endpoint: upgrade check, then one of two socket paths.

The upgrade's signature check, admission and ``accept`` are the same on both.
Then:

- under ``cap serve`` (uvicorn with ``telephony.wire.MediaWebSocketProtocol``)
  the endpoint takes the connection over (``telephony.wire_stream``): each
  message reaches the stream from ``data_received`` with no task wake-up, and
  outgoing messages are written straight to the transport;
- under any other ASGI server, a receive loop over the ASGI socket, and one
  sender task draining a bounded queue.

Either way a slow peer never blocks the pipeline: while it is not reading,
audio past the outbox limit is dropped (and counted), control messages never
are, and a ``clear`` first drops queued audio that has not reached the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from fastapi import WebSocket, WebSocketDisconnect

from telephony.admission import CLOSE_POLICY, StreamAdmission
from telephony.errors import StreamClosed
from telephony.held import HeldMessages
from telephony.host import Outbox, SessionHost
from telephony.media_stream import CLOSE_NORMAL, StreamLimits, TwilioMediaStream
from telephony.service import TwilioTelephony
from telephony.signature import SIGNATURE_HEADER, signed_url
from telephony.wire import WireSocket, wire_socket
from telephony.wire_stream import WireCall, WireOutbox

log = logging.getLogger(__name__)

OUTBOX_LIMIT = 1000  # messages: ~15 s of 20 ms frames with marks
START_TIMEOUT_SECS = 10.0  # Twilio sends start right after connected
SEND_CLOSE_TIMEOUT = 2.0


class SocketOutbox:
    def __init__(self, limit: int = OUTBOX_LIMIT) -> None:
        self._items = HeldMessages(limit)
        self._ready = asyncio.Event()
        self._closed = False

    @property
    def dropped(self) -> int:
        return self._items.dropped

    def send(self, text: str, *, audio: bool = False) -> None:
        if not self._closed and self._items.hold(text, audio=audio):
            self._ready.set()

    def drop_audio(self) -> int:
        return self._items.drop_audio()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    async def run(self, ws: WebSocket) -> None:
        while True:
            await self._ready.wait()
            while self._items:
                await ws.send_text(self._items.pop())
            if self._closed:
                return
            self._ready.clear()


async def serve_media_stream(
    ws: WebSocket,
    telephony: TwilioTelephony,
    host: SessionHost,
    *,
    limits: StreamLimits | None = None,
) -> None:
    url = signed_url(telephony.public_url, str(ws.url), websocket=True)
    signed = telephony.verify(url, {}, ws.headers.get(SIGNATURE_HEADER))
    admission = StreamAdmission(
        telephony.tokens, upgrade_signed=signed, account_sid=telephony.settings.account_sid
    )
    await ws.accept()

    def new_stream(outbox: Outbox) -> TwilioMediaStream:
        return TwilioMediaStream(
            host,
            outbox,
            admission=admission,
            directory=telephony.directory,
            actions=telephony,
            mark_every_frames=telephony.settings.mark_every_frames,
            limits=limits,
        )

    socket = wire_socket(ws.scope)
    if socket is not None:
        await _serve_wire(ws, socket, telephony, new_stream)
    else:
        await _serve_asgi(ws, telephony, new_stream)


async def _serve_wire(
    ws: WebSocket,
    socket: WireSocket,
    telephony: TwilioTelephony,
    new_stream: Callable[[Outbox], TwilioMediaStream],
) -> None:
    outbox = WireOutbox(socket)
    stream = new_stream(outbox)
    call = WireCall(socket, stream, outbox)
    call_sid: str | None = None
    code, reason = CLOSE_NORMAL, "stopped"
    try:
        if await call.start(START_TIMEOUT_SECS):
            assert stream.identity is not None
            call_sid = stream.identity.call_sid
            telephony.streams[call_sid] = stream
        code, reason = await call.finished()
        if reason not in ("stopped", "peer_closed", "no start message"):
            log.warning("twilio stream closed: %s", reason)
    finally:
        if call_sid is not None and telephony.streams.get(call_sid) is stream:
            del telephony.streams[call_sid]
        await stream.aclose(_reason_label(reason))
        outbox.close()
        if reason != "peer_closed":
            try:
                await asyncio.wait_for(outbox.drained(), SEND_CLOSE_TIMEOUT)
                await asyncio.wait_for(ws.close(code, reason[:120]), SEND_CLOSE_TIMEOUT)
            except TimeoutError:
                socket.abort()  # the peer reads nothing: no closing handshake either
            except Exception:
                log.debug("twilio stream: close failed", exc_info=True)
        outbox.abandon()


async def _serve_asgi(
    ws: WebSocket,
    telephony: TwilioTelephony,
    new_stream: Callable[[Outbox], TwilioMediaStream],
) -> None:
    outbox = SocketOutbox()
    stream = new_stream(outbox)
    sender = asyncio.create_task(outbox.run(ws))
    code, reason = CLOSE_NORMAL, "stopped"
    call_sid: str | None = None
    try:
        while stream.open:
            if stream.identity is None:
                message = await asyncio.wait_for(ws.receive(), START_TIMEOUT_SECS)
            else:
                message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                reason = "peer_closed"
                break
            if message.get("text") is not None:
                await stream.receive_text(message["text"])
                if call_sid is None and stream.identity is not None:
                    call_sid = stream.identity.call_sid
                    telephony.streams[call_sid] = stream
            elif message.get("bytes") is not None:
                stream.receive_binary(message["bytes"])
    except StreamClosed as closed:
        code, reason = closed.code, closed.reason
        log.warning("twilio stream closed: %s", reason)
    except TimeoutError:
        code, reason = CLOSE_POLICY, "no start message"
    except WebSocketDisconnect:
        reason = "peer_closed"
    finally:
        if call_sid is not None and telephony.streams.get(call_sid) is stream:
            del telephony.streams[call_sid]
        await stream.aclose(_reason_label(reason))
        outbox.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sender, SEND_CLOSE_TIMEOUT)
        sender.cancel()
        with contextlib.suppress(Exception):
            await ws.close(code, reason[:120])


def _reason_label(reason: str) -> str:
    """A bounded label set for the closed-streams counter."""
    known = {"stopped", "peer_closed", "no start message", "too many invalid messages"}
    return reason if reason in known else "rejected"
