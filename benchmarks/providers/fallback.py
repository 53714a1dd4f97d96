"""Time to switch to a fallback after a failure.

From the failure (the chain's own failover report) to the next provider's
first output, minus that provider's measured hold (its fake's fixed latency as
it really ran), for three faults: an HTTP 503 at connect, a connection dropped
mid-stream, and a provider that never answers (the chain's deadline fires).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.providers.cases import HISTORY, SENTENCE, UTTERANCE_S, frames
from benchmarks.providers.measure import NAN, Hold, Runner, Sample
from pipelines.errors import ProviderError
from pipelines.fallback import Failover, FallbackLLM, FallbackSTT, FallbackTTS
from pipelines.providers.base import LLMProvider, TextDelta, TTSProvider
from pipelines.providers.cloud import DeepgramSTT, OpenAISTT

FAULTS: dict[str, dict[str, Any]] = {
    "connect": {"error_status": 503},
    "mid_stream": {"disconnect_after": 2},
    "timeout": {"hang": True},
}
# The STT "timeout": connected, but the final comes too late.
STT_TIMEOUT_FAULT: dict[str, Any] = {"token_interval": 5.0}
DEADLINE = 0.5  # first-byte / final deadline of the chains


class SwitchClock:
    """Failure time, from the chain's own failover report."""

    def __init__(self) -> None:
        self.failed_at = 0.0

    def __call__(self, failover: Failover) -> None:
        self.failed_at = time.perf_counter()


def _switched(first: float, failed_at: float, hold: float) -> float:
    if not first or not failed_at:
        return NAN  # no failover happened, or the fallback produced nothing
    return first - failed_at - hold


def switch_llm(a: LLMProvider, b: LLMProvider, b_hold: Hold) -> Runner:
    clock = SwitchClock()
    chain = FallbackLLM([a, b], first_token_timeout=DEADLINE, on_failover=clock)

    async def run() -> Sample:
        clock.failed_at, first = 0.0, 0.0
        try:
            async for event in chain.stream(HISTORY):
                if isinstance(event, TextDelta) and clock.failed_at and not first:
                    first = time.perf_counter()
        except ProviderError:
            return Sample(NAN, NAN, 0.0, 0.0)  # the fallback failed too: counted, not timed
        return Sample(_switched(first, clock.failed_at, await b_hold()), NAN, 0.0, 0.0)

    return run


def switch_tts(a: TTSProvider, b: TTSProvider, b_hold: Hold) -> Runner:
    clock = SwitchClock()
    chain = FallbackTTS([a, b], first_byte_timeout=DEADLINE, on_failover=clock)

    async def run() -> Sample:
        clock.failed_at, first = 0.0, 0.0
        try:
            async for _ in chain.synthesize(SENTENCE):
                if clock.failed_at and not first:
                    first = time.perf_counter()
        except ProviderError:
            return Sample(NAN, NAN, 0.0, 0.0)
        return Sample(_switched(first, clock.failed_at, await b_hold()), NAN, 0.0, 0.0)

    return run


def switch_stt(a: DeepgramSTT, b: OpenAISTT, b_hold: Hold) -> Runner:
    """From the later of the failure and the flush: the fallback cannot answer before both."""
    clock = SwitchClock()
    chain = FallbackSTT([a, b], connect_timeout=1.0, final_timeout=DEADLINE, on_failover=clock)

    async def run() -> Sample:
        clock.failed_at = 0.0
        stream = await chain.open_stream()
        for f in frames(UTTERANCE_S):
            stream.push_frame(f)
        await asyncio.sleep(0.03)
        flushed = time.perf_counter()
        stream.flush()
        done = 0.0
        try:
            async for t in stream:
                if t.is_final:
                    done = time.perf_counter()
                    break
        except ProviderError:
            pass  # the fallback failed too: counted, not timed
        finally:
            await stream.aclose()
        if not done or not clock.failed_at:
            return Sample(NAN, NAN, 0.0, 0.0)
        return Sample(_switched(done, max(clock.failed_at, flushed), await b_hold()), NAN, 0, 0)

    return run
