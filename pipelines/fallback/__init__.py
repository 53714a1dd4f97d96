"""Provider fallback: ordered chains per stage that keep a call alive.

``FallbackSTT``, ``FallbackLLM`` and ``FallbackTTS`` are themselves providers
of their stage, so the turn engine uses a chain exactly like one provider.
``FallbackTTS.open_stream`` takes the reply's text as the LLM writes it
(``tts_stream``). A ``CircuitBreaker`` (shareable between chains and calls) skips providers that
keep failing and lets them back in after ``reset_after`` seconds.
"""

from pipelines.fallback.breaker import BreakerState, CircuitBreaker
from pipelines.fallback.chain import Failover, FailoverSink
from pipelines.fallback.llm import CONTINUE_INSTRUCTION, FallbackLLM, PrefixStripper
from pipelines.fallback.stt import FallbackSTT, FallbackSTTStream
from pipelines.fallback.tts import FallbackTTS, resume_index
from pipelines.fallback.tts_stream import FallbackTextStream, SentenceTextStream, open_text_stream

__all__ = [
    "CONTINUE_INSTRUCTION",
    "BreakerState",
    "CircuitBreaker",
    "Failover",
    "FailoverSink",
    "FallbackLLM",
    "FallbackSTT",
    "FallbackSTTStream",
    "FallbackTTS",
    "FallbackTextStream",
    "PrefixStripper",
    "SentenceTextStream",
    "open_text_stream",
    "resume_index",
]
