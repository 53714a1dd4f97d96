"""An ordered chain of STT providers that is itself an ``STTProvider``.

The stream keeps every frame pushed since the last final transcript (up to
``replay_seconds``). When the current provider fails to connect within
``connect_timeout``, errors, ends unexpectedly, or gives no final within
``final_timeout`` of a ``flush()``, the next provider's stream is opened, the
kept audio is replayed into it (with the pending flushes at their original
places) and recognition goes on. The user's words since the last final are
therefore recognised by the new provider; nothing is recognised twice, since
audio already covered by a final is dropped. Interim results start over.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Final

from media.frames import AudioFrame
from pipelines.errors import ConfigError, ProviderError
from pipelines.fallback.breaker import CircuitBreaker
from pipelines.fallback.chain import (
    Attempts,
    FailoverSink,
    chain_name,
    check_providers,
)
from pipelines.providers.base import STTProvider, STTStream, Transcript

DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_FINAL_TIMEOUT = 2.0
DEFAULT_REPLAY_SECONDS = 30.0
CLOSE_TIMEOUT = 1.0

_END: Final = object()


class FallbackSTT:
    def __init__(
        self,
        providers: Sequence[STTProvider],
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        final_timeout: float = DEFAULT_FINAL_TIMEOUT,
        breaker: CircuitBreaker | None = None,
        replay_seconds: float = DEFAULT_REPLAY_SECONDS,
        name: str | None = None,
        on_failover: FailoverSink | None = None,
    ) -> None:
        check_providers(providers, "stt")
        rates = {p.sample_rate for p in providers}
        if len(rates) != 1:
            raise ConfigError(f"STT fallback providers disagree on sample rate: {sorted(rates)}")
        self.providers = tuple(providers)
        self.sample_rate = rates.pop()
        self.connect_timeout = connect_timeout
        self.final_timeout = final_timeout
        self.replay_seconds = replay_seconds
        self.breaker = breaker
        self.name = chain_name(providers, name)
        self.on_failover = on_failover

    async def open_stream(self, *, language: str = "en") -> FallbackSTTStream:
        stream = FallbackSTTStream(self, language)
        await stream.start()
        return stream


class FallbackSTTStream:
    def __init__(self, chain: FallbackSTT, language: str) -> None:
        self.chain = chain
        self.language = language
        self._out: asyncio.Queue[object] = asyncio.Queue()
        # (sequence number, frame) since the last final; flush marks are the
        # sequence number of the last frame before each unanswered flush.
        self._replay: deque[tuple[int, AudioFrame]] = deque()
        self._replay_seconds = 0.0
        self._seq = 0
        self._marks: deque[int] = deque()
        self._current: STTStream | None = None
        self._deadline: asyncio.Timeout | None = None
        self._runner: asyncio.Task[None] | None = None
        # Failed streams close in the background: a polite close (up to a
        # second on a sick socket) must not delay the switch.
        self._retiring: set[asyncio.Task[None]] = set()
        self._opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closing = False
        self.provider_name = ""  # who is transcribing now, for the timeline
        self.dropped_seconds = 0.0

    async def start(self) -> None:
        self._runner = asyncio.create_task(self._run())
        await asyncio.shield(self._opened)

    # ------------------------------------------------------------ STTStream

    def push_frame(self, frame: AudioFrame) -> None:
        if frame.sample_rate != self.chain.sample_rate:
            raise ValueError(f"expected {self.chain.sample_rate} Hz audio, got {frame.sample_rate}")
        if self._closing:
            return
        self._seq += 1
        self._replay.append((self._seq, frame))
        self._replay_seconds += frame.duration
        while self._replay_seconds > self.chain.replay_seconds and len(self._replay) > 1:
            _, old = self._replay.popleft()
            self._replay_seconds -= old.duration
            self.dropped_seconds += old.duration
        if self._current is not None:
            # A failing stream may refuse audio; the frame is kept for the next one.
            with contextlib.suppress(Exception):
                self._current.push_frame(frame)

    def flush(self) -> None:
        if self._closing:
            return
        self._marks.append(self._seq)
        if self._current is not None:
            with contextlib.suppress(Exception):
                self._current.flush()
            self._arm_deadline()

    def __aiter__(self) -> AsyncIterator[Transcript]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Transcript]:
        while True:
            item = await self._out.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Transcript)
            yield item

    async def aclose(self) -> None:
        if self._closing:
            return
        self._closing = True
        current, self._current = self._current, None
        if current is not None:
            await _close_quietly(current)
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        await asyncio.gather(*self._retiring, return_exceptions=True)
        self._out.put_nowait(_END)

    # ------------------------------------------------------------ supervision

    def _arm_deadline(self) -> None:
        if self._deadline is not None and self._deadline.when() is None:
            loop = asyncio.get_running_loop()
            self._deadline.reschedule(loop.time() + self.chain.final_timeout)

    def _on_final(self) -> None:
        mark = self._marks.popleft() if self._marks else self._seq
        while self._replay and self._replay[0][0] <= mark:
            _, frame = self._replay.popleft()
            self._replay_seconds -= frame.duration
        if self._deadline is not None:
            self._deadline.reschedule(None)
            if self._marks:
                self._arm_deadline()

    async def _run(self) -> None:
        chain = self.chain
        attempts = Attempts("stt", chain.providers, chain.breaker, chain.on_failover)
        for provider in attempts:
            stream: STTStream | None = None
            try:
                async with asyncio.timeout(self.chain.connect_timeout):
                    stream = await provider.open_stream(language=self.language)
                if self._closing:
                    await _close_quietly(stream)
                    return
                self._start_on(provider.name, stream)
                async with asyncio.timeout(None) as deadline:
                    self._deadline = deadline
                    if self._marks:
                        self._arm_deadline()
                    async for transcript in stream:
                        if transcript.is_final:
                            self._on_final()
                            attempts.succeeded(provider)
                        self._out.put_nowait(transcript)
                if self._closing:
                    return
                raise ProviderError(f"{provider.name}: stream ended", provider=provider.name)
            except Exception as exc:
                if self._closing:
                    return
                attempts.failed(provider, exc)
                self._current = None
                self._deadline = None
                if stream is not None:
                    self._retire(stream)
        self._out.put_nowait(attempts.exhausted())
        if not self._opened.done():
            self._opened.set_exception(attempts.exhausted())

    def _retire(self, stream: STTStream) -> None:
        task = asyncio.create_task(_close_quietly(stream))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    def _start_on(self, name: str, stream: STTStream) -> None:
        """Replay kept audio, with flushes where they were asked, then go live."""
        marks = list(self._marks)
        for seq, frame in self._replay:
            stream.push_frame(frame)
            while marks and marks[0] <= seq:
                marks.pop(0)
                stream.flush()
        for _ in marks:  # flushes asked after the last kept frame
            stream.flush()
        self._current = stream
        self.provider_name = name
        if not self._opened.done():
            self._opened.set_result(None)


async def _close_quietly(stream: STTStream) -> None:
    with contextlib.suppress(Exception, TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await stream.aclose()
