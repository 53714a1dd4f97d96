"""Embeddings from any OpenAI-compatible `/v1/embeddings` endpoint (OpenAI, vLLM, Ollama...)."""

from __future__ import annotations

from collections.abc import Sequence

import openai

from rag.chunking import approx_tokens
from rag.embeddings.base import Vector
from rag.errors import EmbeddingError

#: 4xx other than these means the request itself is wrong; retrying cannot help.
_RETRYABLE_STATUS = frozenset({408, 409, 429})


class OpenAIEmbedder:
    """`Embedder` over the `openai` SDK with a custom `base_url`.

    `dim` must be stated: the collection is created from it before the first call,
    and every answer is checked against it (a server that silently changes model
    would otherwise corrupt the index).
    """

    def __init__(
        self,
        model: str,
        dim: int,
        *,
        base_url: str | None = None,
        api_key: str = "not-needed",
        batch_size: int = 128,
        timeout_s: float = 30.0,
        max_retries: int = 2,
    ) -> None:
        self._model = model
        self._dim = dim
        self._batch_size = batch_size
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=max_retries
        )

    @property
    def model_id(self) -> str:
        return f"openai:{self._model}"

    @property
    def dim(self) -> int:
        return self._dim

    def count_tokens(self, text: str) -> int:
        # The remote tokenizer is unknown here; the approximation errs high.
        return approx_tokens(text)

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        vectors: list[Vector] = []
        for start in range(0, len(texts), self._batch_size):
            vectors.extend(await self._embed_batch(list(texts[start : start + self._batch_size])))
        return vectors

    async def _embed_batch(self, texts: list[str]) -> list[Vector]:
        try:
            response = await self._client.embeddings.create(
                model=self._model, input=texts, encoding_format="float"
            )
        except openai.APIStatusError as exc:
            retryable = exc.status_code >= 500 or exc.status_code in _RETRYABLE_STATUS
            raise EmbeddingError(
                f"embedding provider answered HTTP {exc.status_code}: {exc.message}",
                retryable=retryable,
            ) from exc
        except (openai.APIConnectionError, openai.APITimeoutError) as exc:
            raise EmbeddingError(f"embedding provider unreachable: {exc}", retryable=True) from exc
        data = sorted(response.data, key=lambda item: item.index)
        if len(data) != len(texts):
            raise EmbeddingError(
                f"embedding provider returned {len(data)} vectors for {len(texts)} texts",
                retryable=False,
            )
        vectors = [list(item.embedding) for item in data]
        for vector in vectors:
            if len(vector) != self._dim:
                raise EmbeddingError(
                    f"embedding provider returned dimension {len(vector)}, expected {self._dim}",
                    retryable=False,
                )
        return vectors

    async def aclose(self) -> None:
        await self._client.close()
