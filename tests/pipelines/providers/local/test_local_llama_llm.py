"""LlamaLLM: history fitting, the thread bridge with a fake engine, and the real SmolLM2 model."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from pipelines.errors import ProviderError, ProviderUnavailable
from pipelines.providers.base import ChatMessage, LLMEvent, LLMUsage, TextDelta
from pipelines.providers.local import llama_llm
from pipelines.providers.local.llama_llm import LlamaLLM, fit_to_context, to_llama_messages


def count_words(text: str) -> int:
    return len(text.split())


# ---------------------------------------------------------------- history (pure)


def test_tool_results_become_user_turns_and_empty_turns_are_dropped() -> None:
    history = [
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "Weather?"),
        ChatMessage("assistant", ""),
        ChatMessage("tool", "sunny", tool_call_id="c1"),
    ]
    assert to_llama_messages(history) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {"role": "user", "content": "(tool result) sunny"},
    ]


def test_fit_keeps_system_and_newest_turns() -> None:
    turns = [{"role": "system", "content": "rules " * 5}]
    turns += [{"role": "user", "content": f"turn {n} " + "word " * 10} for n in range(10)]
    # system: 5 + 6; each turn: 12 + 6 = 18 -> room for 3 turns in 70.
    fitted = fit_to_context(turns, count_words, 70)
    assert fitted[0]["role"] == "system"
    assert [m["content"].split()[1] for m in fitted[1:]] == ["7", "8", "9"]


def test_fit_trims_an_oversized_last_turn_from_the_front() -> None:
    turns = [{"role": "user", "content": "x" * 1000 + " the question?"}]
    (fitted,) = fit_to_context(turns, lambda text: len(text) // 3, 40)
    assert fitted["content"].endswith("the question?")
    assert len(fitted["content"]) <= 3 * (40 - llama_llm.TOKENS_PER_MESSAGE)


# ---------------------------------------------------------------- bridge (fake engine, fast)


class FakeLlama:
    """Stands in for llama_cpp.Llama: emits numbered tokens, can fail or run forever."""

    def __init__(self, *, tokens: int | None = 5, fail_after: int | None = None) -> None:
        self.tokens = tokens
        self.fail_after = fail_after
        self.n_tokens = 0
        self.produced = 0
        self.closed = threading.Event()
        self.prompts: list[list[dict[str, str]]] = []

    def tokenize(self, text: bytes, add_bos: bool = False, special: bool = False) -> list[int]:
        return list(range(len(text.split())))

    def create_chat_completion(self, *, messages: list[dict[str, str]], **_: Any) -> Iterator[Any]:
        self.prompts.append(messages)
        self.n_tokens = 11
        try:
            n = 0
            while self.tokens is None or n < self.tokens:
                if self.fail_after is not None and n == self.fail_after:
                    raise RuntimeError("engine exploded")
                self.produced += 1
                yield {"choices": [{"delta": {"content": f"t{n} "}}]}
                n += 1
        finally:
            self.closed.set()


@pytest.fixture
def fake_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LlamaLLM]:
    model = tmp_path / "fake.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setattr(llama_llm, "llama_cpp_installed", lambda: True)
    provider = LlamaLLM(str(model))
    yield provider
    provider.close()


async def test_tokens_stream_in_order_then_usage(fake_provider: LlamaLLM) -> None:
    fake_provider._llama = FakeLlama(tokens=3)
    events = [e async for e in fake_provider.stream([ChatMessage("user", "hi")])]
    assert events == [
        TextDelta("t0 "),
        TextDelta("t1 "),
        TextDelta("t2 "),
        LLMUsage(prompt_tokens=11, completion_tokens=3),
    ]


async def test_engine_failure_becomes_provider_error(fake_provider: LlamaLLM) -> None:
    fake_provider._llama = FakeLlama(tokens=10, fail_after=2)
    seen: list[LLMEvent] = []
    with pytest.raises(ProviderError, match="engine exploded"):
        async for event in fake_provider.stream([ChatMessage("user", "hi")]):
            seen.append(event)
    assert seen == [TextDelta("t0 "), TextDelta("t1 ")]


async def test_closing_the_iterator_stops_an_endless_generation(fake_provider: LlamaLLM) -> None:
    engine = FakeLlama(tokens=None)
    fake_provider._llama = engine
    async with aclosing(fake_provider.stream([ChatMessage("user", "hi")])) as events:
        async for _event in events:
            break
    # aclose() waited for the thread: the engine's generator is already closed.
    assert engine.closed.is_set()
    produced = engine.produced
    await asyncio.sleep(0.05)
    assert engine.produced == produced


async def test_cancelling_the_consumer_stops_generation(fake_provider: LlamaLLM) -> None:
    engine = FakeLlama(tokens=None)
    fake_provider._llama = engine
    first = asyncio.Event()

    async def consume() -> None:
        async for _event in fake_provider.stream([ChatMessage("user", "hi")]):
            first.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(asyncio.to_thread(engine.closed.wait, 5.0), 6.0)
    assert engine.closed.is_set()


def test_missing_llama_cpp_is_unavailable_with_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(llama_llm, "llama_cpp_installed", lambda: False)
    with pytest.raises(ProviderUnavailable, match=r"cap-voice\[llm\]"):
        LlamaLLM()


def test_missing_model_file_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(llama_llm, "llama_cpp_installed", lambda: True)
    with pytest.raises(ProviderUnavailable, match="no GGUF model"):
        LlamaLLM(str(tmp_path / "absent.gguf"))


# ---------------------------------------------------------------- real model (slow)


@pytest.fixture(scope="module")
def smollm() -> Iterator[LlamaLLM]:
    pytest.importorskip("llama_cpp")
    # Greedy decoding: the same answer on every run of this tiny model.
    provider = LlamaLLM(max_tokens=24, temperature=0.0, seed=1)
    yield provider
    provider.close()


@pytest.mark.slow
async def test_smollm_streams_a_reply_within_max_tokens(smollm: LlamaLLM) -> None:
    messages = [ChatMessage("user", "What is the capital of France?")]
    events = [e async for e in smollm.stream(messages)]
    deltas = [e for e in events if isinstance(e, TextDelta)]
    usage = events[-1]
    assert isinstance(usage, LLMUsage)
    assert all(isinstance(e, TextDelta) for e in events[:-1])
    text = "".join(d.text for d in deltas)
    # The 135M model's facts are unreliable; that it talks at all is what we check.
    assert len(text.split()) >= 2
    assert 0 < usage.completion_tokens <= 24
    assert usage.prompt_tokens > 10


@pytest.mark.slow
async def test_smollm_stops_when_the_consumer_leaves(smollm: LlamaLLM) -> None:
    messages = [ChatMessage("user", "Tell me a long story about a cat.")]
    async with aclosing(smollm.stream(messages)) as events:
        taken = 0
        async for event in events:
            taken += isinstance(event, TextDelta)
            if taken == 2:
                break
    # The worker is free again at once: a fresh reply is not stuck behind the old one.
    replies = [e async for e in smollm.stream([ChatMessage("user", "Say hello.")])]
    assert isinstance(replies[-1], LLMUsage)
    assert replies[-1].completion_tokens <= 24
