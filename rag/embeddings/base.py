"""The embedding boundary: anything that turns texts into fixed-size vectors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

Vector = list[float]


@runtime_checkable
class Embedder(Protocol):
    """Embeds texts; vectors are comparable by cosine similarity.

    `model_id` and `dim` name the vector space: the store keeps one collection per
    (model_id, dim), so switching models never mixes incompatible vectors.
    """

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    async def embed(self, texts: Sequence[str]) -> list[Vector]:
        """One vector per text, in order."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens this model would see for `text` (used for the chunk budget)."""
        ...
