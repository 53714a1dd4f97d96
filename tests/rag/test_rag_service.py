from __future__ import annotations

import asyncio
import json

import pytest

from rag.edge_process import ProcessEdgeStore
from rag.edge_store import EdgeStore
from rag.errors import (
    ArchiveBomb,
    EmbeddingError,
    InvalidScope,
    NotFound,
    QueueFull,
    QuotaExceeded,
    TooLarge,
    UnsupportedType,
)
from rag.jobs import IngestJob, JobBoard, JobStatus
from rag.limits import IngestLimits
from rag.service import KnowledgeService
from rag.store import QdrantConnection, QdrantStore
from rag.tool import TOOL_NAME, format_context, run_search_tool, search_tool_spec
from tests.rag.conftest import FakeEmbedder, StoreFactory
from tests.rag.ragdocs import make_csv, make_docx, make_json, make_pdf, make_zip_bomb

ORG, OTHER, KB = "org-a", "org-b", "kb-main"


async def ingest_and_wait(
    service: KnowledgeService,
    filename: str,
    data: bytes,
    *,
    org: str = ORG,
    kb: str = KB,
    category: str | None = None,
) -> IngestJob:
    job = await service.ingest(org, kb, filename, data, category)
    async with asyncio.timeout(30):
        return await service.wait_for_job(org, job.job_id)


def handbook_pdf() -> bytes:
    return make_pdf(
        [
            ["Opening hours", "The restaurant opens at nine every morning."],
            ["Warranty", "Every blender carries a warranty of two years."],
        ]
    )


async def test_every_document_type_is_indexed_and_searchable(service: KnowledgeService) -> None:
    docs = {
        "handbook.pdf": handbook_pdf(),
        "staff.docx": make_docx(
            "Staff", [("Holidays", ["Employees receive twenty five vacation days."])]
        ),
        "prices.csv": make_csv([["dish", "price"], ["tomato soup", "4.50"], ["green tea", "2"]]),
        "menu.json": make_json({"menu": {"desserts": [{"name": "cheesecake", "price": "6"}]}}),
        "notes.txt": b"Parking\n\nGuests park behind the bakery for free.",
    }
    for name, data in docs.items():
        job = await ingest_and_wait(service, name, data)
        assert job.status is JobStatus.INDEXED, (name, job.error)
        assert job.progress == 1.0
        assert job.chunks >= 1
    expectations = {
        "when does the restaurant open": ("handbook.pdf", 1, None),
        "blender warranty years": ("handbook.pdf", 2, None),
        "how many vacation days do employees receive": ("staff.docx", None, None),
        "price of tomato soup": ("prices.csv", None, 1),
        "cheesecake price": ("menu.json", None, None),
        "where do guests park": ("notes.txt", None, None),
    }
    for question, (document, page, row) in expectations.items():
        hits = await service.search(ORG, [KB], question, top_k=3)
        top = hits[0]
        assert (top.document_name, top.page, top.row) == (document, page, row), question
    prices = await service.search(ORG, [KB], "price of tomato soup", top_k=1)
    assert prices[0].text == "dish: tomato soup; price: 4.50"
    assert prices[0].source == "prices.csv row 1"


async def test_org_b_never_sees_org_a_documents(service: KnowledgeService) -> None:
    await ingest_and_wait(service, "secret.txt", b"The launch code is swordfish.", org=ORG)
    await ingest_and_wait(service, "other.txt", b"Our cafeteria serves soup.", org=OTHER)
    hits = await service.search(OTHER, [KB], "what is the launch code swordfish", top_k=10)
    assert hits and all(h.document_name == "other.txt" for h in hits)
    job = await service.ingest(ORG, KB, "more.txt", b"more text")
    with pytest.raises(NotFound):
        service.job_status(OTHER, job.job_id)
    docs = await service.list_documents(ORG, KB)
    with pytest.raises(NotFound):
        await service.delete_document(OTHER, docs[0].document_id)
    assert await service.store.count(ORG) >= 1


