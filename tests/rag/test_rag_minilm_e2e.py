"""End to end with the real offline embedder: a question finds the chunk that answers it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rag.defaults import open_knowledge_service
from rag.jobs import JobStatus
from rag.service import KnowledgeService
from rag.tool import format_context
from tests.rag.ragdocs import make_csv, make_pdf


@pytest.fixture(params=["qdrant-local", "edge"])
async def minilm_service(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[KnowledgeService]:
    if request.param == "edge":
        pytest.importorskip("qdrant_edge")
    service = open_knowledge_service(tmp_path, embedded_backend=request.param)
    yield service
    await service.aclose()


@pytest.mark.slow
async def test_question_finds_the_answering_chunk_and_cites_it(
    minilm_service: KnowledgeService,
) -> None:
    service = minilm_service
    pdf = make_pdf(
        [
            ["Delivery", "Orders are delivered within three working days across the country."],
            ["Returns", "You can return any item within thirty days for a full refund."],
            ["Allergens", "All our breads are baked in a kitchen that also handles nuts."],
        ]
    )
    csv = make_csv([["plan", "monthly price"], ["Basic", "9 euros"], ["Premium", "29 euros"]])
    for name, data in (("policies.pdf", pdf), ("plans.csv", csv)):
        job = await service.ingest("acme", "support", name, data)
        async with asyncio.timeout(60):
            job = await service.wait_for_job("acme", job.job_id)
        assert job.status is JobStatus.INDEXED, job.error
    cases = {
        "How long do I have to send something back?": "policies.pdf p. 2",
        "Is the bread safe for someone with a nut allergy?": "policies.pdf p. 3",
        "How fast will my order arrive?": "policies.pdf p. 1",
        "How much does the premium plan cost per month?": "plans.csv row 2",
    }
    for question, source in cases.items():
        hits = await service.search("acme", ["support"], question, top_k=3)
        assert hits[0].source == source, question
    turn = await service.retrieve_for_turn(
        "acme", ["support"], "can I get a refund", budget_ms=2000
    )
    assert "[1] (policies.pdf p. 2)" in format_context(turn)
    assert await service.search("other-org", ["support"], "refund", top_k=3) == []


async def test_open_knowledge_service_wires_a_persistent_catalog(
    minilm_service: KnowledgeService, tmp_path: Path
) -> None:
    job = await minilm_service.ingest("acme", "kb", "a.txt", b"Persistent note.")
    async with asyncio.timeout(60):
        await minilm_service.wait_for_job("acme", job.job_id)
    assert (tmp_path / "catalog.sqlite").is_file()
    assert (tmp_path / "qdrant").is_dir() or (tmp_path / "edge").is_dir()
    assert [d.filename for d in await minilm_service.list_documents("acme", "kb")] == ["a.txt"]
