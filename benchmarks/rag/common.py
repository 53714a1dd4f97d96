"""Shared pieces of the knowledge benchmarks: percentiles, CPU time, synthetic corpora."""

from __future__ import annotations

import resource
import uuid
from typing import Any

import numpy as np

from rag.store import ChunkRecord


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def cpu_ms() -> float:
    """CPU time of the whole process (every thread) so far, in ms."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return (usage.ru_utime + usage.ru_stime) * 1000


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def clustered_vectors(n: int, dim: int, seed: int, centres: int = 500) -> np.ndarray:
    """Unit vectors around a few hundred centres: closer to real embeddings than noise."""
    rng = np.random.default_rng(seed)
    middle = rng.standard_normal((centres, dim)).astype(np.float32)
    v = middle[rng.integers(0, centres, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def corpus_records(
    vectors: np.ndarray, start: int, org_of: Any, kb_of: Any = lambda i: "kb"
) -> list[ChunkRecord]:
    """Bench points `start`.. with ids, org and kb derived from the global index."""
    return [
        ChunkRecord(
            chunk_id=str(uuid.UUID(int=start + n + 1)),
            org_id=org_of(start + n),
            kb_id=kb_of(start + n),
            document_id=f"doc{(start + n) // 50}",
            document_name=f"doc{(start + n) // 50}.pdf",
            chunk_index=(start + n) % 50,
            text="lorem ipsum " * 60,
            heading_path=(),
            page=1,
            row=None,
            category=None,
            content_hash="h",
            vector=vector.tolist(),
        )
        for n, vector in enumerate(vectors)
    ]