async def test_reupload_of_the_same_file_does_not_duplicate(service: KnowledgeService) -> None:
    first = await ingest_and_wait(service, "handbook.pdf", handbook_pdf())
    count = await service.store.count(ORG, kb_id=KB)
    again = await service.ingest(ORG, KB, "handbook-copy.pdf", handbook_pdf())
    assert again.document_id == first.document_id
    assert again.status is JobStatus.INDEXED
    assert await service.store.count(ORG, kb_id=KB) == count
    assert len(await service.list_documents(ORG, KB)) == 1
    # The same bytes in another knowledge base are a separate document.
    other_kb = await ingest_and_wait(service, "handbook.pdf", handbook_pdf(), kb="kb-2")
    assert other_kb.document_id != first.document_id


async def test_broken_pdf_fails_with_a_reason_and_the_next_job_runs(
    service: KnowledgeService,
) -> None:
    broken = await service.ingest(ORG, KB, "broken.pdf", b"%PDF-1.4\n1 0 obj << /Kids [")
    empty = await service.ingest(ORG, KB, "empty.txt", b"   \n\n  ")
    good = await service.ingest(ORG, KB, "good.txt", b"Fresh bread is baked at dawn.")
    async with asyncio.timeout(30):
        results = [await service.wait_for_job(ORG, j.job_id) for j in (broken, empty, good)]
    assert results[0].status is JobStatus.FAILED
    assert results[0].error is not None and "broken PDF" in results[0].error
    assert results[1].status is JobStatus.FAILED
    assert results[1].error is not None and "no text" in results[1].error
    assert results[2].status is JobStatus.INDEXED
    # Failed documents leave neither vectors nor catalog entries (nor quota use).
    assert [d.filename for d in await service.list_documents(ORG, KB)] == ["good.txt"]
    assert await service.store.count(ORG, document_id=broken.document_id) == 0


async def test_embedding_failure_fails_the_job_and_cleans_up(
    service: KnowledgeService, fake_embedder: FakeEmbedder
) -> None:
    fake_embedder.fail_with = EmbeddingError("provider down", retryable=True)
    job = await ingest_and_wait(service, "a.txt", b"Some text to embed.")
    assert job.status is JobStatus.FAILED
    assert job.error == "provider down"
    fake_embedder.fail_with = None
    assert (await ingest_and_wait(service, "a.txt", b"Some text to embed.")).status is (
        JobStatus.INDEXED
    )


async def test_uploads_refused_up_front(service: KnowledgeService) -> None:
    with pytest.raises(ArchiveBomb):
        await service.ingest(ORG, KB, "bomb.docx", make_zip_bomb())
    with pytest.raises(UnsupportedType):
        await service.ingest(ORG, KB, "tool.exe", b"MZ\x90\x00")
    with pytest.raises(InvalidScope):
        await service.ingest("", KB, "a.txt", b"x")
    assert await service.list_documents(ORG, KB) == []


async def test_file_and_organisation_size_limits(
    make_store: StoreFactory, fake_embedder: FakeEmbedder
) -> None:
    limits = IngestLimits(max_file_bytes=100, max_org_bytes=150)
    service = KnowledgeService(
        make_store(fake_embedder.model_id, fake_embedder.dim),
        fake_embedder,
        limits=limits,
    )
    try:
        with pytest.raises(TooLarge, match="over the limit of 100"):
            await service.ingest(ORG, KB, "big.txt", b"x" * 101)
        await ingest_and_wait(service, "a.txt", b"a" * 90)
        with pytest.raises(QuotaExceeded):
            await service.ingest(ORG, KB, "b.txt", b"b" * 90)
        await ingest_and_wait(service, "b.txt", b"b" * 90, org=OTHER)  # quotas are per org
        docs = await service.list_documents(ORG, KB)
        await service.delete_document(ORG, docs[0].document_id)
        assert (await ingest_and_wait(service, "b.txt", b"b" * 90)).status is JobStatus.INDEXED
    finally:
        await service.aclose()


