"""ProcessEdgeStore: the shard in a child process (loop keeps turning, crashes, close)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable
from pathlib import Path

import numpy as np
import pytest

from rag.edge_process import ProcessEdgeStore
from rag.errors import InvalidScope, StoreError
from rag.store import Scope
from tests.rag.vectors import records, unit

pytest.importorskip("qdrant_edge")


def dead(pid: int) -> bool:
    """True once our child `pid` has fully exited (left waitable for its owner to reap)."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def gone(pid: int) -> bool:
    """True once `pid` is neither running nor a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1].startswith("X")
    except FileNotFoundError:
        return True


async def test_loop_keeps_turning_while_the_child_optimises(tmp_path: Path) -> None:
    store = ProcessEdgeStore(tmp_path, "m", 64, optimize_every=10**9, index_above_kb=1)
    try:
        batch = records("o", "kb", unit(6000, 64, seed=1))
        for start in range(0, len(batch), 1000):
            await store.upsert(batch[start : start + 1000])
        assert (await store.info())["indexed_vectors"] == 0

        ticks = 0
        stop = asyncio.Event()

        async def counter() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(counter())
        await asyncio.sleep(0)
        before = ticks
        await store.optimize()  # int8-encodes 6000 points, GIL held in the child only
        during = ticks - before
        stop.set()
        await task
        # The loop ran the counter while the optimise was in flight.
        assert during > 10
        assert (await store.info())["indexed_vectors"] == 6000
        hits = await store.search(Scope("o", ("kb",)), batch[7].vector, 1)
        assert hits[0].chunk_id == batch[7].chunk_id
    finally:
        await store.aclose()


async def test_a_child_killed_between_calls_is_restarted_and_keeps_its_points(
    tmp_path: Path,
) -> None:
    store = ProcessEdgeStore(tmp_path, "m", 8)
    try:
        a = records("a", "kb", unit(50, 8, seed=2))
        await store.upsert(a)
        await store.upsert(records("b", "kb", unit(30, 8, seed=3)))
        pid = store.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        for _ in range(1000):
            if dead(pid):
                break
            await asyncio.sleep(0.01)
        # Next call: a new child, the shard reloaded from disk, nothing lost.
        assert await store.count("a") == 50
        assert store.pid != pid and store.starts == 2
        assert gone(pid)  # the dead child was reaped, not left a zombie
        assert await store.count("b") == 30
        only_a = await store.search(Scope("a", ("kb",)), a[0].vector, 5)
        assert only_a[0].chunk_id == a[0].chunk_id
        assert {h.org_id for h in only_a} == {"a"}
    finally:
        await store.aclose()


async def test_a_child_dying_during_a_call_fails_it_clearly_then_recovers(
    tmp_path: Path,
) -> None:
    store = ProcessEdgeStore(tmp_path, "m", 8)
    try:
        await store.upsert(records("a", "kb", unit(20, 8, seed=4)))
        pid = store.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # the request will sit unanswered in the pipe
        sent = store.sent_calls
        call = asyncio.create_task(store.count("a"))
        for _ in range(1000):
            if store.sent_calls != sent:
                break
            await asyncio.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(StoreError, match="died during count"):
            await call
        assert gone(pid)
        assert await store.count("a") == 20  # restarted on the next call
    finally:
        await store.aclose()


async def test_close_stops_and_reaps_the_child_and_refuses_later_calls(tmp_path: Path) -> None:
    store = ProcessEdgeStore(tmp_path, "m", 4)
    assert store.pid is None  # started lazily
    await store.upsert(records("o", "kb", unit(5, 4, seed=5)))
    pid = store.pid
    assert pid is not None and not gone(pid)
    await store.aclose()
    assert store.pid is None
    assert gone(pid)
    await store.aclose()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        await store.count("o")
    reopened = ProcessEdgeStore(tmp_path, "m", 4)
    try:
        assert await reopened.count("o") == 5  # close flushed the shard
    finally:
        await reopened.aclose()


async def test_errors_come_back_typed_and_leave_the_child_serving(tmp_path: Path) -> None:
    store = ProcessEdgeStore(tmp_path, "m", 3)
    try:
        with pytest.raises(ValueError, match="vector of size 2"):
            await store.upsert(records("o", "kb", np.ones((1, 2), dtype=np.float32)))
        with pytest.raises(InvalidScope):
            await store.search(("o", "kb"), [1, 0, 0], 3)  # type: ignore[arg-type]
        with pytest.raises(InvalidScope):
            await store.count("")
        # Refused inside the child: a wrong vector size in a search.
        await store.upsert(records("o", "kb", np.eye(3, dtype=np.float32)))
        with pytest.raises(StoreError):
            await store.search(Scope("o", ("kb",)), [1, 0], 3)
        pid = store.pid
        assert await store.count("o") == 3
        assert store.pid == pid  # same child throughout
    finally:
        await store.aclose()


async def test_a_search_goes_ahead_of_queued_writes(tmp_path: Path) -> None:
    store = ProcessEdgeStore(tmp_path, "m", 64, optimize_every=10**9)
    try:
        base = records("o", "kb", unit(50, 64, seed=7))
        await store.upsert(base)
        done: list[str] = []

        async def track(name: str, call: Awaitable[object]) -> None:
            await call
            done.append(name)

        sent = store.sent_calls
        big = asyncio.create_task(
            track("big write", store.upsert(records("o", "kb", unit(20_000, 64, seed=8))))
        )
        for _ in range(1000):
            if store.sent_calls != sent:
                break  # the big write is in flight in the child
            await asyncio.sleep(0.005)
        search = store.search(Scope("o", ("kb",)), base[3].vector, 1)
        queued = [
            asyncio.create_task(track("write 1", store.upsert(records("o", "k1", unit(5, 64, 9))))),
            asyncio.create_task(track("write 2", store.upsert(records("o", "k2", unit(5, 64, 9))))),
            asyncio.create_task(track("search", search)),
        ]
        await asyncio.gather(big, *queued)
        # One call in flight at a time; the search waited for it, not for the queued writes.
        assert done == ["big write", "search", "write 1", "write 2"]
        assert await store.count("o") == 50 + 20_000 + 10
    finally:
        await store.aclose()
