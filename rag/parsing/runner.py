"""Run parsers off the event loop with a deadline.

PDF and DOCX go to worker *processes*: a hostile PDF can keep pypdf busy for
minutes, and a thread cannot be stopped, so a stuck thread would hold a CPU and a
worker slot for good. A process is killed at the deadline and replaced on next use;
it also runs under an address-space cap, so a decompression blow-up dies alone.
Workers are fresh interpreters (`python -m rag.parsing.worker`), not forks: the
parent runs onnxruntime and asyncio threads, and forking a threaded process can
deadlock the child; unlike multiprocessing's spawn they never re-import `__main__`.

TXT, CSV and JSON are linear in their size, which is capped, so a thread serves them
(its deadline stops the wait, not the thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from multiprocessing.connection import Connection
from typing import IO

from rag.errors import ParseError, ParseTimeout
from rag.limits import IngestLimits
from rag.parsing.blocks import DocumentKind, ParsedDocument
from rag.parsing.detect import detect_kind
from rag.parsing.dispatch import parse_sync

GiB = 1024**3
STARTUP_TIMEOUT_S = 30.0
ISOLATED_KINDS = frozenset({DocumentKind.PDF, DocumentKind.DOCX})


class _Worker:
    """One parser process, started lazily, killed on timeout, restarted on next use."""

    def __init__(self, memory_limit: int) -> None:
        self._memory_limit = memory_limit
        self._process: subprocess.Popen[bytes] | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None

    def _ensure(self) -> tuple[Connection, Connection]:
        if self._process is not None and self._process.poll() is None:
            assert self._send is not None and self._recv is not None
            return self._send, self._recv
        self.kill()
        process = subprocess.Popen(
            [sys.executable, "-m", "rag.parsing.worker", str(self._memory_limit)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert process.stdin is not None and process.stdout is not None
        self._process = process
        # Connection objects own the fds from here on; detach the Popen file objects.
        self._send = Connection(_detach(process.stdin), readable=False)
        self._recv = Connection(_detach(process.stdout), writable=False)
        # The parse deadline must not include interpreter start-up: wait for "ready".
        if not self._recv.poll(STARTUP_TIMEOUT_S) or self._recv.recv() != "ready":
            self.kill()
            raise ParseError("(parser)", "parser process failed to start")
        return self._send, self._recv

    def run(
        self,
        kind: DocumentKind,
        filename: str,
        data: bytes,
        limits: IngestLimits,
        timeout: float,
    ) -> ParsedDocument:
        """Blocking: call from a thread."""
        try:
            send, recv = self._ensure()
            send.send((kind, filename, data, limits))
            ready = recv.poll(timeout)
        except (OSError, EOFError) as exc:
            self.kill()
            raise ParseError(filename, f"parser process unavailable ({exc})") from exc
        if not ready:
            self.kill()
            raise ParseTimeout(filename, timeout)
        try:
            status, payload = recv.recv()
        except (EOFError, OSError) as exc:
            self.kill()
            raise ParseError(filename, "parser process died (out of memory or crashed)") from exc
        if status == "ok":
            assert isinstance(payload, ParsedDocument)
            return payload
        assert isinstance(payload, BaseException)
        raise payload

    def kill(self) -> None:
        for conn in (self._send, self._recv):
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.close()
        self._send = self._recv = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
            self._process = None


def _detach(stream: IO[bytes]) -> int:
    fd = os.dup(stream.fileno())
    stream.close()
    return fd


class DocumentParser:
    """Parses uploads off the event loop; at most `processes` PDF/DOCX parses at once."""

    def __init__(
        self,
        limits: IngestLimits | None = None,
        *,
        processes: int = 1,
        memory_limit_bytes: int = 2 * GiB,
    ) -> None:
        self.limits = limits or IngestLimits()
        self._memory_limit = memory_limit_bytes
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._workers: list[_Worker] = []
        for _ in range(max(processes, 1)):
            self._add_worker()

    def _add_worker(self) -> None:
        worker = _Worker(self._memory_limit)
        self._workers.append(worker)
        self._idle.put_nowait(worker)

    async def parse(
        self, filename: str, data: bytes, kind: DocumentKind | None = None
    ) -> ParsedDocument:
        kind = kind or detect_kind(filename, data)
        timeout = self.limits.parse_timeout_s
        if kind not in ISOLATED_KINDS:
            try:
                return await asyncio.wait_for(
                    asyncio.to_thread(parse_sync, kind, filename, data, self.limits), timeout
                )
            except TimeoutError:
                raise ParseTimeout(filename, timeout) from None
        worker = await self._idle.get()
        try:
            document = await asyncio.to_thread(
                worker.run, kind, filename, data, self.limits, timeout
            )
        except asyncio.CancelledError:
            # The thread may still be talking to this process: retire both.
            worker.kill()
            self._workers.remove(worker)
            self._add_worker()
            raise
        except BaseException:
            self._idle.put_nowait(worker)
            raise
        self._idle.put_nowait(worker)
        return document

    def close(self) -> None:
        for worker in self._workers:
            worker.kill()