async def test_delete_document_and_knowledge_base_remove_vectors(
    service: KnowledgeService,
) -> None:
    one = await ingest_and_wait(service, "one.txt", b"Alpha paragraph about apples.")
    await ingest_and_wait(service, "two.txt", b"Beta paragraph about bananas.")
    await ingest_and_wait(service, "three.txt", b"Gamma about grapes.", kb="kb-2")
    await service.delete_document(ORG, one.document_id)
    assert await service.store.count(ORG, document_id=one.document_id) == 0
    hits = await service.search(ORG, [KB], "apples", top_k=5)
    assert all(h.document_name != "one.txt" for h in hits)
    assert await service.delete_knowledge_base(ORG, KB) == 1
    assert await service.store.count(ORG, kb_id=KB) == 0
    assert await service.store.count(ORG, kb_id="kb-2") == 1
    with pytest.raises(NotFound):
        await service.delete_document(ORG, one.document_id)


async def test_retrieve_for_turn_returns_empty_past_the_budget(
    service: KnowledgeService, fake_embedder: FakeEmbedder
) -> None:
    await ingest_and_wait(service, "hours.txt", b"We open at nine.")
    assert (await service.retrieve_for_turn(ORG, [KB], "when do you open", budget_ms=5000))[0]
    fake_embedder.delay_s = 1.0
    assert await service.retrieve_for_turn(ORG, [KB], "when do you open", budget_ms=20) == []
    fake_embedder.delay_s = 0.0
    fake_embedder.fail_with = EmbeddingError("down", retryable=True)
    assert await service.retrieve_for_turn(ORG, [KB], "when do you open") == []
    assert await service.retrieve_for_turn(ORG, [], "anything") == []
    assert (service.stats.served, service.stats.misses, service.stats.errors) == (1, 1, 1)


async def test_slow_store_sheds_turn_searches_instead_of_queueing(
    make_store: StoreFactory, fake_embedder: FakeEmbedder
) -> None:
    service = KnowledgeService(
        make_store(fake_embedder.model_id, fake_embedder.dim),
        fake_embedder,
        max_turn_searches_in_flight=2,
    )
    try:
        fake_embedder.delay_s = 0.5
        for _ in range(2):
            assert await service.retrieve_for_turn(ORG, [KB], "hours", budget_ms=10) == []
        assert fake_embedder.calls == 2
        # Two abandoned searches still run: the third turn is shed without starting one.
        assert await service.retrieve_for_turn(ORG, [KB], "hours", budget_ms=1000) == []
        assert fake_embedder.calls == 2
        assert (service.stats.misses, service.stats.shed) == (2, 1)
        fake_embedder.delay_s = 0.0
        assert len(service.pending_turn_searches) == 2
        async with asyncio.timeout(5):
            await asyncio.wait(service.pending_turn_searches)
        assert not service.pending_turn_searches
        await service.retrieve_for_turn(ORG, [KB], "hours", budget_ms=1000)
        assert service.stats.served == 1
    finally:
        await service.aclose()


async def test_search_tool_and_cited_context(service: KnowledgeService) -> None:
    await ingest_and_wait(service, "handbook.pdf", handbook_pdf())
    spec = search_tool_spec()
    assert spec["function"]["name"] == TOOL_NAME
    assert spec["function"]["parameters"]["required"] == ["query"]
    answer = json.loads(
        await run_search_tool(service, ORG, [KB], '{"query": "blender warranty", "top_k": 1}')
    )
    assert answer["results"][0]["source"] == "handbook.pdf p. 2"
    assert "two years" in answer["results"][0]["text"]
    assert "error" in json.loads(await run_search_tool(service, ORG, [KB], "{not json"))
    assert "error" in json.loads(await run_search_tool(service, ORG, [KB], {"query": ""}))
    # The model cannot widen its scope through arguments: org/kb come from the agent.
    leaked = await run_search_tool(service, OTHER, [KB], {"query": "blender", "org_id": ORG})
    assert json.loads(leaked) == {"results": []}
    hits = await service.search(ORG, [KB], "blender warranty", top_k=2)
    context = format_context(hits)
    assert context.splitlines()[1].startswith("[1] (handbook.pdf p. 2) Warranty Every blender")


