"""PriorityWorker: one thread, lower priority first, FIFO within a priority."""

from __future__ import annotations

import threading

import pytest

from rag.priority_worker import PriorityWorker


def test_queued_calls_run_by_priority_then_in_order_one_at_a_time() -> None:
    worker = PriorityWorker("t")
    gate, started = threading.Event(), threading.Event()
    ran: list[str] = []
    running = 0
    overlap = False
    lock = threading.Lock()

    def call(name: str) -> str:
        nonlocal running, overlap
        with lock:
            running += 1
            overlap = overlap or running > 1
        if name == "first":
            started.set()
            gate.wait(5)
        ran.append(name)
        with lock:
            running -= 1
        return name.upper()

    first = worker.submit(1, call, "first")
    assert started.wait(5)  # in flight: the rest queue behind it
    futures = [
        worker.submit(1, call, "write-a"),
        worker.submit(1, call, "write-b"),
        worker.submit(0, call, "search-a"),
        worker.submit(2, call, "close"),
        worker.submit(0, call, "search-b"),
    ]
    gate.set()
    assert first.result(5) == "FIRST"
    assert [f.result(5) for f in futures][2] == "SEARCH-A"
    worker.shutdown()
    assert ran == ["first", "search-a", "search-b", "write-a", "write-b", "close"]
    assert not overlap


def test_errors_reach_the_caller_and_the_worker_goes_on() -> None:
    worker = PriorityWorker("t")

    def boom() -> None:
        raise ValueError("bad call")

    failed = worker.submit(0, boom)
    ok = worker.submit(0, lambda: 42)
    with pytest.raises(ValueError, match="bad call"):
        failed.result(5)
    assert ok.result(5) == 42
    worker.shutdown()


def test_a_cancelled_call_is_skipped_and_shutdown_refuses_new_calls() -> None:
    worker = PriorityWorker("t")
    gate = threading.Event()
    ran: list[str] = []
    blocker = worker.submit(0, gate.wait, 5)
    skipped = worker.submit(0, ran.append, "skipped")
    assert skipped.cancel()
    after = worker.submit(0, ran.append, "after")
    gate.set()
    assert blocker.result(5) is True
    after.result(5)
    worker.shutdown()
    worker.shutdown()  # idempotent
    assert ran == ["after"]
    with pytest.raises(RuntimeError, match="shut down"):
        worker.submit(0, ran.append, "late")
