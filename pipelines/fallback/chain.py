"""What the fallback chains share: provider order, one call's walk down the chain
(``Attempts``: failure bookkeeping, the breaker, reporting, the final error) and
reading a provider's stream against a deadline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from pipelines.errors import ConfigError, ProviderError, ProviderTimeout
from pipelines.fallback.breaker import CircuitBreaker

log = logging.getLogger(__name__)

Stage = Literal["stt", "llm", "tts"]


class Named(Protocol):
    @property
    def name(self) -> str: ...


P = TypeVar("P", bound=Named)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Failover:
    """One provider given up on during a call (the next in order takes over)."""

    stage: Stage
    provider: str
    error: ProviderError
    # LLM: text the user had already received; TTS: text that will be said again.
    carried_text: str = ""


FailoverSink = Callable[[Failover], None]


def check_providers(providers: Sequence[P], stage: Stage) -> None:
    if not providers:
        raise ConfigError(f"a {stage} fallback chain needs at least one provider")
    names = [p.name for p in providers]
    if len(set(names)) != len(names):
        raise ConfigError(f"{stage} providers need distinct names (the breaker keys on them)")


def chain_name(providers: Sequence[P], name: str | None) -> str:
    return name or "fallback(" + ",".join(p.name for p in providers) + ")"


def ordered(providers: Sequence[P], breaker: CircuitBreaker | None) -> Iterator[P]:
    """Providers in configured order, skipping open circuits.

    Skipped providers come last instead of never: with every circuit open,
    trying a provider that may have recovered beats dropping the call.
    """
    skipped: list[P] = []
    for provider in providers:
        if breaker is None or breaker.allow(provider.name):
            yield provider
        else:
            skipped.append(provider)
    yield from skipped


def as_provider_error(exc: BaseException, provider: str) -> ProviderError:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TimeoutError):
        return ProviderTimeout(f"{provider}: missed its deadline", provider=provider)
    # A provider bug (not a declared failure) still must not end the call.
    return ProviderError(f"{provider}: {type(exc).__name__}", provider=provider, retryable=True)


def all_failed(stage: Stage, errors: Sequence[ProviderError]) -> ProviderError:
    reasons = "; ".join(str(e) for e in errors) or "no provider could be tried"
    retryable = any(e.retryable for e in errors)
    return ProviderError(f"every {stage} provider failed: {reasons}", retryable=retryable)


def record_failure(breaker: CircuitBreaker | None, name: str, error: ProviderError) -> None:
    if breaker is not None:
        breaker.record_failure(name, retryable=error.retryable)


def record_success(breaker: CircuitBreaker | None, name: str) -> None:
    if breaker is not None:
        breaker.record_success(name)


def report(sink: FailoverSink | None, failover: Failover) -> None:
    log.warning(
        "%s provider %s failed (%s); trying the next one",
        failover.stage,
        failover.provider,
        failover.error,
    )
    if sink is not None:
        try:
            sink(failover)
        except Exception:
            log.exception("failover sink failed")


async def aclose_quietly(iterator: Any) -> None:
    """Close a provider's stream; one failing while closing is already replaced."""
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


class Attempts(Generic[P]):
    """One call's walk down a chain, in ``ordered`` order.

    Each provider tried ends in ``failed`` (normalised, counted by the
    breaker, reported) or ``succeeded``; ``exhausted`` is the error to raise
    when every provider failed.
    """

    def __init__(
        self,
        stage: Stage,
        providers: Sequence[P],
        breaker: CircuitBreaker | None,
        on_failover: FailoverSink | None,
    ) -> None:
        self.stage: Stage = stage
        self._providers = providers
        self._breaker = breaker
        self._on_failover = on_failover
        self.errors: list[ProviderError] = []

    def __iter__(self) -> Iterator[P]:
        return ordered(self._providers, self._breaker)

    def failed(self, provider: P, exc: BaseException, carried_text: str = "") -> ProviderError:
        error = as_provider_error(exc, provider.name)
        self.errors.append(error)
        record_failure(self._breaker, provider.name, error)
        report(self._on_failover, Failover(self.stage, provider.name, error, carried_text))
        return error

    def succeeded(self, provider: P) -> None:
        record_success(self._breaker, provider.name)

    def exhausted(self) -> ProviderError:
        return all_failed(self.stage, self.errors)


async def next_within(iterator: AsyncIterator[T], limit: float | None) -> T:
    """The next item, or ``TimeoutError`` after ``limit`` seconds (None: no limit)."""
    async with asyncio.timeout(limit):
        return await anext(iterator)
