from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from rag.edge_process import ProcessEdgeStore
from rag.edge_store import EdgeStore
from rag.errors import InvalidScope
from rag.store import ChunkRecord, QdrantConnection, QdrantStore, Scope, collection_name
from tests.rag.conftest import StoreFactory


def record(org: str, kb: str, doc: str, vector: list[float], text: str = "t") -> ChunkRecord:
    return ChunkRecord(
        chunk_id=str(uuid.uuid4()),
        org_id=org,
        kb_id=kb,
        document_id=doc,
        document_name=f"{doc}.txt",
        chunk_index=0,
        text=text,
        heading_path=("Section",),
        page=None,
        row=3,
        category="faq",
        content_hash="h",
        vector=vector,
    )


async def test_org_b_never_sees_org_a_points_on_local_qdrant(make_store: StoreFactory) -> None:
    store = make_store("m", 3)
    # Same kb id and identical vectors in both organisations: only the org filter separates them.
    await store.upsert([record("org-a", "kb", "secret", [1, 0, 0], "A's secret")])
    await store.upsert([record("org-b", "kb", "public", [0.9, 0.1, 0], "B's text")])
    for _ in range(3):
        b_hits = await store.search(Scope("org-b", ("kb",)), [1, 0, 0], top_k=10)
        assert [h.text for h in b_hits] == ["B's text"]
    a_hits = await store.search(Scope("org-a", ("kb",)), [1, 0, 0], top_k=10)
    assert [h.text for h in a_hits] == ["A's secret"]
    assert a_hits[0].heading_path == ("Section",)
    assert a_hits[0].row == 3
    assert await store.search(Scope("org-c", ("kb",)), [1, 0, 0], top_k=10) == []


async def test_kb_and_category_filters(make_store: StoreFactory) -> None:
    store = make_store("m", 3)
    await store.upsert(
        [record("o", "kb1", "d1", [1, 0, 0], "one"), record("o", "kb2", "d2", [1, 0, 0], "two")]
    )
    assert [h.text for h in await store.search(Scope("o", ("kb2",)), [1, 0, 0], 5)] == ["two"]
    both = await store.search(Scope("o", ("kb1", "kb2")), [1, 0, 0], 5)
    assert sorted(h.text for h in both) == ["one", "two"]
    assert await store.search(Scope("o", ("kb1",)), [1, 0, 0], 5, category="other") == []
    assert len(await store.search(Scope("o", ("kb1",)), [1, 0, 0], 5, category="faq")) == 1


@pytest.mark.parametrize(
    ("org", "kbs"),
    [
        ("", ("kb",)),
        ("  ", ("kb",)),
        ("o", ()),
        ("o", ("",)),
        (None, ("kb",)),
        ("o", ["kb"]),
        # The scope key separator (and any control character) cannot hide in an id.
        ("o\x1fkb", ("x",)),
        ("o", ("kb\x1fx",)),
        ("o", ("kb\n",)),
    ],
)
def test_a_scope_cannot_be_built_without_org_and_kb(org: object, kbs: object) -> None:
    with pytest.raises(InvalidScope):
        Scope(org, kbs)  # type: ignore[arg-type]


async def test_search_without_a_scope_object_is_refused(make_store: StoreFactory) -> None:
    store = make_store("m", 3)
    with pytest.raises(InvalidScope):
        await store.search("org-a", [1, 0, 0], 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidScope):
        await store.upsert([record("", "kb", "d", [1, 0, 0])])
    with pytest.raises(InvalidScope):
        await store.count("")


async def test_delete_by_document_and_by_knowledge_base_removes_vectors(
    make_store: StoreFactory,
) -> None:
    store = make_store("m", 3)
    await store.upsert(
        [
            record("o", "kb1", "d1", [1, 0, 0]),
            record("o", "kb1", "d1", [0, 1, 0]),
            record("o", "kb1", "d2", [0, 0, 1]),
            record("o", "kb2", "d3", [1, 1, 0]),
            record("other", "kb1", "d1", [1, 0, 0]),  # same ids in another org must survive
        ]
    )
    assert await store.count("o", document_id="d1") == 2
    await store.delete_document("o", "d1")
    assert await store.count("o", document_id="d1") == 0
    assert await store.count("o") == 2
    await store.delete_knowledge_base("o", "kb1")
    assert await store.count("o", kb_id="kb1") == 0
    assert await store.count("o", kb_id="kb2") == 1
    assert await store.count("other") == 1


async def test_collection_per_embedding_model(make_store: StoreFactory) -> None:
    old = make_store("all-MiniLM-L6-v2-onnx-int8", 3)
    new = make_store("openai:text-embedding-3-small", 3)
    assert isinstance(old, QdrantStore | EdgeStore | ProcessEdgeStore) and isinstance(
        new, QdrantStore | EdgeStore | ProcessEdgeStore
    )
    assert old.collection == "cap_chunks__all-minilm-l6-v2-onnx-int8__3"
    assert new.collection != old.collection
    assert collection_name("cap_chunks", "m", 3) != collection_name("cap_chunks", "m", 4)
    await old.upsert([record("o", "kb", "d", [1, 0, 0])])
    assert await new.count("o") == 0  # the new model starts empty: re-index, never mix
    assert await old.count("o") == 1
    with pytest.raises(ValueError, match="vector of size 2"):
        await old.upsert([record("o", "kb", "d", [1, 0])])


async def test_edge_points_persist_on_disk(tmp_path: Path) -> None:
    pytest.importorskip("qdrant_edge")
    store = EdgeStore(tmp_path, "m", 3)
    await store.upsert([record("o", "kb", "d", [1, 0, 0])])
    await store.aclose()
    reopened = EdgeStore(tmp_path, "m", 3)
    try:
        assert await reopened.count("o") == 1
        hits = await reopened.search(Scope("o", ("kb",)), [1, 0, 0], 1)
        assert hits[0].document_id == "d"
    finally:
        await reopened.aclose()


async def test_scroll_pages_through_one_organisation(make_store: StoreFactory) -> None:
    store = make_store("m", 3)
    await store.upsert([record("o", "kb", f"d{i}", [1, 0, i]) for i in range(5)])
    await store.upsert([record("x", "kb", "dx", [1, 0, 0])])
    seen: list[str] = []
    offset: str | None = None
    while True:
        page, offset = await store.scroll_chunks("o", offset, limit=2)
        seen.extend(r.document_id for r in page)
        if offset is None:
            break
    assert sorted(seen) == [f"d{i}" for i in range(5)]


async def test_points_persist_on_disk(tmp_path: Path) -> None:
    conn = QdrantConnection.open(path=str(tmp_path / "q"))
    await QdrantStore(conn, "m", 3).upsert([record("o", "kb", "d", [1, 0, 0])])
    await conn.close()
    reopened = QdrantConnection.open(path=str(tmp_path / "q"))
    try:
        assert await QdrantStore(reopened, "m", 3).count("o") == 1
    finally:
        await reopened.close()


def test_connection_needs_exactly_one_target() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        QdrantConnection.open()
    with pytest.raises(ValueError, match="exactly one"):
        QdrantConnection.open(path="/tmp/x", url="http://127.0.0.1:6333")
