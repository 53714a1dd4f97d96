"""Vector store over Qdrant: one code path for local mode (on disk) and a server.

In production this is the store (qdrant-client against the server's URL). The
embedded default is `rag.edge_store.EdgeStore` (the Qdrant engine in-process);
local mode stays as the pure-Python embedded option, slow past a few thousand
chunks (benchmarks/results/rag.json).

Tenancy is structural: `search` takes a `Scope`, which cannot be built without an
organisation id and at least one knowledge base id, and the Qdrant filter is made
from it here and nowhere else. Results are re-checked against the scope before
they leave, so a payload written wrongly can never leak across organisations.

One collection per embedding space, named from the model id and dimension:
changing the embedder points the service at a new, empty collection, and the old
vectors are never compared with the new ones.

qdrant-client's local mode is synchronous Python (its async client merely wraps
the same code on the event loop), so every call goes through a thread executor:
a single thread for local mode, whose in-memory state is not thread-safe, and a
small pool for a server.
"""

from __future__ import annotations

import asyncio
import re
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from rag.embeddings.base import Vector
from rag.errors import InvalidScope, StoreError

T = TypeVar("T")

#: Payload keys: the one place their spelling lives.
ORG = "org_id"
KB = "kb_id"
DOC = "document_id"
CATEGORY = "category"
CONTENT_HASH = "content_hash"
#: One keyword made of the organisation and knowledge base ids (`scope_key`), so an
#: engine with payload indexes can filter a search on both through one index.
SCOPE = "scope"
#: Joins the two ids in a scope key; ids may not contain it (nor any control character).
SCOPE_SEPARATOR = "\x1f"


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose knowledge a search may see. Construction validates; there is no default."""

    org_id: str
    kb_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.org_id, str) or not self.org_id.strip():
            raise InvalidScope("a search needs a non-empty organisation id")
        if not isinstance(self.kb_ids, tuple) or not self.kb_ids:
            raise InvalidScope("a search needs at least one knowledge base id")
        if not all(isinstance(kb, str) and kb.strip() for kb in self.kb_ids):
            raise InvalidScope("knowledge base ids must be non-empty strings")
        if any(_has_control(i) for i in (self.org_id, *self.kb_ids)):
            raise InvalidScope("ids may not hold control characters")

    def scope_keys(self) -> tuple[str, ...]:
        """The scope keys of its knowledge bases (see `scope_key`)."""
        return tuple(scope_key(self.org_id, kb) for kb in self.kb_ids)


def scope_key(org_id: str, kb_id: str) -> str:
    """The `SCOPE` payload value of a point: both ids, joined by a character neither holds."""
    return f"{org_id}{SCOPE_SEPARATOR}{kb_id}"


def _has_control(value: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in value)


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    chunk_id: str
    org_id: str
    kb_id: str
    document_id: str
    document_name: str
    chunk_index: int
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    row: int | None
    category: str | None
    content_hash: str
    vector: Vector

    def payload(self) -> dict[str, Any]:
        return {
            ORG: self.org_id,
            KB: self.kb_id,
            DOC: self.document_id,
            "document_name": self.document_name,
            "chunk_index": self.chunk_index,
            "text": self.text,
            "heading_path": list(self.heading_path),
            "page": self.page,
            "row": self.row,
            CATEGORY: self.category,
            CONTENT_HASH: self.content_hash,
        }


@dataclass(frozen=True, slots=True)
class ScoredChunk:
    chunk_id: str
    score: float
    org_id: str
    kb_id: str
    document_id: str
    document_name: str
    chunk_index: int
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    row: int | None
    category: str | None


class VectorStore(Protocol):
    """The storage boundary the knowledge service needs."""

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    async def upsert(self, records: Sequence[ChunkRecord]) -> None: ...

    async def search(
        self, scope: Scope, vector: Vector, top_k: int, category: str | None = None
    ) -> list[ScoredChunk]: ...

    async def delete_document(self, org_id: str, document_id: str) -> None: ...

    async def delete_knowledge_base(self, org_id: str, kb_id: str) -> None: ...

    async def count(
        self, org_id: str, kb_id: str | None = None, document_id: str | None = None
    ) -> int: ...

    async def scroll_chunks(
        self, org_id: str, offset: str | None = None, limit: int = 256
    ) -> tuple[list[ChunkRecord], str | None]:
        """One page of an organisation's chunks without vectors, and the next offset."""
        ...


