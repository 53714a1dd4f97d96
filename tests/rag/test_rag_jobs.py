"""JobBoard: a hung job is failed after its time limit and the queue moves on."""

from __future__ import annotations

import asyncio

from rag.jobs import IngestJob, JobBoard, JobHandle, JobStatus


def job(job_id: str) -> IngestJob:
    return IngestJob(
        job_id=job_id,
        org_id="o",
        kb_id="kb",
        document_id=f"doc-{job_id}",
        filename=f"{job_id}.txt",
        status=JobStatus.QUEUED,
    )


async def test_a_hung_job_times_out_and_the_next_one_runs() -> None:
    board = JobBoard(workers=1, job_timeout_s=0.05)
    cleaned_up = asyncio.Event()

    async def hang(handle: JobHandle) -> None:
        handle.advance(JobStatus.PARSING, 0.1)
        try:
            await asyncio.Event().wait()  # a document that never finishes
        finally:
            cleaned_up.set()

    async def fine(handle: JobHandle) -> None:
        handle.advance(JobStatus.PARSING, 0.5)
        handle.advance(JobStatus.EMBEDDING, 0.8)

    board.submit(job("hung"), hang)
    board.submit(job("next"), fine)
    async with asyncio.timeout(10):
        hung = await board.wait("o", "hung")
        after = await board.wait("o", "next")
    assert hung.status is JobStatus.FAILED
    assert hung.error == "timed out after 0.05 s"
    assert cleaned_up.is_set()  # the work saw the cancellation (and could undo itself)
    assert after.status is JobStatus.INDEXED
    await board.aclose()


async def test_without_a_limit_a_slow_job_completes() -> None:
    board = JobBoard(workers=1, job_timeout_s=None)

    async def slow(handle: JobHandle) -> None:
        handle.advance(JobStatus.PARSING, 0.1)
        await asyncio.sleep(0.05)
        handle.advance(JobStatus.EMBEDDING, 0.5)

    board.submit(job("slow"), slow)
    async with asyncio.timeout(10):
        assert (await board.wait("o", "slow")).status is JobStatus.INDEXED
    await board.aclose()
