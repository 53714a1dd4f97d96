"""Fixtures: one fake server per provider, started on an ephemeral port."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The fakes live in tests/fakes (a package); make the repository root importable
# whichever way pytest was started.
_ROOT = str(Path(__file__).resolve().parents[4])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.fakes import (  # noqa: E402
    TEST_API_KEY,
    AnthropicFake,
    DeepgramFake,
    ElevenLabsFake,
    OpenAIFake,
)

API_KEY = TEST_API_KEY


@pytest.fixture(scope="session", autouse=True)
def _frozen_heap() -> Iterator[None]:
    """What is loaded at start stays out of the collector's full passes, as in
    ``cap serve``: with the SDKs loaded a full pass takes ~0.2-0.3 s here, longer
    than the 100 ms slack the deadline tests allow a failover."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture
async def openai_fake() -> AsyncIterator[OpenAIFake]:
    async with OpenAIFake(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
async def openai_fake_b() -> AsyncIterator[OpenAIFake]:
    async with OpenAIFake(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
async def anthropic_fake() -> AsyncIterator[AnthropicFake]:
    async with AnthropicFake(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
async def deepgram_fake() -> AsyncIterator[DeepgramFake]:
    async with DeepgramFake(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
async def elevenlabs_fake() -> AsyncIterator[ElevenLabsFake]:
    async with ElevenLabsFake(api_key=API_KEY) as fake:
        yield fake


@dataclass(frozen=True)
class AllFakes:
    openai: OpenAIFake
    anthropic: AnthropicFake
    deepgram: DeepgramFake
    elevenlabs: ElevenLabsFake


@pytest.fixture
def all_fakes(
    openai_fake: OpenAIFake,
    anthropic_fake: AnthropicFake,
    deepgram_fake: DeepgramFake,
    elevenlabs_fake: ElevenLabsFake,
) -> AllFakes:
    return AllFakes(openai_fake, anthropic_fake, deepgram_fake, elevenlabs_fake)
