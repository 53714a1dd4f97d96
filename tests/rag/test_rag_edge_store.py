"""EdgeStore past the appendable segment: int8 segments, scope keys, older shards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.edge_store import EdgeStore
from rag.store import KB, ORG, SCOPE, Scope
from tests.rag.vectors import records, unit

pytest.importorskip("qdrant_edge")


async def test_optimised_int8_segments_keep_tenants_apart_and_find_the_exact_top_5(
    tmp_path: Path,
) -> None:
    store = EdgeStore(tmp_path, "m", 16, index_above_kb=1)
    shared = unit(300, 16, seed=1)
    # Organisation B holds the very same vectors under the same kb id as A.
    a_kb1, a_kb2 = records("a", "kb1", shared), records("a", "kb2", unit(200, 16, 2))
    b_kb1 = records("b", "kb1", shared)
    for batch in (a_kb1, a_kb2, b_kb1):
        await store.upsert(batch)
    await store.optimize()
    info = await store.info()
    assert info["points"] == 800
    assert info["indexed_vectors"] == 800  # all in optimised (int8) segments
    vectors = np.array([r.vector for r in a_kb1 + a_kb2], dtype=np.float32)
    for q in unit(10, 16, seed=3):
        only_b = await store.search(Scope("b", ("kb1",)), q.tolist(), 5)
        assert [h.org_id for h in only_b] == ["b"] * 5
        both = await store.search(Scope("a", ("kb1", "kb2")), q.tolist(), 5)
        exact = [(a_kb1 + a_kb2)[i].chunk_id for i in np.argsort(-(vectors @ q))[:5]]
        assert [h.chunk_id for h in both] == exact
        assert [h.score for h in both] == sorted((h.score for h in both), reverse=True)
    assert await store.search(Scope("a", ("kb3",)), shared[0].tolist(), 5) == []
    await store.aclose()


async def test_a_shard_written_before_scope_keys_gets_them_on_open(tmp_path: Path) -> None:
    import qdrant_edge as qe

    store = EdgeStore(tmp_path, "m", 4)
    old = qe.EdgeShard.create(
        str(tmp_path / store.collection),
        qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=4, distance=qe.Distance.Cosine)),
    )
    for key in (ORG, KB):
        old.update(qe.UpdateOperation.create_field_index(key, qe.PayloadSchemaType.Keyword))
    rows = records("a", "kb", unit(3, 4, 5)) + records("b", "kb", unit(3, 4, 5))
    old.update(
        qe.UpdateOperation.upsert_points(
            [qe.Point(r.chunk_id, list(r.vector), r.payload()) for r in rows]
        )
    )
    assert all(SCOPE not in p for p in (r.payload() for r in rows))
    old.flush()
    old.close()
    try:
        hits = await store.search(Scope("a", ("kb",)), rows[0].vector, 10)
        assert sorted(h.text for h in hits) == ["a/kb/0", "a/kb/1", "a/kb/2"]
        assert {h.org_id for h in await store.search(Scope("b", ("kb",)), rows[0].vector, 10)} == {
            "b"
        }
        assert await store.count("a") == 3
    finally:
        await store.aclose()
