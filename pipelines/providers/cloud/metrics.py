"""Per-call usage and latency of a cloud adapter.

Every adapter call (one LLM stream, one TTS synthesis, one STT stream) ends
with a frozen ``ProviderMetrics``: what to bill (audio seconds, tokens,
characters) and how fast the provider answered (time to first byte). The
adapter keeps the last one in ``last_metrics`` and hands each one to its
optional ``on_metrics`` sink, which the turn engine points at the timeline.

Faults in what a provider sends that the call survives are also counted for
ops, as Prometheus counters (scraped at /metrics). Their labels stay bounded:
the provider label is the adapter's configured name (``elevenlabs-ws``),
never anything a provider sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from prometheus_client import Counter

Stage = Literal["stt", "llm", "tts"]


@dataclass(frozen=True, slots=True)
class ProviderMetrics:
    provider: str
    stage: Stage
    # Seconds from the request to the first byte of useful output (first
    # token, first audio bytes, first transcript); None if none arrived.
    ttfb: float | None = None
    # Seconds from the request to the end of the call (or its failure).
    duration: float = 0.0
    # STT: audio sent. TTS: audio received.
    audio_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # TTS: characters sent for synthesis (what providers bill).
    characters: int = 0
    # STT only: seconds from flush() to the final transcript, last utterance.
    finalize_latency: float | None = None
    # Class name of the error that ended the call, if it failed.
    error: str | None = None

    def usage(self) -> dict[str, float]:
        """Billing figures keyed ``<stage>.<unit>``, for ``TurnMetrics.usage``."""
        out: dict[str, float] = {}
        if self.audio_seconds:
            out[f"{self.stage}.audio_seconds"] = self.audio_seconds
        if self.prompt_tokens:
            out[f"{self.stage}.prompt_tokens"] = float(self.prompt_tokens)
        if self.completion_tokens:
            out[f"{self.stage}.completion_tokens"] = float(self.completion_tokens)
        if self.characters:
            out[f"{self.stage}.characters"] = float(self.characters)
        return out


TTS_ALIGNMENT_FAULTS = Counter(
    "cap_tts_alignment_faults_total",
    "Unusable text alignment from a TTS provider (malformed, mismatched, out of order)",
    ["provider"],
)

MetricsSink = Callable[[ProviderMetrics], None]
Clock = Callable[[], float]


class MetricsRecorder:
    """Accumulates one call's figures; ``finish`` freezes them."""

    __slots__ = (
        "_clock",
        "_first",
        "_started",
        "audio_seconds",
        "characters",
        "completion_tokens",
        "finalize_latency",
        "prompt_tokens",
        "provider",
        "stage",
    )

    def __init__(self, provider: str, stage: Stage, clock: Clock = time.perf_counter) -> None:
        self.provider = provider
        self.stage: Stage = stage
        self._clock = clock
        self._started = clock()
        self._first: float | None = None
        self.audio_seconds = 0.0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.characters = 0
        self.finalize_latency: float | None = None

    def restart(self) -> None:
        """Start the clock now (e.g. at the first audio pushed, not at connect)."""
        self._started = self._clock()

    def first_byte(self) -> None:
        if self._first is None:
            self._first = self._clock()

    @property
    def ttfb(self) -> float | None:
        return None if self._first is None else self._first - self._started

    def now(self) -> float:
        return self._clock()

    def finish(self, error: BaseException | None = None) -> ProviderMetrics:
        return ProviderMetrics(
            provider=self.provider,
            stage=self.stage,
            ttfb=self.ttfb,
            duration=self._clock() - self._started,
            audio_seconds=self.audio_seconds,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            characters=self.characters,
            finalize_latency=self.finalize_latency,
            error=None if error is None else type(error).__name__,
        )
