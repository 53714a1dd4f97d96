"""In-process ingestion jobs: a bounded queue, a fixed pool of worker tasks.

Status is an enum and every transition is checked. A job that raises is marked
failed with its reason and the worker takes the next one, and a job that runs
past `job_timeout_s` is cancelled and failed the same way, so one bad or hung
document never blocks the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from rag.errors import NotFound, QueueFull, RagError

log = logging.getLogger(__name__)


class JobStatus(StrEnum):
    QUEUED = "queued"
    PARSING = "parsing"
    EMBEDDING = "embedding"
    INDEXED = "indexed"
    FAILED = "failed"


_NEXT: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.PARSING, JobStatus.FAILED}),
    JobStatus.PARSING: frozenset({JobStatus.EMBEDDING, JobStatus.FAILED}),
    JobStatus.EMBEDDING: frozenset({JobStatus.INDEXED, JobStatus.FAILED}),
    JobStatus.INDEXED: frozenset(),
    JobStatus.FAILED: frozenset(),
}
TERMINAL = frozenset({JobStatus.INDEXED, JobStatus.FAILED})


@dataclass(frozen=True, slots=True)
class IngestJob:
    job_id: str
    org_id: str
    kb_id: str
    document_id: str
    filename: str
    status: JobStatus
    #: 0.0 to 1.0 over the whole job.
    progress: float = 0.0
    error: str | None = None
    chunks: int = 0
    #: Pages (PDF) or rows (CSV) parsed; 1 for other kinds.
    units: int = 0
    #: Set when the upload matched a document already in the knowledge base.
    duplicate_of: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def done(self) -> bool:
        return self.status in TERMINAL


def new_job_id() -> str:
    return uuid.uuid4().hex


class JobHandle:
    """What running work uses to report its progress."""

    def __init__(self, board: JobBoard, job_id: str) -> None:
        self._board = board
        self.job_id = job_id

    def advance(
        self,
        status: JobStatus,
        progress: float,
        *,
        chunks: int | None = None,
        units: int | None = None,
    ) -> None:
        self._board.update(self.job_id, status, progress, chunks=chunks, units=units)

    def report(self, progress: float) -> None:
        job = self._board.peek(self.job_id)
        self._board.update(self.job_id, job.status, progress)


Work = Callable[[JobHandle], Awaitable[None]]


class JobBoard:
    """Job states plus the worker pool that runs them."""

    def __init__(
        self,
        *,
        workers: int = 2,
        max_queued: int = 100,
        history: int = 10_000,
        job_timeout_s: float | None = 900.0,
    ) -> None:
        self._workers = max(workers, 1)
        #: Longest a job may run (parse, embed, store) before it is cancelled and failed.
        self._job_timeout_s = job_timeout_s
        self._max_queued = max_queued
        self._history = history
        self._jobs: OrderedDict[str, IngestJob] = OrderedDict()
        self._changed: dict[str, asyncio.Event] = {}
        self._queue: asyncio.Queue[tuple[str, Work]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- reading ---------------------------------------------------------
    def get(self, org_id: str, job_id: str) -> IngestJob:
        job = self._jobs.get(job_id)
        # Another organisation's job is reported exactly like a missing one.
        if job is None or job.org_id != org_id:
            raise NotFound("job", job_id)
        return job

    def peek(self, job_id: str) -> IngestJob:
        return self._jobs[job_id]

    async def wait(self, org_id: str, job_id: str) -> IngestJob:
        """Until the job is indexed or failed; bound it with `asyncio.timeout`."""
        while not (job := self.get(org_id, job_id)).done:
            event = self._changed.setdefault(job_id, asyncio.Event())
            await event.wait()
        return job

    # -- writing ---------------------------------------------------------
    def record(self, job: IngestJob) -> IngestJob:
        """Keep a job that needs no work (a duplicate upload)."""
        self._remember(job)
        return job

    def submit(self, job: IngestJob, work: Work) -> IngestJob:
        if self._closed:
            raise RuntimeError("job board is closed")
        if self._queue.qsize() >= self._max_queued:
            raise QueueFull(self._max_queued)
        self._start_workers()
        self._remember(job)
        self._queue.put_nowait((job.job_id, work))
        return job

    def update(
        self,
        job_id: str,
        status: JobStatus,
        progress: float,
        *,
        error: str | None = None,
        chunks: int | None = None,
        units: int | None = None,
    ) -> None:
        job = self._jobs[job_id]
        if status != job.status and status not in _NEXT[job.status]:
            raise RuntimeError(f"job {job_id}: illegal transition {job.status} -> {status}")
        self._jobs[job_id] = replace(
            job,
            status=status,
            progress=min(max(progress, job.progress if status == job.status else 0.0), 1.0),
            error=error if error is not None else job.error,
            chunks=chunks if chunks is not None else job.chunks,
            units=units if units is not None else job.units,
            updated_at=time.time(),
        )
        event = self._changed.pop(job_id, None)
        if event is not None:
            event.set()

    def _remember(self, job: IngestJob) -> None:
        self._jobs[job.job_id] = job
        while len(self._jobs) > self._history:
            oldest, old = next(iter(self._jobs.items()))
            if not old.done:
                break  # never forget a live job
            del self._jobs[oldest]

    # -- running ---------------------------------------------------------
    def _start_workers(self) -> None:
        while len(self._tasks) < self._workers:
            task = asyncio.get_running_loop().create_task(self._worker(), name="rag-ingest")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _worker(self) -> None:
        while True:
            job_id, work = await self._queue.get()
            try:
                async with asyncio.timeout(self._job_timeout_s):
                    await work(JobHandle(self, job_id))
                if not self._jobs[job_id].done:
                    self.update(job_id, JobStatus.INDEXED, 1.0)
            except TimeoutError:
                self._fail(job_id, f"timed out after {self._job_timeout_s:g} s")
            except asyncio.CancelledError:
                self._fail(job_id, "cancelled at shutdown")
                raise
            except RagError as exc:
                self._fail(job_id, str(exc))
            except Exception as exc:
                log.exception("ingest job %s crashed", job_id)
                self._fail(job_id, f"internal error: {exc!r}")
            finally:
                self._queue.task_done()

    def _fail(self, job_id: str, reason: str) -> None:
        if not self._jobs[job_id].done:
            self.update(job_id, JobStatus.FAILED, self._jobs[job_id].progress, error=reason)

    async def aclose(self, grace_s: float = 5.0) -> None:
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*tasks, return_exceptions=True), timeout=grace_s
                )
        # Jobs still queued will never run: say so instead of leaving them "queued".
        while not self._queue.empty():
            job_id, _ = self._queue.get_nowait()
            self._fail(job_id, "service shut down before processing")
