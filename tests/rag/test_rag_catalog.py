from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.catalog import (
    DocumentCatalog,
    DocumentRecord,
    DocumentState,
    InMemoryCatalog,
    SqliteCatalog,
)


@pytest.fixture(params=["memory", "sqlite"])
def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentCatalog]:
    if request.param == "memory":
        yield InMemoryCatalog()
        return
    sqlite = SqliteCatalog(tmp_path / "catalog.sqlite")
    yield sqlite
    sqlite.close()


def doc(org: str, kb: str, doc_id: str, digest: str, *, size: int, at: float) -> DocumentRecord:
    return DocumentRecord(
        org_id=org,
        kb_id=kb,
        document_id=doc_id,
        filename=f"{doc_id}.pdf",
        content_hash=digest,
        size_bytes=size,
        kind="pdf",
        category=None,
        state=DocumentState.INDEXING,
        job_id=f"job-{doc_id}",
        created_at=at,
    )


async def test_catalog_contract(catalog: DocumentCatalog) -> None:
    await catalog.add(doc("o", "kb", "d1", "h1", size=100, at=1.0))
    await catalog.add(doc("o", "kb", "d2", "h2", size=50, at=2.0))
    await catalog.add(doc("o", "kb2", "d3", "h1", size=10, at=3.0))
    await catalog.add(doc("x", "kb", "d4", "h1", size=999, at=4.0))
    found = await catalog.find_by_hash("o", "kb", "h1")
    assert found is not None and found.document_id == "d1"
    assert await catalog.find_by_hash("o", "kb", "nope") is None
    assert await catalog.bytes_used("o") == 160
    await catalog.mark_indexed("o", "d1", chunks=7, units=3)
    got = await catalog.get("o", "d1")
    assert got is not None and (got.state, got.chunks, got.units) == (DocumentState.INDEXED, 7, 3)
    assert await catalog.get("x", "d1") is None  # never across organisations
    assert [d.document_id for d in await catalog.list_documents("o", "kb")] == ["d1", "d2"]
    # Every organisation's documents still indexing, oldest first (what a restart resumes).
    assert [d.document_id for d in await catalog.list_unfinished()] == ["d2", "d3", "d4"]
    removed = await catalog.remove_knowledge_base("o", "kb")
    assert sorted(d.document_id for d in removed) == ["d1", "d2"]
    assert await catalog.bytes_used("o") == 10
    assert await catalog.remove("o", "d3") is not None
    assert await catalog.remove("o", "d3") is None
    assert await catalog.bytes_used("x") == 999


async def test_sqlite_catalog_persists(tmp_path: Path) -> None:
    first = SqliteCatalog(tmp_path / "c.sqlite")
    await first.add(doc("o", "kb", "d1", "h1", size=100, at=1.0))
    first.close()
    second = SqliteCatalog(tmp_path / "c.sqlite")
    try:
        assert await second.find_by_hash("o", "kb", "h1") is not None
    finally:
        second.close()