async def test_queue_is_bounded(make_store: StoreFactory, fake_embedder: FakeEmbedder) -> None:
    fake_embedder.delay_s = 0.5
    service = KnowledgeService(
        make_store(fake_embedder.model_id, fake_embedder.dim),
        fake_embedder,
        jobs=JobBoard(workers=1, max_queued=1),
    )
    try:
        first = await service.ingest(ORG, KB, "1.txt", b"one")
        await asyncio.sleep(0.05)  # the worker takes job 1; the queue is empty again
        await service.ingest(ORG, KB, "2.txt", b"two")
        with pytest.raises(QueueFull):
            await service.ingest(ORG, KB, "3.txt", b"three")
        # A refused upload holds no quota and leaves no catalog entry.
        assert [d.filename for d in await service.list_documents(ORG, KB)] == ["1.txt", "2.txt"]
    finally:
        await service.aclose()
    assert service.job_status(ORG, first.job_id).status is JobStatus.FAILED


def test_store_and_embedder_must_agree(
    connection: QdrantConnection, fake_embedder: FakeEmbedder
) -> None:
    with pytest.raises(ValueError, match="embedder"):
        KnowledgeService(QdrantStore(connection, "other-model", 1024), fake_embedder)


async def test_model_change_uses_a_new_collection_and_reindexes(
    service: KnowledgeService, make_store: StoreFactory
) -> None:
    await ingest_and_wait(service, "handbook.pdf", handbook_pdf(), category="policies")
    await ingest_and_wait(service, "other.txt", b"Other org text.", org=OTHER)
    old_count = await service.store.count(ORG)
    new_embedder = FakeEmbedder(dim=512, model_id="fake-bow-v2")
    new_store = make_store(new_embedder.model_id, new_embedder.dim)
    assert isinstance(service.store, QdrantStore | EdgeStore | ProcessEdgeStore)
    assert isinstance(new_store, QdrantStore | EdgeStore | ProcessEdgeStore)
    assert new_store.collection != service.store.collection
    upgraded = KnowledgeService(new_store, new_embedder, catalog=service.catalog)
    try:
        assert await upgraded.search(ORG, [KB], "blender warranty") == []  # nothing mixed in
        assert await upgraded.reindex_from(ORG, service.store) == old_count
        hits = await upgraded.search(ORG, [KB], "blender warranty", top_k=1)
        assert hits[0].source == "handbook.pdf p. 2"
        assert hits[0].category == "policies"
        assert await new_store.count(OTHER) == 0  # re-indexing is per organisation
        assert await upgraded.reindex_from(ORG, new_store) == 0
    finally:
        await upgraded.jobs.aclose()


async def test_deleting_a_document_during_ingestion_stops_its_job(
    service: KnowledgeService, fake_embedder: FakeEmbedder
) -> None:
    fake_embedder.delay_s = 0.3
    rows = [["question", "answer"]] + [[f"q{i}", f"answer {i}"] for i in range(100)]
    job = await service.ingest(ORG, KB, "faq.csv", make_csv(rows))
    async with asyncio.timeout(10):
        await fake_embedder.called.wait()
    assert service.job_status(ORG, job.job_id).status is JobStatus.EMBEDDING
    await service.delete_document(ORG, job.document_id)
    async with asyncio.timeout(10):
        done = await service.wait_for_job(ORG, job.job_id)
    assert done.status is JobStatus.FAILED
    assert done.error is not None and "deleted during ingestion" in done.error
    assert await service.store.count(ORG, document_id=job.document_id) == 0


async def test_document_left_indexing_by_a_stopped_process_is_ingested_again(
    service: KnowledgeService,
) -> None:
    data = b"Half-finished upload about lighthouses."
    first = await service.ingest(ORG, KB, "l.txt", data)
    # Simulate a restart: the catalog remembers the document, the job board does not.
    await service.jobs.aclose()
    service.jobs = JobBoard()
    record = await service.catalog.get(ORG, first.document_id)
    assert record is not None
    assert record.state.value == "indexing"
    again = await service.ingest(ORG, KB, "l.txt", data)
    assert again.job_id != first.job_id
    async with asyncio.timeout(30):
        done = await service.wait_for_job(ORG, again.job_id)
    assert done.status is JobStatus.INDEXED
    assert done.duplicate_of is None
