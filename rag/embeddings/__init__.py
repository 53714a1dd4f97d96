"""Embedders: the `Embedder` protocol, the offline MiniLM default, OpenAI-compatible."""

from rag.embeddings.base import Embedder, Vector

__all__ = ["Embedder", "Vector"]
