"""An ordered chain of LLM providers that is itself an ``LLMProvider``.

A provider that errors, or sends nothing within ``first_token_timeout`` (or
stalls for ``idle_timeout`` mid-stream), is replaced by the next one for the
rest of the reply. If some text already reached the caller, the next provider
gets the same context plus an instruction and the heard text as a partial
assistant message to continue from (a prefill, which Anthropic and most
OpenAI-compatible servers continue). Models that ignore it and start over
would make the user hear the start twice, so the already-emitted prefix is
stripped from the fallback's output (``PrefixStripper``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from pipelines.fallback.breaker import CircuitBreaker
from pipelines.fallback.chain import (
    Attempts,
    FailoverSink,
    aclose_quietly,
    chain_name,
    check_providers,
    next_within,
)
from pipelines.providers.base import ChatMessage, LLMEvent, LLMProvider, TextDelta, ToolSpec

DEFAULT_FIRST_TOKEN_TIMEOUT = 2.0
DEFAULT_IDLE_TIMEOUT = 10.0
CONTINUE_INSTRUCTION = (
    "Your previous reply was interrupted by a technical fault. The assistant message "
    "that follows is exactly what the user has already heard. Continue it from the "
    "exact point where it stops. Do not repeat any of it and do not start over."
)


def continuation_messages(messages: Sequence[ChatMessage], heard: str) -> list[ChatMessage]:
    return [
        *messages,
        ChatMessage("system", CONTINUE_INSTRUCTION),
        ChatMessage("assistant", heard),
    ]


class PrefixStripper:
    """Drops a repeat of ``prefix`` at the start of a stream of text pieces.

    Whitespace runs compare equal to each other. Text is held back only while
    it could still be the start of a repeat, so at most ``len(prefix)``
    characters are delayed; once it diverges everything passes through. Text
    still held when the stream ends only ever repeated the prefix: dropped.
    """

    def __init__(self, prefix: str) -> None:
        self._target = prefix.strip()
        self._ends_with_space = prefix[-1:].isspace()
        self._held = ""
        self._passing = not self._target

    def feed(self, text: str) -> str:
        if self._passing:
            return text
        self._held += text
        end = _match_prefix(self._held, self._target)
        if end is None:
            return ""  # still possibly a repeat: hold
        self._passing = True
        rest = self._held if end < 0 else self._held[end:]
        self._held = ""
        # The heard text already ends in a space: do not say a second one.
        return rest.lstrip() if self._ends_with_space else rest


def _match_prefix(text: str, target: str) -> int | None:
    """Index in ``text`` just past a full repeat of ``target``; -1 if it is no
    repeat; None if ``text`` is still a (whitespace-normalised) prefix of it."""
    i, j = 0, 0
    while i < len(text) and text[i].isspace():
        i += 1
    while j < len(target):
        if i >= len(text):
            return None
        if target[j].isspace():
            if not text[i].isspace():
                return -1
            while i < len(text) and text[i].isspace():
                i += 1
            while j < len(target) and target[j].isspace():
                j += 1
            continue
        if text[i] != target[j]:
            return -1
        i += 1
        j += 1
    return i


class FallbackLLM:
    def __init__(
        self,
        providers: Sequence[LLMProvider],
        *,
        first_token_timeout: float = DEFAULT_FIRST_TOKEN_TIMEOUT,
        breaker: CircuitBreaker | None = None,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        name: str | None = None,
        on_failover: FailoverSink | None = None,
    ) -> None:
        check_providers(providers, "llm")
        self.providers = tuple(providers)
        self.first_token_timeout = first_token_timeout
        self.idle_timeout = idle_timeout
        self.breaker = breaker
        self.name = chain_name(providers, name)
        self.on_failover = on_failover

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> AsyncIterator[LLMEvent]:
        heard = ""  # text already passed to the caller, across providers
        tool_called = False
        attempts = Attempts("llm", self.providers, self.breaker, self.on_failover)
        for provider in attempts:
            context = continuation_messages(messages, heard) if heard else list(messages)
            stripper = PrefixStripper(heard) if heard else None
            events = provider.stream(context, tools)
            timeout: float | None = self.first_token_timeout
            try:
                while True:
                    try:
                        event = await next_within(events, timeout)
                    except StopAsyncIteration:
                        break
                    timeout = self.idle_timeout
                    if isinstance(event, TextDelta):
                        text = stripper.feed(event.text) if stripper else event.text
                        if text:
                            heard += text
                            yield TextDelta(text)
                        continue
                    tool_called = tool_called or event.kind == "tool_call"
                    yield event
            except Exception as exc:
                attempts.failed(provider, exc, heard)
                if tool_called:
                    return  # tool calls come last: the reply is complete, only usage was lost
                continue
            finally:
                await aclose_quietly(events)
            attempts.succeeded(provider)
            return
        raise attempts.exhausted()
