"""A restart resumes ingestion jobs the previous process left unfinished."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rag.catalog import DocumentState, SqliteCatalog
from rag.edge_store import EdgeStore
from rag.jobs import JobBoard, JobStatus
from rag.parsing.runner import DocumentParser
from rag.service import KnowledgeService
from rag.spool import UploadSpool
from rag.store import Scope
from tests.rag.conftest import FakeEmbedder

pytest.importorskip("qdrant_edge")

TEXT = b"Deliveries leave the bakery at six. Refunds take three days."


def open_service(root: Path, embedder: FakeEmbedder, *, spool: bool = True) -> KnowledgeService:
    store = EdgeStore(root / "edge", embedder.model_id, embedder.dim)
    catalog = SqliteCatalog(root / "catalog.sqlite")

    async def close_catalog() -> None:
        catalog.close()

    return KnowledgeService(
        store,
        embedder,
        catalog=catalog,
        parser=DocumentParser(),
        jobs=JobBoard(workers=1),
        spool=UploadSpool(root / "uploads") if spool else None,
        on_close=[store.aclose, close_catalog],
    )


async def stop_mid_job(root: Path, *, spool: bool) -> str:
    """Start two jobs, shut down while the first is embedding; returns its document id."""
    slow = FakeEmbedder()
    slow.delay_s = 60.0
    first = open_service(root, slow, spool=spool)
    job = await first.ingest("org", "kb", "a.txt", TEXT)
    await first.ingest("org", "kb", "b.txt", b"Queued behind the first one.")
    async with asyncio.timeout(10):
        await slow.called.wait()
    await first.aclose()
    return job.document_id


async def test_jobs_cut_short_by_a_restart_are_resumed(tmp_path: Path) -> None:
    document_id = await stop_mid_job(tmp_path, spool=True)
    assert len(list((tmp_path / "uploads").iterdir())) == 2  # both uploads kept
    fast = FakeEmbedder()
    second = open_service(tmp_path, fast)
    try:
        resumed = await second.resume()
        assert sorted(j.filename for j in resumed) == ["a.txt", "b.txt"]
        async with asyncio.timeout(30):
            done = [await second.wait_for_job("org", j.job_id) for j in resumed]
        assert [j.status for j in done] == [JobStatus.INDEXED, JobStatus.INDEXED]
        docs = await second.list_documents("org", "kb")
        assert {d.state for d in docs} == {DocumentState.INDEXED}
        hits = await second.store.search(Scope("org", ("kb",)), fast.vector("refunds"), 5)
        assert document_id in {h.document_id for h in hits}
        assert list((tmp_path / "uploads").iterdir()) == []  # spool emptied
        assert await second.resume() == []  # nothing left to resume
    finally:
        await second.aclose()


async def test_without_the_upload_an_unfinished_document_is_forgotten(tmp_path: Path) -> None:
    document_id = await stop_mid_job(tmp_path, spool=False)
    second = open_service(tmp_path, FakeEmbedder())
    try:
        assert await second.resume() == []
        assert await second.catalog.get("org", document_id) is None
        assert await second.store.count("org", document_id=document_id) == 0
        # Nothing blocks uploading it again.
        job = await second.ingest("org", "kb", "a.txt", TEXT)
        async with asyncio.timeout(30):
            assert (await second.wait_for_job("org", job.job_id)).status is JobStatus.INDEXED
    finally:
        await second.aclose()


def test_the_spool_takes_only_document_ids(tmp_path: Path) -> None:
    spool = UploadSpool(tmp_path)
    with pytest.raises(ValueError):
        spool.put("../../etc/passwd", b"x")
    assert spool.get("0b7f6a56-5f55-5b5c-9b0a-000000000001") is None
