"""pipecat under test, served like CAP: its Twilio serializer path behind uvicorn.

    /tmp/pcvenv/bin/python -m benchmarks.twilio.pipecat_server CALLS CPU WS freeze|no-freeze

The same simulated Twilio drives it. Per call: ``FastAPIWebsocketTransport``
with ``TwilioFrameSerializer`` (8 kHz mu-law <-> 16 kHz pipeline), a
``VADProcessor`` running webrtcvad (as CAP's bench does; pipecat ships no
webrtcvad analyzer, so a ten-line one is below), and a fake agent that
answers each end of speech after the same 450 ms of provider time with the
same ~1.6 s of audio, which the output transport paces in real time. pipecat
sends no marks. Reported like ``benchmarks.twilio.server``; there is no shared
playout clock, so no outgoing-tick lateness.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from contextlib import asynccontextmanager
from typing import Any

# At module level: FastAPI reads the handlers' (string) annotations from here.
from fastapi import FastAPI, WebSocket

from benchmarks.twilio.common import (
    CONTROL_PATH,
    FRAME,
    IDEAL,
    MEDIA_PATH,
    READY,
    measure_window,
    pin,
    step_report,
)
from benchmarks.twilio.server import ArrivalLog

REPLY_SECS = 1.6
RATE = 16000


def build(calls: int, freeze: bool) -> ArrivalLog:
    import webrtcvad
    from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams
    from pipecat.frames.frames import Frame, TTSAudioRawFrame, VADUserStoppedSpeakingFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.runner import PipelineRunner
    from pipecat.pipeline.task import PipelineParams, PipelineTask
    from pipecat.processors.audio.vad_processor import VADProcessor
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.serializers.twilio import TwilioFrameSerializer
    from pipecat.transports.websocket.fastapi import (
        FastAPIWebsocketParams,
        FastAPIWebsocketTransport,
    )

    class WebrtcVAD(VADAnalyzer):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(params=VADParams(stop_secs=0.4, min_volume=0.0))
            self._vad = webrtcvad.Vad(2)

        def num_frames_required(self) -> int:
            return int(self.sample_rate * FRAME)

        def voice_confidence(self, buffer: bytes) -> float:
            return 1.0 if self._vad.is_speech(buffer, self.sample_rate) else 0.0

    stops: list[tuple[str, float]] = []

    class FakeAgent(FrameProcessor):  # type: ignore[misc]
        """STT + LLM + TTS: fixed provider time, then the reply's audio at once."""

        def __init__(self, sid: str) -> None:
            super().__init__()
            self.sid = sid
            self.audio = bytes(int(RATE * REPLY_SECS) * 2)

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, VADUserStoppedSpeakingFrame):
                stops.append((self.sid, time.monotonic()))
                self.create_task(self.answer())
            await self.push_frame(frame, direction)

        async def answer(self) -> None:
            await asyncio.sleep(IDEAL)
            chunk = int(RATE * FRAME) * 2
            for i in range(0, len(self.audio), chunk):
                await self.push_frame(TTSAudioRawFrame(self.audio[i : i + chunk], RATE, 1))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        yield

    api = FastAPI(lifespan=lifespan)
    log = ArrivalLog(api)

    @api.websocket(MEDIA_PATH)
    async def media(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()  # connected
        start = json.loads(await ws.receive_text())
        sid = start["streamSid"]
        serializer = TwilioFrameSerializer(
            sid, params=TwilioFrameSerializer.InputParams(auto_hang_up=False)
        )
        transport = FastAPIWebsocketTransport(
            ws,
            FastAPIWebsocketParams(
                audio_in_enabled=True, audio_out_enabled=True, add_wav_header=False,
                serializer=serializer,
            ),
        )  # fmt: skip
        pipeline = Pipeline(
            [transport.input(), VADProcessor(vad_analyzer=WebrtcVAD()), FakeAgent(sid),
             transport.output()]
        )  # fmt: skip
        params = PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE)
        task = PipelineTask(pipeline, params=params, idle_timeout_secs=None)

        @transport.event_handler("on_client_disconnected")  # type: ignore[untyped-decorator]
        async def _closed(*_: Any) -> None:
            await task.cancel()

        await PipelineRunner(handle_sigint=False).run(task)

    @api.websocket(CONTROL_PATH)
    async def control(ws: WebSocket) -> None:
        await ws.accept()
        order = await ws.receive_json()
        measured = asyncio.create_task(measure_window(order["start"], order["end"], freeze))
        done = await ws.receive_json()
        window = await measured
        report = step_report(
            window, log.arrivals, done["start"], done["end"], streams=calls, gc_frozen=freeze,
            stops=stops, reply_starts=done["reply_starts"],
        )  # fmt: skip
        await ws.send_json(report)
        await ws.close()

    return log


def main(argv: list[str]) -> None:
    calls, cpu, ws, freeze = int(argv[0]), int(argv[1]), argv[2], argv[3] == "freeze"
    pin(cpu)
    import uvicorn
    from loguru import logger  # type: ignore[import-not-found]

    logger.remove()  # pipecat logs every frame event at DEBUG by default
    logger.add(sys.stderr, level=os.environ.get("PIPECAT_LOG", "WARNING"))
    app = build(calls, freeze)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)  # connections wait in the backlog until the server is up
    config = uvicorn.Config(app, loop="uvloop", ws=ws, log_level="warning")
    print(READY + str(sock.getsockname()[1]), flush=True)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
