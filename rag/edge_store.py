"""Vector store on Qdrant Edge: the Qdrant engine in-process, with HNSW and payload indexes.

The embedded default. qdrant-client's local mode scores every point in numpy and
checks payload filters point by point in Python, so a filtered search costs
~190 ms at 10k chunks and seconds at 100k (benchmarks/results/rag.json). Qdrant
Edge (`qdrant-edge-py`) runs Qdrant's Rust segment code in the process. A Qdrant
server in production stays on `QdrantStore` (qdrant-client against its URL).

How a search stays fast (measured, benchmarks/rag_bench.py):
- Every point carries `SCOPE`, its organisation and knowledge base ids joined in
  one keyword (`scope_key`; ids cannot hold the separator), indexed as the tenant
  key. A search filters on the scope keys of its `Scope`, so the engine reads the
  scope's points straight from that index; the hits are then re-checked against
  org id and kb id. Filtering on the two separate fields instead cost 2-5x more
  per point. A scope of several knowledge bases is one search whose filter is a
  `should` of exact matches on their scope keys: it reads each kb's points from
  the index once, as fast as a single kb of the same size (100k points over 10
  kbs: ~3.1 ms CPU, against ~4.5 ms for one search per kb merged, ~3.5 ms for
  them batched and ~6 ms for a `MatchAny` on the keys; benchmarks/rag/filters.py).
- Vectors are also kept as int8 (scalar quantisation, in RAM): a search scans the
  scope's int8 vectors and rescores the best `oversampling` x top_k on floats.
  Exact, not approximate, up to the int8 pre-selection: recall@5 1.0 in the
  benchmark. Cost grows with the scope, not the store: ~1 ms for a 10k-chunk
  knowledge base in a 100k-chunk store.
- No HNSW graph by default (`hnsw_m=0`). On uniformly random 384-d vectors HNSW
  (m=16) found 19% of the true top 5 at ef=128 and 48% at ef=512 while costing
  as much CPU as the int8 scan, and building it for 100k points took minutes.
  `hnsw_m=16` builds one (for single scopes far beyond 100k chunks of real
  embeddings): scopes under `exact_below_points` chunks are still scanned.
- One search thread: on a shared 2-core machine the per-segment thread pool
  cost more CPU than it saved.

Caveat: qdrant-edge-py (0.9) holds the GIL while it optimises (builds int8 and
HNSW segments), so the whole process, event loop included, stops meanwhile. A
write optimises once `optimize_every` points have accumulated, and merges stop at
`max_segment_points`, which bounds the stop: 3.5 s at worst while loading 100k
chunks (7 s with unbounded segments, ~3 min with an HNSW graph). Bulk loads call
`optimize` once. The server therefore runs this store in a child process
(`rag.edge_process.ProcessEdgeStore`, the embedded default); in-process use is for
tests and benchmarks.

Same contract as `QdrantStore`: searches take a `Scope`, results are re-checked
against it, one shard directory per embedding model (`collection_name`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from rag.embeddings.base import Vector
from rag.errors import InvalidScope, StoreError
from rag.store import (
    CATEGORY,
    CONTENT_HASH,
    DOC,
    KB,
    ORG,
    SCOPE,
    ChunkRecord,
    Scope,
    ScoredChunk,
    collection_name,
    record_from_payload,
    require_org,
    scope_key,
    scored_from_payload,
)

T = TypeVar("T")


class EdgeStore:
    """`VectorStore` on one Qdrant Edge shard under `root`."""

    def __init__(
        self,
        root: str | Path,
        model_id: str,
        dim: int,
        *,
        prefix: str = "cap_chunks",
        optimize_every: int = 20_000,
        hnsw_m: int = 0,
        hnsw_ef_construct: int = 100,
        hnsw_ef: int = 128,
        exact_below_points: int = 10_000,
        quantize: bool = True,
        oversampling: float = 2.0,
        index_above_kb: int | None = None,
        max_segment_points: int | None = 20_000,
        inline: bool = False,
    ) -> None:
        self._model_id = model_id
        self._dim = dim
        self.collection = collection_name(prefix, model_id, dim)
        self._path = Path(root) / self.collection
        # Edge shards are driven from one thread; calls queue behind each other.
        # `inline`: on the caller's thread instead (the store's child process, which
        # serves one call at a time and has no loop to keep turning, saves the hop).
        self._executor = None if inline else ThreadPoolExecutor(1, thread_name_prefix="qdrant-edge")
        self._shard: Any = None
        #: Points written since the last optimisation (which builds HNSW segments).
        self._pending = 0
        self._optimize_every = optimize_every
        self._hnsw_m = hnsw_m
        self._hnsw_ef_construct = hnsw_ef_construct
        self._hnsw_ef = hnsw_ef
        self._quantize = quantize
        self._oversampling = oversampling
        #: Segments whose vectors pass this many KB become indexed (int8) on `optimize`;
        #: None keeps Qdrant's default (10 MB, ~6.6k 384-d vectors).
        self._index_above_kb = index_above_kb
        #: Merges stop at segments of about this many points, so one `optimize` after
        #: `optimize_every` writes re-encodes a bounded amount (it holds the GIL: ~1.5 s
        #: for 20k new points on an 80k store, against 10.5 s when it merged them all).
        #: None: Qdrant's default (segments grow with the store).
        self._max_segment_kb = (
            None if max_segment_points is None else max(1, max_segment_points * dim * 4 // 1024)
        )
        # Qdrant's planner scans the filtered points exactly when their vectors are
        # under this many KB: with a graph, a scope below `exact_below_points` chunks
        # is scanned, larger ones walk the graph; without one, every scope is scanned.
        self._full_scan_kb = max(1, exact_below_points * dim * 4 // 1024) if hnsw_m > 0 else 2**40

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            if self._executor is None:
                return fn(*args)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, partial(fn, *args))
        except (ValueError, TypeError, InvalidScope):
            raise
        except Exception as exc:
            raise StoreError(f"edge store call failed: {type(exc).__name__}: {exc}") from exc

    def _config(self) -> Any:
        import qdrant_edge as qe

        quantization = (
            qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=0.99, always_ram=True)
            if self._quantize
            else None
        )
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=self._dim, distance=qe.Distance.Cosine),
            hnsw_config=qe.HnswIndexConfig(
                m=self._hnsw_m,
                ef_construct=self._hnsw_ef_construct,
                full_scan_threshold=self._full_scan_kb,
                payload_m=0,
            ),
            quantization_config=quantization,
            optimizers=qe.EdgeOptimizersConfig(
                indexing_threshold=self._index_above_kb, max_segment_size=self._max_segment_kb
            ),
            max_search_threads=1,
        )

    def _open(self) -> Any:
        if self._shard is not None:
            return self._shard
        import qdrant_edge as qe

        if self._path.is_dir() and any(self._path.iterdir()):
            shard = qe.EdgeShard.load(str(self._path), self._config())
            if SCOPE not in shard.info().payload_schema:
                _add_scope_keys(shard)  # a shard written before scope keys existed
            self._shard = shard
            return shard
        shard = qe.EdgeShard.create(str(self._path), self._config())
        _create_indexes(shard)
        self._shard = shard
        return shard

    async def ensure_collection(self) -> None:
        await self._run(self._open)

    async def upsert(self, records: Sequence[ChunkRecord]) -> None:
        if not records:
            return
        for record in records:
            if len(record.vector) != self._dim:
                raise ValueError(f"vector of size {len(record.vector)} in a {self._dim}-d store")
            Scope(record.org_id, (record.kb_id,))
        await self._run(self._upsert_sync, list(records))

    def _upsert_sync(self, records: list[ChunkRecord]) -> None:
        import qdrant_edge as qe

        shard = self._open()
        points = [
            qe.Point(
                r.chunk_id, list(r.vector), {**r.payload(), SCOPE: scope_key(r.org_id, r.kb_id)}
            )
            for r in records
        ]
        shard.update(qe.UpdateOperation.upsert_points(points))
        self._pending += len(points)
        if self._pending >= self._optimize_every:
            shard.optimize()
            self._pending = 0

    async def search(
        self, scope: Scope, vector: Vector, top_k: int, category: str | None = None
    ) -> list[ScoredChunk]:
        if not isinstance(scope, Scope):
            raise InvalidScope("search needs a Scope(org_id, kb_ids)")
        top_k = max(1, min(int(top_k), 100))
        points = await self._run(self._search_sync, scope, list(vector), top_k, category)
        hits = [scored_from_payload(p.id, p.score, p.payload) for p in points]
        return [h for h in hits if h.org_id == scope.org_id and h.kb_id in scope.kb_ids]

    def _search_sync(
        self, scope: Scope, vector: list[float], top_k: int, category: str | None
    ) -> list[Any]:
        points: list[Any] = self._open().query(
            self._request(scope.scope_keys(), vector, top_k, category)
        )
        return points

    def _request(
        self, keys: Sequence[str], vector: list[float], top_k: int, category: str | None
    ) -> Any:
        """One query over the scope's knowledge bases: its points are those whose scope key
        is one of `keys` (exact keyword matches on the tenant index)."""
        import qdrant_edge as qe

        by_key: list[Any] = [qe.FieldCondition(key=SCOPE, match=qe.MatchValue(key)) for key in keys]
        must: list[Any] = by_key if len(by_key) == 1 else []
        if category is not None:
            must.append(qe.FieldCondition(key=CATEGORY, match=qe.MatchValue(category)))
        # Several kbs: any of their keys (`should` of exact matches; cheaper than MatchAny).
        should = by_key if len(by_key) > 1 else None
        quantization = (
            qe.QuantizationSearchParams(rescore=True, oversampling=self._oversampling)
            if self._quantize
            else None
        )
        return qe.QueryRequest(
            limit=top_k,
            query=qe.Query.Nearest(vector),
            filter=qe.Filter(must=must or None, should=should),
            with_payload=True,
            params=qe.SearchParams(hnsw_ef=self._hnsw_ef, quantization=quantization),
        )

    async def delete_document(self, org_id: str, document_id: str) -> None:
        await self._run(self._delete_sync, org_id, {DOC: document_id})

    async def delete_knowledge_base(self, org_id: str, kb_id: str) -> None:
        await self._run(self._delete_sync, org_id, {KB: kb_id})

    def _delete_sync(self, org_id: str, extra: dict[str, str]) -> None:
        import qdrant_edge as qe

        self._open().update(qe.UpdateOperation.delete_points_by_filter(_filter(org_id, extra)))

    async def count(
        self, org_id: str, kb_id: str | None = None, document_id: str | None = None
    ) -> int:
        extra = {k: v for k, v in ((KB, kb_id), (DOC, document_id)) if v is not None}
        return await self._run(self._count_sync, org_id, extra)

    def _count_sync(self, org_id: str, extra: dict[str, str]) -> int:
        import qdrant_edge as qe

        return int(self._open().count(qe.CountRequest(exact=True, filter=_filter(org_id, extra))))

    async def scroll_chunks(
        self, org_id: str, offset: str | None = None, limit: int = 256
    ) -> tuple[list[ChunkRecord], str | None]:
        records, next_offset = await self._run(self._scroll_sync, org_id, offset, limit)
        return [r for r in records if r.org_id == org_id], next_offset

    def _scroll_sync(
        self, org_id: str, offset: str | None, limit: int
    ) -> tuple[list[ChunkRecord], str | None]:
        import uuid

        import qdrant_edge as qe

        request = qe.ScrollRequest(
            offset=None if offset is None else uuid.UUID(offset),
            limit=limit,
            filter=_filter(org_id, {}),
            with_payload=True,
        )
        points, next_offset = self._open().scroll(request)
        records = [record_from_payload(p.id, p.payload) for p in points]
        return records, None if next_offset is None else str(next_offset)

    async def optimize(self) -> None:
        """Build HNSW and quantised segments now (otherwise every `optimize_every` writes).

        Holds the GIL for its whole run (see the module docstring).
        """

        def run() -> None:
            self._open().optimize()
            self._pending = 0

        await self._run(run)

    async def info(self) -> dict[str, int]:
        """Segments, points and points in an HNSW index, for checks and benchmarks."""

        def read() -> dict[str, int]:
            info = self._open().info()
            return {
                "segments": int(info.segments_count),
                "points": int(info.points_count),
                "indexed_vectors": int(info.indexed_vectors_count),
            }

        return await self._run(read)

    async def aclose(self) -> None:
        def close() -> None:
            if self._shard is not None:
                self._shard.flush()
                self._shard.close()
                self._shard = None

        await self._run(close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)


def _filter(org_id: str, extra: dict[str, str]) -> Any:
    import qdrant_edge as qe

    require_org(org_id)
    return qe.Filter(
        must=[
            qe.FieldCondition(key=key, match=qe.MatchValue(value))
            for key, value in {ORG: org_id, **extra}.items()
        ]
    )


def _create_indexes(shard: Any) -> None:
    """The scope key is the tenant index; the rest serve deletes, counts and categories.

    No per-value HNSW links on any of them (`enable_hnsw=False`): large scopes use
    the main graph with the filter, small ones an exact scan, so the extra graphs
    would only slow every optimisation down.
    """
    import qdrant_edge as qe

    shard.update(
        qe.UpdateOperation.create_field_index(
            SCOPE, qe.KeywordIndexParams(is_tenant=True, enable_hnsw=False)
        )
    )
    for key in (ORG, KB, DOC, CATEGORY, CONTENT_HASH):
        shard.update(
            qe.UpdateOperation.create_field_index(key, qe.KeywordIndexParams(enable_hnsw=False))
        )


def _add_scope_keys(shard: Any) -> None:
    """Give every point of an older shard its scope key, then index the field."""
    import qdrant_edge as qe

    shard.update(
        qe.UpdateOperation.create_field_index(
            SCOPE, qe.KeywordIndexParams(is_tenant=True, enable_hnsw=False)
        )
    )
    orgs = shard.facet(qe.FacetRequest(key=ORG, limit=1_000_000, exact=True))
    for org in orgs.hits:
        org_id = str(org.value)
        kbs = shard.facet(
            qe.FacetRequest(key=KB, limit=1_000_000, exact=True, filter=_filter(org_id, {}))
        )
        for kb in kbs.hits:
            kb_id = str(kb.value)
            shard.update(
                qe.UpdateOperation.set_payload_by_filter(
                    _filter(org_id, {KB: kb_id}), {SCOPE: scope_key(org_id, kb_id)}
                )
            )
