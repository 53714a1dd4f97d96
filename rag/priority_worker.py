"""One worker thread that runs submitted calls by priority, then in submission order.

`ProcessEdgeStore` drives its child through one of these: one call in flight at a
time, as with a one-thread executor, but a search queued behind writes goes first,
so it waits for the call in flight only, never for queued writes.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

#: Priority of the stop marker: after everything submitted before `shutdown`.
_STOP = 1 << 30


class PriorityWorker:
    """Runs calls on one thread: lower `priority` first, FIFO within a priority."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.PriorityQueue[tuple[int, int, Callable[[], Any] | None, Future[Any]]]
        self._queue = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def submit(self, priority: int, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"{self._name} worker is shut down")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._queue.put((priority, next(self._order), lambda: fn(*args), future))
        return future

    def shutdown(self) -> None:
        """Run what was submitted, then stop the thread and wait for it. Idempotent."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            thread = self._thread
            self._queue.put((_STOP, next(self._order), None, Future()))
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            _, _, call, future = self._queue.get()
            if call is None:
                return
            if not future.set_running_or_notify_cancel():
                continue  # the caller gave up before it started
            try:
                result = call()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
