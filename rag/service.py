"""The knowledge facade: what the HTTP layer, the CLI and conversation turns call.

Every method takes the organisation id first; nothing here can read or change
another organisation's documents, jobs or vectors.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from rag.catalog import DocumentCatalog, DocumentRecord, DocumentState, InMemoryCatalog
from rag.chunking import Chunk, ChunkingConfig, chunk_blocks
from rag.embeddings.base import Embedder
from rag.errors import (
    DocumentDeleted,
    EmptyDocument,
    InputRejected,
    InvalidScope,
    NotFound,
    QueueFull,
    QuotaExceeded,
    StoreError,
    TooLarge,
)
from rag.hits import Hit, RetrievalStats
from rag.jobs import IngestJob, JobBoard, JobHandle, JobStatus, new_job_id
from rag.limits import IngestLimits
from rag.parsing.blocks import DocumentKind
from rag.parsing.detect import detect_kind
from rag.parsing.runner import DocumentParser
from rag.parsing.zipguard import check_zip
from rag.spool import UploadSpool
from rag.store import ChunkRecord, Scope, VectorStore

log = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("5b0c3a52-5f0e-4a4b-9d0e-3c6f1d2a9e71")
#: Chunks embedded and written per step; also the granularity of job progress.
EMBED_BATCH = 32


class KnowledgeService:
    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        *,
        catalog: DocumentCatalog | None = None,
        parser: DocumentParser | None = None,
        jobs: JobBoard | None = None,
        limits: IngestLimits | None = None,
        chunking: ChunkingConfig | None = None,
        on_close: Sequence[Callable[[], Awaitable[None]]] = (),
        max_turn_searches_in_flight: int = 4,
        spool: UploadSpool | None = None,
    ) -> None:
        if (store.model_id, store.dim) != (embedder.model_id, embedder.dim):
            raise ValueError(
                f"store is for {store.model_id}/{store.dim} but the embedder is "
                f"{embedder.model_id}/{embedder.dim}"
            )
        self.store = store
        self.embedder = embedder
        self.limits = limits or (parser.limits if parser else IngestLimits())
        self.catalog: DocumentCatalog = catalog or InMemoryCatalog()
        self.parser = parser or DocumentParser(self.limits)
        self.jobs = jobs or JobBoard()
        self.chunking = chunking or ChunkingConfig()
        #: Where uploads wait for their job; without one a restart cannot resume jobs.
        self.spool = spool
        self._closing = False
        self.stats = RetrievalStats()
        self._on_close = list(on_close)
        self._max_turn_inflight = max_turn_searches_in_flight
        self._turn_tasks: set[asyncio.Task[list[Hit]]] = set()
        #: Ingestion retries a failed vector write this many times (`_write`).
        self.store_retries = 2
        self.store_retry_delay_s = 0.5
        #: Writes retried so far (a health figure).
        self.store_retry_count = 0
        # Serialises the quota/dedup check-and-reserve per process.
        self._admission = asyncio.Lock()

    # -- ingestion -------------------------------------------------------
    async def ingest(
        self,
        org_id: str,
        kb_id: str,
        filename: str,
        data: bytes,
        category: str | None = None,
    ) -> IngestJob:
        """Accept a document and queue its processing; returns at once.

        Raises `InputRejected` subclasses (UnsupportedType, TooLarge, QuotaExceeded,
        ArchiveBomb, InvalidScope) for uploads refused up front, and `QueueFull`.
        Parsing problems surface later as a failed job with a reason.
        """
        Scope(org_id, (kb_id,))
        if len(data) > self.limits.max_file_bytes:
            raise TooLarge(f"file {filename!r}", len(data), self.limits.max_file_bytes)
        kind = detect_kind(filename, data)
        if kind is DocumentKind.DOCX:
            check_zip(filename, data, self.limits).close()  # a bomb is refused before queueing
        digest = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
        document_id = str(uuid.uuid5(_NAMESPACE, f"{org_id}\x00{kb_id}\x00{digest}"))
        now = time.time()
        async with self._admission:
            existing = await self.catalog.find_by_hash(org_id, kb_id, digest)
            if existing is not None and self._orphaned(existing):
                # Left "indexing" by a process that stopped mid-job: start it over.
                await self._forget(existing)
                existing = None
            if existing is not None:
                return self._duplicate(existing, filename, now)
            used = await self.catalog.bytes_used(org_id)
            if used + len(data) > self.limits.max_org_bytes:
                raise QuotaExceeded(org_id, used, len(data), self.limits.max_org_bytes)
            job = IngestJob(
                job_id=new_job_id(),
                org_id=org_id,
                kb_id=kb_id,
                document_id=document_id,
                filename=filename,
                status=JobStatus.QUEUED,
                created_at=now,
                updated_at=now,
            )
            record = DocumentRecord(
                org_id=org_id,
                kb_id=kb_id,
                document_id=document_id,
                filename=filename,
                content_hash=digest,
                size_bytes=len(data),
                kind=kind.value,
                category=category,
                state=DocumentState.INDEXING,
                job_id=job.job_id,
                created_at=now,
            )
            await self.catalog.add(record)
        try:
            if self.spool is not None:
                await asyncio.to_thread(self.spool.put, document_id, data)
            return self._submit(job, record, kind, data)
        except BaseException:
            await self.catalog.remove(org_id, document_id)
            if self.spool is not None:
                await asyncio.to_thread(self.spool.drop, document_id)
            raise

    def _submit(
        self, job: IngestJob, record: DocumentRecord, kind: DocumentKind, data: bytes
    ) -> IngestJob:
        async def work(handle: JobHandle) -> None:
            await self._process(handle, record, kind, data)

        return self.jobs.submit(job, work)

    async def resume(self) -> list[IngestJob]:
        """Queue again the documents a stopped process left `INDEXING`; call once at start.

        Their partial vectors go first. A document whose upload is not in the spool
        (or with no spool) cannot be resumed: it is forgotten, as a failed job is,
        so it neither sits "indexing" forever nor blocks a re-upload.
        """
        resumed: list[IngestJob] = []
        for left in await self.catalog.list_unfinished():
            if not self._orphaned(left):
                continue  # a job of this process
            data = None
            if self.spool is not None:
                data = await asyncio.to_thread(self.spool.get, left.document_id)
            if data is None:
                await self._forget(left)
                continue
            await self.store.delete_document(left.org_id, left.document_id)
            now = time.time()
            job = IngestJob(
                job_id=new_job_id(),
                org_id=left.org_id,
                kb_id=left.kb_id,
                document_id=left.document_id,
                filename=left.filename,
                status=JobStatus.QUEUED,
                created_at=now,
                updated_at=now,
            )
            record = replace(left, job_id=job.job_id)
            await self.catalog.add(record)
            try:
                kind = detect_kind(record.filename, data)
                resumed.append(self._submit(job, record, kind, data))
            except (InputRejected, QueueFull):
                await self._forget(record)
        return resumed

    def _orphaned(self, record: DocumentRecord) -> bool:
        if record.state is not DocumentState.INDEXING:
            return False
        try:
            self.jobs.get(record.org_id, record.job_id)
        except NotFound:
            return True
        return False

    def _duplicate(self, existing: DocumentRecord, filename: str, now: float) -> IngestJob:
        try:
            return self.jobs.get(existing.org_id, existing.job_id)
        except NotFound:
            pass
        return self.jobs.record(
            IngestJob(
                job_id=new_job_id(),
                org_id=existing.org_id,
                kb_id=existing.kb_id,
                document_id=existing.document_id,
                filename=filename,
                status=JobStatus.INDEXED,
                progress=1.0,
                chunks=existing.chunks,
                units=existing.units,
                duplicate_of=existing.document_id,
                created_at=now,
                updated_at=now,
            )
        )

    async def _process(
        self, handle: JobHandle, record: DocumentRecord, kind: DocumentKind, data: bytes
    ) -> None:
        try:
            handle.advance(JobStatus.PARSING, 0.05)
            parsed = await self.parser.parse(record.filename, data, kind)
            chunks = await asyncio.to_thread(
                chunk_blocks, parsed.blocks, self.embedder.count_tokens, self.chunking
            )
            if not chunks:
                raise EmptyDocument(record.filename)
            if len(chunks) > self.limits.max_chunks_per_document:
                raise TooLarge(
                    f"{record.filename!r} chunk count",
                    len(chunks),
                    self.limits.max_chunks_per_document,
                )
            handle.advance(JobStatus.EMBEDDING, 0.1, chunks=len(chunks), units=parsed.units)
            for start in range(0, len(chunks), EMBED_BATCH):
                batch = chunks[start : start + EMBED_BATCH]
                vectors = await self.embedder.embed([c.embedding_text() for c in batch])
                await self._write(
                    [self._record(record, c, v) for c, v in zip(batch, vectors, strict=True)]
                )
                handle.report(0.1 + 0.9 * (start + len(batch)) / len(chunks))
                # A delete during ingestion wins: stop writing vectors for a removed document.
                if await self.catalog.get(record.org_id, record.document_id) is None:
                    raise DocumentDeleted(record.document_id)
            await self.catalog.mark_indexed(
                record.org_id, record.document_id, len(chunks), parsed.units
            )
            await self._unspool(record)
        except asyncio.CancelledError:
            if self._closing and self.spool is not None:
                # Shutdown: the spooled upload and the catalog entry stay for `resume`.
                await asyncio.shield(self.store.delete_document(record.org_id, record.document_id))
            else:
                await self._forget(record)
            raise
        except BaseException:
            await self._forget(record)
            raise

    async def _write(self, records: list[ChunkRecord]) -> None:
        """Upsert one batch, again after a store failure (a restarted store process).

        Safe to repeat: chunk ids are fixed, so a retried batch overwrites itself.
        """
        for attempt in range(self.store_retries + 1):
            try:
                await self.store.upsert(records)
                return
            except StoreError as exc:
                if attempt == self.store_retries:
                    raise
                self.store_retry_count += 1
                log.warning("vector store write failed, retrying: %s", exc)
                await asyncio.sleep(self.store_retry_delay_s * (attempt + 1))

    async def _unspool(self, record: DocumentRecord) -> None:
        if self.spool is not None:
            await asyncio.to_thread(self.spool.drop, record.document_id)

    async def _forget(self, record: DocumentRecord) -> None:
        """Undo a failed ingestion: partial vectors, the catalog entry and the upload go."""
        try:
            await asyncio.shield(self.store.delete_document(record.org_id, record.document_id))
        finally:
            await asyncio.shield(self.catalog.remove(record.org_id, record.document_id))
            await asyncio.shield(self._unspool(record))

    @staticmethod
    def _record(doc: DocumentRecord, chunk: Chunk, vector: list[float]) -> ChunkRecord:
        return ChunkRecord(
            chunk_id=str(uuid.uuid5(uuid.UUID(doc.document_id), str(chunk.index))),
            org_id=doc.org_id,
            kb_id=doc.kb_id,
            document_id=doc.document_id,
            document_name=doc.filename,
            chunk_index=chunk.index,
            text=chunk.text,
            heading_path=chunk.heading_path,
            page=chunk.page,
            row=chunk.row,
            category=doc.category,
            content_hash=doc.content_hash,
            vector=vector,
        )

    def job_status(self, org_id: str, job_id: str) -> IngestJob:
        """Raises NotFound for unknown jobs and for other organisations' jobs."""
        return self.jobs.get(org_id, job_id)

    async def wait_for_job(self, org_id: str, job_id: str) -> IngestJob:
        """Until the job ends; bound it with `asyncio.timeout` (CLI progress, tests)."""
        return await self.jobs.wait(org_id, job_id)

    # -- documents -------------------------------------------------------
    async def list_documents(self, org_id: str, kb_id: str) -> list[DocumentRecord]:
        return await self.catalog.list_documents(org_id, kb_id)

    async def delete_document(self, org_id: str, document_id: str) -> None:
        record = await self.catalog.get(org_id, document_id)
        if record is None:
            raise NotFound("document", document_id)
        await self.store.delete_document(org_id, document_id)
        await self.catalog.remove(org_id, document_id)

    async def delete_knowledge_base(self, org_id: str, kb_id: str) -> int:
        """Removes every vector and catalog entry of the knowledge base; returns documents."""
        Scope(org_id, (kb_id,))
        await self.store.delete_knowledge_base(org_id, kb_id)
        return len(await self.catalog.remove_knowledge_base(org_id, kb_id))

    async def reindex_from(self, org_id: str, source: VectorStore) -> int:
        """Re-embed an organisation's chunks from another model's collection into ours.

        Used after the embedding model changes: the new collection starts empty, and
        the stored chunk texts (with their ids, sources and categories) are embedded
        again with the current model. Returns the number of chunks written.
        """
        if (source.model_id, source.dim) == (self.store.model_id, self.store.dim):
            return 0
        written = 0
        offset: str | None = None
        while True:
            page, offset = await source.scroll_chunks(org_id, offset, limit=EMBED_BATCH)
            if page:
                texts = [
                    Chunk(r.chunk_index, r.text, r.heading_path, r.page, r.row).embedding_text()
                    for r in page
                ]
                vectors = await self.embedder.embed(texts)
                await self.store.upsert(
                    [replace(r, vector=v) for r, v in zip(page, vectors, strict=True)]
                )
                written += len(page)
            if offset is None:
                return written

    # -- retrieval -------------------------------------------------------
    async def search(
        self,
        org_id: str,
        kb_ids: Sequence[str],
        query: str,
        top_k: int = 5,
        category: str | None = None,
    ) -> list[Hit]:
        scope = Scope(org_id, tuple(kb_ids))
        query = query.strip()
        if not query:
            raise InvalidScope("an empty query matches nothing")
        (vector,) = await self.embedder.embed([query[:4000]])
        chunks = await self.store.search(scope, vector, top_k, category)
        return [Hit.of(c) for c in chunks]

    async def retrieve_for_turn(
        self,
        org_id: str,
        kb_ids: Sequence[str],
        query: str,
        *,
        budget_ms: float = 50.0,
        top_k: int = 3,
        category: str | None = None,
    ) -> list[Hit]:
        """Search within a latency budget; never raises, never stalls the voice.

        Past the budget it returns [] and counts a miss; any error returns [] and
        counts an error. The caller's turn goes on without knowledge either way.
        An over-budget search is left to finish in the background (its thread
        cannot be interrupted anyway), and while `max_turn_searches_in_flight` of
        those are running new turns are shed at once instead of queueing behind
        them: a slow store degrades to "no knowledge", never to growing latency.
        """
        if not kb_ids or not query.strip():
            return []
        if len(self._turn_tasks) >= self._max_turn_inflight:
            self.stats.shed += 1
            return []
        task = asyncio.get_running_loop().create_task(
            self.search(org_id, kb_ids, query, top_k, category), name="rag-turn-search"
        )
        self._turn_tasks.add(task)
        task.add_done_callback(self._turn_search_done)
        done, _ = await asyncio.wait({task}, timeout=budget_ms / 1000)
        if not done:
            self.stats.misses += 1
            return []
        if task.exception() is not None:
            log.warning("retrieval failed for org %s: %r", org_id, task.exception())
            self.stats.errors += 1
            return []
        self.stats.served += 1
        return task.result()

    @property
    def pending_turn_searches(self) -> frozenset[asyncio.Task[list[Hit]]]:
        """Over-budget turn searches still running in the background."""
        return frozenset(self._turn_tasks)

    def _turn_search_done(self, task: asyncio.Task[list[Hit]]) -> None:
        self._turn_tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved here so an abandoned failure is not reported

    async def aclose(self) -> None:
        """Stop the job workers and the parser processes, then run `on_close` hooks.

        With a spool, jobs cut short or still queued stay `INDEXING` in the catalog
        for `resume` in the next process.
        """
        self._closing = True
        for task in list(self._turn_tasks):
            task.cancel()
        if self._turn_tasks:
            await asyncio.wait(set(self._turn_tasks), timeout=5)
        await self.jobs.aclose()
        self.parser.close()
        for hook in self._on_close:
            await hook()
