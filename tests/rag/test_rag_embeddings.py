from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from rag.embeddings.base import Embedder
from rag.embeddings.onnx_minilm import DIM, MiniLMEmbedder
from rag.embeddings.openai_compat import OpenAIEmbedder
from rag.errors import EmbeddingError
from tests.rag.fake_embeddings_server import FakeEmbeddingsServer, running_fake


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def minilm() -> Iterator[MiniLMEmbedder]:
    embedder = MiniLMEmbedder()
    yield embedder
    embedder.close()


@pytest.mark.slow
async def test_minilm_ranks_paraphrases_above_unrelated_text(minilm: MiniLMEmbedder) -> None:
    assert isinstance(minilm, Embedder)
    assert (minilm.model_id, minilm.dim) == ("all-MiniLM-L6-v2-onnx-int8", DIM)
    query, para, other, other2 = await minilm.embed(
        [
            "How do I reset my password?",
            "Steps to change the password of your account",
            "The soup of the day is tomato with basil.",
            "Our parking lot closes at midnight.",
        ]
    )
    assert all(len(v) == DIM for v in (query, para, other))
    assert math.isclose(math.sqrt(sum(x * x for x in query)), 1.0, rel_tol=1e-4)
    assert cosine(query, para) > 0.5
    assert cosine(query, para) > cosine(query, other) + 0.3
    assert cosine(query, para) > cosine(query, other2) + 0.3


@pytest.mark.slow
async def test_minilm_batches_match_single_calls_and_count_tokens(minilm: MiniLMEmbedder) -> None:
    texts = [f"sentence number {i} about {'tea' if i % 2 else 'coffee'}" for i in range(40)]
    batched = await minilm.embed(texts)  # over the query threshold: bulk pool, sorted batches
    single = await minilm.embed([texts[17]])
    assert cosine(batched[17], single[0]) > 0.999
    assert minilm.count_tokens("hello world") == 2
    assert minilm.count_tokens("") == 0
    assert await minilm.embed([]) == []


async def test_openai_embedder_against_fake_server() -> None:
    async with running_fake(FakeEmbeddingsServer(dim=8)) as fake:
        embedder = OpenAIEmbedder(
            "text-embedding-3-small", 8, base_url=fake.base_url, api_key="test-key", batch_size=3
        )
        try:
            vectors = await embedder.embed(["a", "b", "c", "d"])
        finally:
            await embedder.aclose()
    assert embedder.model_id == "openai:text-embedding-3-small"
    assert vectors == [fake.vector(t, 8) for t in "abcd"]  # ordered by index
    assert [r["input"] for r in fake.requests] == [["a", "b", "c"], ["d"]]
    assert fake.requests[0]["model"] == "text-embedding-3-small"


async def test_openai_embedder_rejects_a_wrong_dimension() -> None:
    async with running_fake(FakeEmbeddingsServer(dim=8, wrong_dim=4)) as fake:
        embedder = OpenAIEmbedder("m", 8, base_url=fake.base_url, api_key="test-key")
        try:
            with pytest.raises(EmbeddingError, match="dimension 4") as caught:
                await embedder.embed(["a"])
        finally:
            await embedder.aclose()
    assert caught.value.retryable is False


async def test_openai_embedder_errors_carry_the_retry_decision() -> None:
    fake = FakeEmbeddingsServer(dim=8, fail_status=503, fail_times=1)
    async with running_fake(fake):
        embedder = OpenAIEmbedder("m", 8, base_url=fake.base_url, api_key="test-key", max_retries=0)
        try:
            with pytest.raises(EmbeddingError, match="HTTP 503") as server_error:
                await embedder.embed(["a"])
            assert await embedder.embed(["a"]) == [fake.vector("a", 8)]
        finally:
            await embedder.aclose()
        bad_key = OpenAIEmbedder("m", 8, base_url=fake.base_url, api_key="wrong", max_retries=0)
        try:
            with pytest.raises(EmbeddingError, match="HTTP 401") as auth_error:
                await bad_key.embed(["a"])
        finally:
            await bad_key.aclose()
    assert server_error.value.retryable is True
    assert auth_error.value.retryable is False


async def test_openai_embedder_unreachable_is_retryable() -> None:
    embedder = OpenAIEmbedder("m", 8, base_url="http://127.0.0.1:9/v1", max_retries=0)
    try:
        with pytest.raises(EmbeddingError, match="unreachable") as caught:
            await embedder.embed(["a"])
    finally:
        await embedder.aclose()
    assert caught.value.retryable is True