def collection_name(prefix: str, model_id: str, dim: int) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "_", model_id.lower()).strip("_")
    return f"{prefix}__{slug}__{dim}"


class QdrantConnection:
    """One qdrant-client and the executor every call goes through.

    Local mode locks its directory, so stores for several embedding models on the
    same path must share one connection.
    """

    def __init__(self, client: Any, *, local: bool) -> None:
        self.client = client
        self.local = local
        self._executor = ThreadPoolExecutor(1 if local else 4, thread_name_prefix="qdrant")

    @classmethod
    def open(
        cls,
        *,
        path: str | None = None,
        url: str | None = None,
        api_key: str | None = None,
        in_memory: bool = False,
    ) -> QdrantConnection:
        """Exactly one of `path` (local, on disk), `url` (server) or `in_memory`."""
        from qdrant_client import QdrantClient

        if sum((path is not None, url is not None, in_memory)) != 1:
            raise ValueError("give exactly one of path=, url= or in_memory=True")
        if url is not None:
            return cls(QdrantClient(url=url, api_key=api_key), local=False)
        if in_memory:
            return cls(QdrantClient(location=":memory:"), local=True)
        return cls(QdrantClient(path=path), local=True)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, partial(_quiet, fn, *args, **kwargs))
        except (ValueError, TypeError, AssertionError):
            raise
        except Exception as exc:
            raise StoreError(f"vector store call failed: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.client.close)
        self._executor.shutdown(wait=True)


def _quiet(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    # Local mode warns past 20k points; the benchmark documents that cost instead.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Local mode is not recommended")
        return fn(*args, **kwargs)


class QdrantStore:
    """`VectorStore` on one collection of a `QdrantConnection`."""

    def __init__(
        self,
        connection: QdrantConnection,
        model_id: str,
        dim: int,
        *,
        prefix: str = "cap_chunks",
    ) -> None:
        self._conn = connection
        self._model_id = model_id
        self._dim = dim
        self.collection = collection_name(prefix, model_id, dim)
        self._ready = False
        self._ready_lock = asyncio.Lock()

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    async def ensure_collection(self) -> None:
        if self._ready:
            return
        async with self._ready_lock:
            if not self._ready:
                await self._conn.run(self._create_sync)
                self._ready = True

    def _create_sync(self) -> None:
        from qdrant_client import models

        client = self._conn.client
        if client.collection_exists(self.collection):
            return
        client.create_collection(
            self.collection,
            vectors_config=models.VectorParams(size=self._dim, distance=models.Distance.COSINE),
        )
        if self._conn.local:
            return  # local mode ignores payload indexes (and warns about them)
        client.create_payload_index(
            self.collection,
            ORG,
            models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
        )
        for key in (KB, DOC, CATEGORY, CONTENT_HASH):
            client.create_payload_index(self.collection, key, models.PayloadSchemaType.KEYWORD)

    async def upsert(self, records: Sequence[ChunkRecord]) -> None:
        from qdrant_client import models

        if not records:
            return
        for record in records:
            if len(record.vector) != self._dim:
                raise ValueError(f"vector of size {len(record.vector)} in a {self._dim}-d store")
            Scope(record.org_id, (record.kb_id,))  # same validation as reads
        await self.ensure_collection()
        points = [
            models.PointStruct(id=r.chunk_id, vector=r.vector, payload=r.payload()) for r in records
        ]
        await self._conn.run(self._conn.client.upsert, self.collection, points=points, wait=True)

    async def search(
        self, scope: Scope, vector: Vector, top_k: int, category: str | None = None
    ) -> list[ScoredChunk]:
        from qdrant_client import models

        if not isinstance(scope, Scope):
            raise InvalidScope("search needs a Scope(org_id, kb_ids)")
        top_k = max(1, min(int(top_k), 100))
        must: list[models.Condition] = [
            models.FieldCondition(key=ORG, match=models.MatchValue(value=scope.org_id)),
            models.FieldCondition(key=KB, match=models.MatchAny(any=list(scope.kb_ids))),
        ]
        if category is not None:
            must.append(
                models.FieldCondition(key=CATEGORY, match=models.MatchValue(value=category))
            )
        await self.ensure_collection()
        response = await self._conn.run(
            self._conn.client.query_points,
            self.collection,
            query=vector,
            query_filter=models.Filter(must=must),
            limit=top_k,
            with_payload=True,
        )
        hits = [scored_from_payload(p.id, p.score, p.payload) for p in response.points]
        # Belt and braces: nothing outside the scope leaves, whatever the filter did.
        return [h for h in hits if h.org_id == scope.org_id and h.kb_id in scope.kb_ids]

    async def delete_document(self, org_id: str, document_id: str) -> None:
        await self._delete(org_id, DOC, document_id)

    async def delete_knowledge_base(self, org_id: str, kb_id: str) -> None:
        await self._delete(org_id, KB, kb_id)

    async def _delete(self, org_id: str, key: str, value: str) -> None:
        from qdrant_client import models

        await self.ensure_collection()
        selector = models.FilterSelector(filter=_org_filter(org_id, {key: value}))
        await self._conn.run(
            self._conn.client.delete, self.collection, points_selector=selector, wait=True
        )

    async def count(
        self, org_id: str, kb_id: str | None = None, document_id: str | None = None
    ) -> int:
        extra = {k: v for k, v in ((KB, kb_id), (DOC, document_id)) if v is not None}
        await self.ensure_collection()
        result = await self._conn.run(
            self._conn.client.count,
            self.collection,
            count_filter=_org_filter(org_id, extra),
            exact=True,
        )
        return int(result.count)

    async def scroll_chunks(
        self, org_id: str, offset: str | None = None, limit: int = 256
    ) -> tuple[list[ChunkRecord], str | None]:
        await self.ensure_collection()
        points, next_offset = await self._conn.run(
            self._conn.client.scroll,
            self.collection,
            scroll_filter=_org_filter(org_id, {}),
            limit=limit,
            offset=offset,
            with_payload=True,
            with_vectors=False,
        )
        records = [record_from_payload(point.id, point.payload) for point in points]
        # The filter already scoped the page; re-check as search does.
        records = [r for r in records if r.org_id == org_id]
        return records, None if next_offset is None else str(next_offset)


def record_from_payload(point_id: object, payload: dict[str, Any] | None) -> ChunkRecord:
    """A stored point back as a record (without its vector)."""
    payload = payload or {}
    return ChunkRecord(
        chunk_id=str(point_id),
        org_id=str(payload.get(ORG, "")),
        kb_id=str(payload.get(KB, "")),
        document_id=str(payload.get(DOC, "")),
        document_name=str(payload.get("document_name", "")),
        chunk_index=int(payload.get("chunk_index", 0)),
        text=str(payload.get("text", "")),
        heading_path=tuple(payload.get("heading_path") or ()),
        page=payload.get("page"),
        row=payload.get("row"),
        category=payload.get(CATEGORY),
        content_hash=str(payload.get(CONTENT_HASH, "")),
        vector=[],
    )


def require_org(org_id: str) -> None:
    if not isinstance(org_id, str) or not org_id.strip():
        raise InvalidScope("a non-empty organisation id is required")


def _org_filter(org_id: str, extra: dict[str, str]) -> Any:
    from qdrant_client import models

    require_org(org_id)
    return models.Filter(
        must=[
            models.FieldCondition(key=key, match=models.MatchValue(value=value))
            for key, value in {ORG: org_id, **extra}.items()
        ]
    )


def scored_from_payload(
    point_id: object, score: float, payload: dict[str, Any] | None
) -> ScoredChunk:
    payload = payload or {}
    return ScoredChunk(
        chunk_id=str(point_id),
        score=float(score),
        org_id=str(payload.get(ORG, "")),
        kb_id=str(payload.get(KB, "")),
        document_id=str(payload.get(DOC, "")),
        document_name=str(payload.get("document_name", "")),
        chunk_index=int(payload.get("chunk_index", 0)),
        text=str(payload.get("text", "")),
        heading_path=tuple(payload.get("heading_path") or ()),
        page=payload.get("page"),
        row=payload.get("row"),
        category=payload.get(CATEGORY),
    )
