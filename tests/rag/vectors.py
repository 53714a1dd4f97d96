"""Random unit vectors and the chunk records that carry them, for store tests."""

from __future__ import annotations

import uuid

import numpy as np

from rag.store import ChunkRecord


def records(org: str, kb: str, vectors: np.ndarray) -> list[ChunkRecord]:
    return [
        ChunkRecord(
            chunk_id=str(uuid.uuid4()),
            org_id=org,
            kb_id=kb,
            document_id=f"{org}-{kb}-doc",
            document_name="doc.txt",
            chunk_index=i,
            text=f"{org}/{kb}/{i}",
            heading_path=(),
            page=None,
            row=None,
            category=None,
            content_hash="h",
            vector=[float(x) for x in v],
        )
        for i, v in enumerate(vectors)
    ]


def unit(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    normed: np.ndarray = v / np.linalg.norm(v, axis=1, keepdims=True)
    return normed
