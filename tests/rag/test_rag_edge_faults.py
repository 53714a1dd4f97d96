"""ProcessEdgeStore under faults: a child that hangs or exits mid-request (fault knob).

The knob (`arm_fault`) makes the real child process stop answering or exit on a
chosen request; nothing is mocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rag.catalog import InMemoryCatalog
from rag.edge_process import ProcessEdgeStore
from rag.errors import StoreError, StoreTimeout
from rag.jobs import JobBoard, JobStatus
from rag.service import KnowledgeService
from rag.store import Scope
from tests.rag.conftest import FakeEmbedder
from tests.rag.test_rag_edge_process import gone
from tests.rag.vectors import records, unit

pytest.importorskip("qdrant_edge")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ProcessEdgeStore]:
    s = ProcessEdgeStore(tmp_path, "m", 8, read_timeout_s=2.0, write_timeout_s=3.0)
    yield s
    await s.aclose()


async def test_a_hung_search_times_out_the_child_is_killed_and_restarted(
    store: ProcessEdgeStore,
) -> None:
    a = records("a", "kb", unit(40, 8, seed=1))
    await store.upsert(a)
    pid = store.pid
    assert pid is not None
    await store.arm_fault("hang", "search")
    with pytest.raises(StoreTimeout, match=r"did not answer search within 2 s"):
        await store.search(Scope("a", ("kb",)), a[0].vector, 3)
    assert store.timeouts == 1
    assert gone(pid)  # killed and reaped, not left running
    # The next call gets a new child with the shard reloaded from disk.
    hits = await store.search(Scope("a", ("kb",)), a[0].vector, 3)
    assert hits[0].chunk_id == a[0].chunk_id
    assert store.starts == 2 and store.pid != pid
    assert await store.count("a") == 40


async def test_calls_queued_behind_a_hung_call_run_on_the_new_child(
    store: ProcessEdgeStore,
) -> None:
    await store.upsert(records("a", "kb", unit(10, 8, seed=2)))
    await store.arm_fault("hang", "count")
    hung = asyncio.create_task(store.count("a"))
    queued = [asyncio.create_task(store.count("a")) for _ in range(3)]
    with pytest.raises(StoreTimeout):
        await hung
    assert await asyncio.gather(*queued) == [10, 10, 10]
    assert store.starts == 2


async def test_a_child_exiting_mid_request_fails_that_call_and_keeps_the_data(
    store: ProcessEdgeStore,
) -> None:
    first = records("a", "kb", unit(20, 8, seed=3))
    await store.upsert(first)
    pid = store.pid
    assert pid is not None
    await store.arm_fault("exit", "upsert")
    with pytest.raises(StoreError, match=r"died during upsert \(exit code 70\)"):
        await store.upsert(records("a", "kb", unit(5, 8, seed=4)))
    assert store.crashes == 1 and store.timeouts == 0
    assert gone(pid)
    assert await store.count("a") == 20  # acknowledged writes survive the crash


async def test_the_fault_fires_on_the_nth_request_only_and_not_after_a_restart(
    store: ProcessEdgeStore,
) -> None:
    v = records("a", "kb", unit(5, 8, seed=5))
    await store.upsert(v)
    await store.arm_fault("exit", "count", nth=3)
    assert await store.count("a") == 5
    assert await store.count("a") == 5
    with pytest.raises(StoreError, match="died during count"):
        await store.count("a")
    for _ in range(5):
        assert await store.count("a") == 5
    assert store.crashes == 1


async def test_a_bad_fault_request_is_refused_and_the_child_serves_on(
    store: ProcessEdgeStore,
) -> None:
    await store.upsert(records("a", "kb", unit(3, 8, seed=6)))
    with pytest.raises(ValueError, match=r"hang\|exit"):
        await store.arm_fault("explode", "search")
    with pytest.raises(ValueError, match="nth"):
        await store.arm_fault("hang", "search", nth=0)
    assert await store.count("a") == 3
    assert store.starts == 1


async def test_a_child_that_cannot_open_its_shard_fails_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the shard directory should be")
    store = ProcessEdgeStore(blocker, "m", 8)
    try:
        with pytest.raises(StoreError, match="cannot open its shard"):
            await store.count("a")
        assert store.pid is None  # the failed child was reaped
    finally:
        await store.aclose()


@pytest.mark.parametrize("action", ["hang", "exit"])
async def test_an_ingestion_job_survives_a_store_child_that_hangs_or_exits(
    tmp_path: Path, action: str
) -> None:
    embedder = FakeEmbedder(dim=64)
    store = ProcessEdgeStore(tmp_path, embedder.model_id, 64, write_timeout_s=2.0)
    service = KnowledgeService(
        store, embedder, catalog=InMemoryCatalog(), jobs=JobBoard(workers=1, max_queued=4)
    )
    service.store_retry_delay_s = 0.05
    try:
        await store.ensure_collection()
        await store.arm_fault(action, "upsert", nth=2)
        lines = "\n\n".join(f"Section {i}: the oven {i} bakes rye bread." for i in range(1500))
        text = f"{lines}\n\nThe kitchen closes at nine on Sundays."
        job = await service.ingest("org", "kb", "manual.txt", text.encode())
        async with asyncio.timeout(60):
            done = await service.wait_for_job("org", job.job_id)
        assert done.status is JobStatus.INDEXED, done.error
        assert done.chunks > 32  # more than one batch, so the fault hit mid-job
        assert service.store_retry_count == 1
        assert (store.timeouts, store.crashes) == ((1, 0) if action == "hang" else (0, 1))
        assert await store.count("org", "kb") == done.chunks  # nothing lost, nothing doubled
        hits = await service.search("org", ["kb"], "kitchen closes nine Sundays", top_k=5)
        assert any("nine on Sundays" in h.text for h in hits)  # the last batch too
    finally:
        await service.aclose()
        await store.aclose()
