"""A search over several knowledge bases is one engine query: exact isolation, exact top k.

Every distractor below is the query vector itself (score 1.0, the best possible
match), so any leak through the engine's filter would push an in-scope hit out of
the top k; the hits must be the exact brute-force top k of the scope's own points.
Runs on every store backend (qdrant-client local mode, EdgeStore, ProcessEdgeStore).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag.edge_store import EdgeStore
from rag.store import ChunkRecord, Scope, VectorStore
from tests.rag.conftest import StoreFactory
from tests.rag.vectors import records, unit

DIM = 16
SCOPE_KBS = ("k1", "k2", "k3")


def corpus(query: np.ndarray) -> tuple[list[ChunkRecord], list[ChunkRecord]]:
    """(in-scope records of org a, distractors identical to `query`)."""
    inside = [
        replace(r, category="faq" if i % 2 else "manual")
        for n, kb in enumerate(SCOPE_KBS)
        for i, r in enumerate(records("a", kb, unit(40, DIM, seed=10 + n)))
    ]
    same = np.repeat(query[None, :], 4, axis=0)
    distractors = [
        *records("b", "k1", same),  # another organisation, same kb ids
        *records("b", "k2", same),
        *records("a", "k4", same),  # the same organisation, a kb outside the scope
        *records("a", "k1x", same),  # a kb id that merely starts with an in-scope one
        *records("a k1", "k1", same),  # ids that would collide if merely concatenated
        *records("ak", "1", same),
    ]
    return inside, [replace(r, category="faq") for r in distractors]


def exact_top(inside: list[ChunkRecord], query: np.ndarray, k: int) -> list[str]:
    vectors = np.array([r.vector for r in inside], dtype=np.float32)
    return [inside[i].chunk_id for i in np.argsort(-(vectors @ query))[:k]]


async def check(store: VectorStore, inside: list[ChunkRecord], query: np.ndarray) -> None:
    scope = Scope("a", SCOPE_KBS)
    hits = await store.search(scope, query.tolist(), 10)
    assert [h.chunk_id for h in hits] == exact_top(inside, query, 10)
    assert {(h.org_id, h.kb_id) for h in hits} <= {("a", kb) for kb in SCOPE_KBS}
    faq = await store.search(scope, query.tolist(), 10, category="faq")
    assert [h.chunk_id for h in faq] == exact_top(
        [r for r in inside if r.category == "faq"], query, 10
    )
    two = await store.search(Scope("a", ("k3", "k1")), query.tolist(), 10)
    assert [h.chunk_id for h in two] == exact_top(
        [r for r in inside if r.kb_id in ("k1", "k3")], query, 10
    )
    # The distractors are there: a scope that names them finds them first.
    theirs = await store.search(Scope("b", ("k1", "k2", "k9")), query.tolist(), 10)
    assert len(theirs) == 8 and {h.org_id for h in theirs} == {"b"}
    assert await store.search(Scope("c", SCOPE_KBS), query.tolist(), 10) == []


async def test_a_multi_kb_search_returns_the_scopes_exact_top_k_and_nothing_else(
    make_store: StoreFactory,
) -> None:
    store = make_store("m", DIM)
    query = unit(1, DIM, seed=1)[0]
    inside, distractors = corpus(query)
    await store.upsert(distractors)
    await store.upsert(inside)
    await check(store, inside, query)


async def test_the_same_holds_on_optimised_int8_segments(tmp_path: Path) -> None:
    pytest.importorskip("qdrant_edge")
    store = EdgeStore(tmp_path, "m", DIM, index_above_kb=1)
    try:
        query = unit(1, DIM, seed=2)[0]
        inside, distractors = corpus(query)
        await store.upsert(inside)
        await store.upsert(distractors)
        await store.optimize()
        assert (await store.info())["indexed_vectors"] == len(inside) + len(distractors)
        await check(store, inside, query)
    finally:
        await store.aclose()
