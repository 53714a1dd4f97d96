"""An ordered chain of TTS providers that is itself a ``TTSProvider``.

A provider that errors, sends no audio within ``first_byte_timeout`` or stalls
for ``idle_timeout`` is replaced by the next one for the rest of the text.

What is said again after a mid-sentence failure: streaming TTS endpoints give
no word timings, so the point reached is estimated from the audio already
passed on, at a deliberately slow ``chars_per_second`` (default 12; real
voices speak 14-17), then moved back to the start of the word it falls in.
The next provider re-synthesises from there to the end of the text. So the
user hears the interrupted word, and usually one or two words before it,
again; a word is skipped only if the voice spoke slower than the estimate. If
no audio had been passed on, the whole text goes to the next provider.
All providers must share one ``sample_rate`` (configure the adapters so).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from pipelines.errors import ConfigError
from pipelines.fallback.breaker import CircuitBreaker
from pipelines.fallback.chain import (
    Attempts,
    FailoverSink,
    aclose_quietly,
    chain_name,
    check_providers,
    next_within,
)
from pipelines.providers.base import TTSProvider, TTSTextStream

DEFAULT_FIRST_BYTE_TIMEOUT = 1.5
DEFAULT_IDLE_TIMEOUT = 5.0
# A lower bound on speaking rate: underestimating where speech stopped repeats
# a word; overestimating would skip one.
RESUME_CHARS_PER_SECOND = 12.0
SAMPLE_WIDTH = 2


def resume_index(text: str, spoken_seconds: float, chars_per_second: float) -> int:
    """Where to restart ``text`` after ``spoken_seconds`` of it were played."""
    estimate = min(int(spoken_seconds * chars_per_second), len(text))
    if estimate <= 0:
        return 0
    if estimate >= len(text) or text[estimate].isspace():
        # At a word edge (or the end): restart at the word just before it, since
        # its tail may not have been voiced yet.
        estimate -= 1
    while estimate > 0 and not text[estimate - 1].isspace():
        estimate -= 1
    return estimate


class FallbackTTS:
    def __init__(
        self,
        providers: Sequence[TTSProvider],
        *,
        first_byte_timeout: float = DEFAULT_FIRST_BYTE_TIMEOUT,
        breaker: CircuitBreaker | None = None,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        chars_per_second: float = RESUME_CHARS_PER_SECOND,
        name: str | None = None,
        on_failover: FailoverSink | None = None,
    ) -> None:
        check_providers(providers, "tts")
        rates = {p.sample_rate for p in providers}
        if len(rates) != 1:
            raise ConfigError(f"TTS fallback providers disagree on sample rate: {sorted(rates)}")
        self.providers = tuple(providers)
        self.sample_rate = rates.pop()
        self.first_byte_timeout = first_byte_timeout
        self.idle_timeout = idle_timeout
        self.chars_per_second = chars_per_second
        self.breaker = breaker
        self.name = chain_name(providers, name)
        self.on_failover = on_failover

    async def open_stream(self) -> TTSTextStream:
        """Text streamed in as the LLM writes it, over the chain (``tts_stream``)."""
        from pipelines.fallback.tts_stream import FallbackTextStream

        return FallbackTextStream(self)

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        remaining = text
        attempts = Attempts("tts", self.providers, self.breaker, self.on_failover)
        bytes_per_second = self.sample_rate * SAMPLE_WIDTH
        for provider in attempts:
            chunks = provider.synthesize(remaining)
            timeout: float | None = self.first_byte_timeout
            sent = 0
            try:
                while True:
                    try:
                        chunk = await next_within(chunks, timeout)
                    except StopAsyncIteration:
                        break
                    if chunk:
                        timeout = self.idle_timeout
                        sent += len(chunk)
                        yield chunk
            except Exception as exc:
                cut = resume_index(remaining, sent / bytes_per_second, self.chars_per_second)
                remaining = remaining[cut:]
                attempts.failed(provider, exc, remaining)
                if not remaining.strip():
                    return
                continue
            finally:
                await aclose_quietly(chunks)
            attempts.succeeded(provider)
            return
        raise attempts.exhausted()
