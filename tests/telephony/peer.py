"""A protocol-faithful Twilio peer: Twilio's side of one Media Streams call.

It does what Twilio does on a bidirectional ``<Connect><Stream>``:

- sends ``connected`` then ``start`` (streamSid, callSid, customParameters,
  mediaFormat audio/x-mulaw 8000 Hz mono), signing the upgrade with
  ``X-Twilio-Signature`` when asked to;
- sends the caller's line as 20 ms base64 mu-law ``media`` messages, paced in
  real time on absolute deadlines: speech queued by ``say``, silence otherwise;
- plays what the server sends at real-time rate, 160 bytes per 20 ms, from a
  buffer that fills as fast as the server sends;
- echoes each ``mark`` when the audio queued before it has been played (at
  once when nothing is queued);
- on ``clear`` drops the buffered audio and echoes every pending mark at once;
- sends ``dtmf`` and ``stop`` on request.

``latency`` delays the handling of every server message (network and Twilio's
own buffering), which makes "sent" and "heard" differ as on a real line.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from media.codecs.g711 import ulaw_encode

FRAME_BYTES = 160  # 20 ms of 8 kHz mu-law
FRAME_SECS = 0.02
SILENCE = b"\xff"  # mu-law zero
ACCOUNT_SID = "AC" + "0" * 32


@dataclass
class PeerLog:
    """What the peer saw, with loop times."""

    played: list[tuple[float, int]] = field(default_factory=list)  # (time, bytes played)
    media_received: list[tuple[float, int]] = field(default_factory=list)
    clears: list[float] = field(default_factory=list)
    marks_received: list[str] = field(default_factory=list)
    marks_echoed: list[str] = field(default_factory=list)
    other: list[dict[str, Any]] = field(default_factory=list)

    def played_secs(self, since: float = 0.0, until: float = float("inf")) -> float:
        return sum(n for t, n in self.played if since <= t < until) / 8000

    def received_secs(self, since: float = 0.0, until: float = float("inf")) -> float:
        return sum(n for t, n in self.media_received if since <= t < until) / 8000


class TwilioPeer:
    def __init__(
        self,
        stream_url: str,
        *,
        call_sid: str,
        parameters: dict[str, str],
        signature: str | None = None,
        stream_sid: str | None = None,
        account_sid: str = ACCOUNT_SID,
        latency: float = 0.0,
        stream_silence: bool = True,
    ) -> None:
        self.stream_url = stream_url
        self.call_sid = call_sid
        self.stream_sid = stream_sid or "MZ" + call_sid[2:].rjust(32, "0")[-32:]
        self.account_sid = account_sid
        self.parameters = parameters
        self.signature = signature
        self.latency = latency
        self.stream_silence = stream_silence
        self.log = PeerLog()
        self.ws: ClientConnection | None = None
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._seq = 0
        self._chunk = 0
        self._buffer = bytearray()
        self._received = 0  # bytes of agent audio received (position of the buffer's end)
        self._position = 0  # bytes played
        self._pending_marks: list[tuple[int, str]] = []
        self.played_audio = bytearray()  # everything played, mu-law
        self._mic = bytearray()
        self._mic_sent = 0
        self._mic_tick = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._ending: asyncio.Task[None] | None = None
        self._inbox: asyncio.Queue[tuple[float, str]] = asyncio.Queue()

    # ------------------------------------------------------------ lifecycle

    async def open(self, *, send_start: bool = True) -> None:
        headers = {"X-Twilio-Signature": self.signature} if self.signature else {}
        self.ws = await connect(self.stream_url, additional_headers=headers)
        await self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        if send_start:
            await self.send_start()
        self._tasks = [
            asyncio.create_task(self._read()),
            asyncio.create_task(self._handle()),
            asyncio.create_task(self._play()),
        ]
        if send_start:
            self._tasks.append(asyncio.create_task(self._microphone()))

    async def send_start(self) -> None:
        await self.send(
            {
                "event": "start",
                "sequenceNumber": self._next_seq(),
                "start": {
                    "accountSid": self.account_sid,
                    "streamSid": self.stream_sid,
                    "callSid": self.call_sid,
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                    "customParameters": self.parameters,
                },
                "streamSid": self.stream_sid,
            }
        )

    async def hang_up(self) -> None:
        """Twilio's end of a stream: ``stop``, then the socket closes."""
        if self.ws is not None and not self.closed.is_set():
            with contextlib.suppress(Exception):
                await self.send(
                    {
                        "event": "stop",
                        "sequenceNumber": self._next_seq(),
                        "streamSid": self.stream_sid,
                        "stop": {"accountSid": self.account_sid, "callSid": self.call_sid},
                    }
                )
                await self.ws.close()
        await self.aclose()

    def end_soon(self) -> None:
        """Twilio ends the stream (the call was redirected or completed)."""
        if self._ending is None:
            self._ending = asyncio.get_running_loop().create_task(self.hang_up())

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        self.closed.set()

    async def __aenter__(self) -> TwilioPeer:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hang_up()

    # ------------------------------------------------------------ caller side

    def _next_seq(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def send(self, message: dict[str, Any] | str | bytes) -> None:
        assert self.ws is not None
        await self.ws.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def say(self, pcm8k: bytes) -> None:
        """Caller audio (PCM16 8 kHz): queued for the microphone, returns once sent."""
        self._mic += ulaw_encode(pcm8k)
        target = self._mic_sent + len(self._mic)
        while self._mic_sent < target and not self.closed.is_set():
            self._mic_tick.clear()
            await self._mic_tick.wait()

    async def _microphone(self) -> None:
        """Twilio streams the caller's line continuously: speech, or silence (0xFF)."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            if self._mic:
                chunk = bytes(self._mic[:FRAME_BYTES]).ljust(FRAME_BYTES, SILENCE)
                del self._mic[:FRAME_BYTES]
                self._mic_sent += FRAME_BYTES
            elif self.stream_silence:
                chunk = SILENCE * FRAME_BYTES
            else:
                chunk = b""
            if chunk:
                await self._send_media(chunk)
            self._mic_tick.set()
            next_tick += FRAME_SECS
            await asyncio.sleep(max(0.0, next_tick - loop.time()))

    async def _send_media(self, chunk: bytes) -> None:
        self._chunk += 1
        # Byte for byte as Twilio writes it (compact, this key order): the
        # server's fast path for media (telephony.messages.twilio_media).
        message = {
            "event": "media",
            "sequenceNumber": self._next_seq(),
            "media": {
                "track": "inbound",
                "chunk": str(self._chunk),
                "timestamp": str((self._chunk - 1) * 20),
                "payload": base64.b64encode(chunk).decode(),
            },
            "streamSid": self.stream_sid,
        }
        await self.send(json.dumps(message, separators=(",", ":")))

    async def pause(self, seconds: float) -> None:
        """The caller is silent (Twilio still streams: silence is mu-law 0xFF)."""
        await self.say(bytes(2 * round(seconds * 8000)))

    async def press(self, digit: str) -> None:
        await self.send(
            {
                "event": "dtmf",
                "streamSid": self.stream_sid,
                "sequenceNumber": self._next_seq(),
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    # ------------------------------------------------------------ playback side

    async def _read(self) -> None:
        assert self.ws is not None
        loop = asyncio.get_running_loop()
        try:
            async for message in self.ws:
                text = message if isinstance(message, str) else message.decode()
                self._inbox.put_nowait((loop.time() + self.latency, text))
        except Exception:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self.closed.set()

    async def _handle(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, text = await self._inbox.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            await self._on_message(json.loads(text), loop.time())

    async def _on_message(self, message: dict[str, Any], now: float) -> None:
        event = message.get("event")
        assert message.get("streamSid") == self.stream_sid, message
        if event == "media":
            audio = base64.b64decode(message["media"]["payload"])
            self._buffer += audio
            self._received += len(audio)
            self.log.media_received.append((now, len(audio)))
        elif event == "mark":
            name = message["mark"]["name"]
            self.log.marks_received.append(name)
            self._pending_marks.append((self._received, name))
            await self._echo_played_marks()
        elif event == "clear":
            self.log.clears.append(now)
            self._buffer.clear()
            self._received = self._position
            await self._echo_played_marks(everything=True)
        else:
            self.log.other.append(message)

    async def _echo_played_marks(self, *, everything: bool = False) -> None:
        while self._pending_marks and (everything or self._pending_marks[0][0] <= self._position):
            _, name = self._pending_marks.pop(0)
            self.log.marks_echoed.append(name)
            with contextlib.suppress(Exception):
                await self.send(
                    {
                        "event": "mark",
                        "sequenceNumber": self._next_seq(),
                        "streamSid": self.stream_sid,
                        "mark": {"name": name},
                    }
                )

    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            next_tick += FRAME_SECS
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            if self._buffer:
                take = min(FRAME_BYTES, len(self._buffer))
                self.played_audio += self._buffer[:take]
                del self._buffer[:take]
                self._position += take
                self.log.played.append((loop.time(), take))
            await self._echo_played_marks()
