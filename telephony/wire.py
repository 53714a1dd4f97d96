"""A WebSocket protocol for uvicorn whose connections an endpoint may take over.

``cap serve`` runs uvicorn with ``ws=MediaWebSocketProtocol``: one port, and
every WebSocket behaves exactly as with uvicorn's ``websockets-sansio`` stack
(the handshake goes through the ASGI app, which checks, accepts or refuses it).
An endpoint that wants the lean path (the Twilio media socket, 50 small text
messages per call per second) finds the connection in its scope with
``wire_socket(scope)`` after ``accept`` and calls ``take_over(sink)``. From then on:

- each complete message goes from ``data_received`` straight to the sink's
  ``on_text``/``on_binary``, synchronously: no ASGI queue, no task wake-up;
- ``send_text`` frames a message with websockets' ``ServerProtocol`` (the same
  object that did the handshake) and writes it to the transport at once;
- the transport's flow control reaches the sink: ``can_write`` is False while
  the transport is paused, and ``on_writable`` runs when it resumes;
- the end of the connection (close frame, lost TCP connection, protocol error)
  reaches the sink once, through ``on_closed``.

Pings, pongs, the closing handshake and ``websocket.close`` sent through the
ASGI app stay uvicorn's. Framing and parsing are websockets'; nothing here
reads bytes off the wire itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.frames import Frame, Opcode
from websockets.http11 import Request

TAKEOVER_EXTENSION = "cap.wire"  # scope["extensions"] key naming the connection
CLOSE_INVALID_UTF8 = 1007
CLOSE_ABNORMAL = 1006


class WireSink(Protocol):
    """What a taken-over connection calls; none of these may raise."""

    def on_text(self, text: str) -> None: ...

    def on_binary(self, data: bytes) -> None: ...

    def on_closed(self, code: int) -> None: ...

    def on_writable(self) -> None: ...


class WireSocket(Protocol):
    """The connection as an endpoint sees it after ``take_over``."""

    @property
    def can_write(self) -> bool: ...

    def take_over(self, sink: WireSink) -> None: ...

    def send_text(self, text: str) -> bool: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def abort(self) -> None: ...


def wire_socket(scope: Mapping[str, Any]) -> WireSocket | None:
    """The connection behind a WebSocket scope, when the server supports take-over."""
    extension = scope.get("extensions", {}).get(TAKEOVER_EXTENSION)
    socket = extension.get("socket") if isinstance(extension, dict) else None
    return socket if isinstance(socket, MediaWebSocketProtocol) else None


class MediaWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, plus ``take_over`` (see the module doc)."""

    _sink: WireSink | None = None
    _fragments: list[bytes] | None = None
    _fragments_text = False
    _reading_paused = False
    _end_told = False

    # ------------------------------------------------------------ take-over API

    @property
    def can_write(self) -> bool:
        return self.writable.is_set() and not self.close_sent and not self.disconnected

    def take_over(self, sink: WireSink) -> None:
        """Deliver this connection's messages to ``sink`` from now on (after ``accept``)."""
        if not self.handshake_complete or self._sink is not None:
            raise RuntimeError("take_over needs an accepted connection, once")
        self._sink = sink
        # Anything uvicorn queued before now (a client that did not wait for
        # the handshake's answer) goes first, in order; a disconnect stays queued.
        queued: list[Any] = []
        while not self.queue.empty():
            queued.append(self.queue.get_nowait())
        for message in queued:
            if message["type"] != "websocket.receive":
                self.queue.put_nowait(message)
                self._tell_closed(int(message.get("code", CLOSE_ABNORMAL)))
            elif message.get("text") is not None:
                sink.on_text(message["text"])
            elif message.get("bytes") is not None:
                sink.on_binary(message["bytes"])
        if self.read_paused:  # uvicorn pauses until its queue is read; nobody reads it now
            self.read_paused = False
            self._resume_transport()
        if self.disconnected:
            self._tell_closed(CLOSE_ABNORMAL)

    def send_text(self, text: str) -> bool:
        """Frame and write one text message now; False when the connection is closing."""
        if self.close_sent or self.disconnected:
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    def pause_reading(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            if not self.read_paused:
                self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            self._resume_transport()

    def abort(self) -> None:
        self.transport.abort()

    def _resume_transport(self) -> None:
        if not self._reading_paused and not self.read_paused and not self.transport.is_closing():
            self.transport.resume_reading()

    # ------------------------------------------------------------ uvicorn hooks

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if self.response.status_code == 101:
            self.scope["extensions"][TAKEOVER_EXTENSION] = {"socket": self}

    def handle_events(self) -> None:
        sink = self._sink
        if sink is None:
            super().handle_events()
            return
        for event in self.conn.events_received():
            if not isinstance(event, Frame):
                continue  # a second request cannot happen after the handshake
            opcode = event.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                if event.fin:
                    self._deliver(sink, opcode is Opcode.TEXT, bytes(event.data))
                else:
                    self._fragments = [bytes(event.data)]
                    self._fragments_text = opcode is Opcode.TEXT
            elif opcode is Opcode.CONT:
                if self._fragments is None:
                    continue  # websockets rejects a stray continuation before this
                self._fragments.append(bytes(event.data))
                if event.fin:
                    data, self._fragments = b"".join(self._fragments), None
                    self._deliver(sink, self._fragments_text, data)
            elif opcode is Opcode.PING:
                self.handle_ping()
            elif opcode is Opcode.PONG:
                self.handle_pong(event)
            elif opcode is Opcode.CLOSE:
                self.handle_close(event)

    def _deliver(self, sink: WireSink, text: bool, data: bytes) -> None:
        if self.close_sent:
            return  # past our close frame: read only to see the peer's answer
        if not text:
            sink.on_binary(data)
            return
        try:
            decoded = data.decode()
        except UnicodeDecodeError:
            self.logger.warning("invalid UTF-8 in a text message; closing the socket")
            self.conn.send_close(CLOSE_INVALID_UTF8)
            self.handle_parser_exception()
            return
        sink.on_text(decoded)

    def handle_close(self, event: Frame) -> None:
        super().handle_close(event)
        received = self.conn.close_rcvd
        self._tell_closed(received.code if received is not None else CLOSE_ABNORMAL)

    def handle_parser_exception(self) -> None:
        super().handle_parser_exception()
        sent = self.conn.close_sent
        self._tell_closed(sent.code if sent is not None else CLOSE_ABNORMAL)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._tell_closed(CLOSE_ABNORMAL)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._sink is not None:
            self._sink.on_writable()

    def _tell_closed(self, code: int) -> None:
        if self._sink is not None and not self._end_told:
            self._end_told = True
            self._sink.on_closed(code)
