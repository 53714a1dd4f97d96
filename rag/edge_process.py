"""`EdgeStore` in a child process, so a shard optimisation never stops the server.

qdrant-edge-py (0.9) holds the GIL while it optimises a shard: in-process, the
whole server, event loop and live calls included, stops for up to seconds
(rag/edge_store.py). `ProcessEdgeStore` keeps the shard in a child process, a
fresh interpreter (`python -m rag.edge_child`, as the document parser's workers:
the server has threads and a loop, so it is never forked, and unlike
multiprocessing's spawn the child never re-imports the server's `__main__`), and
forwards the store calls over its stdin/stdout as pickled messages. The loop only
awaits a thread that does the round trip, so an optimise in the child costs the
server nothing.

One call at a time: the child owns one shard and its calls queue behind each
other, a search ahead of queued writes (rag/priority_worker.py), so a search waits
for the call in flight only. qdrant-edge-py holds the GIL in
every call (optimise, upsert and query alike), so a second thread in the child
could not search beside a write either. Measured (benchmarks/rag/process.py, 100k
points, 40k more written 32 per call by 2 writers, shared machine at load ~5):
searches took p50 9 ms, p95 23 ms, p99 45 ms, and 3.3 s at worst, behind the
automatic int8 optimise. The loop keeps turning meanwhile and retrieval's per-turn
budget (pipelines/knowledge.py) skips the late result.

Failures: every call has a deadline (reads 10 s, writes 60 s, `optimize` 30 min,
a start 10 min, by default). A child that stays silent past it is killed and the
call fails with `StoreTimeout`; one that dies during a call fails it with
`StoreError`. Either way the next call starts a new child, which reloads the shard
from disk (its write-ahead log holds every acknowledged write), and calls queued
meanwhile run on it. Writes are idempotent (chunk ids are fixed), so the
ingestion job retries a failed batch (rag/service.py). `aclose` stops the child
and reaps it. If the server process dies, the child sees its pipe close and exits.

Same contract as `EdgeStore`: searches take a `Scope`, and hits are re-checked
against it here as well as in the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any

from rag.embeddings.base import Vector
from rag.errors import InvalidScope, StoreError, StoreTimeout
from rag.priority_worker import PriorityWorker
from rag.store import ChunkRecord, Scope, ScoredChunk, collection_name, require_org

#: Worker priorities: searches, then every other call in order, then closing.
_SEARCH_FIRST, _IN_ORDER, _LAST = 0, 1, 2
#: Calls that only read the shard (the short timeout applies).
_READS = frozenset({"search", "count", "scroll_chunks", "info", "ensure_collection", "fault"})


def _detach(stream: IO[bytes]) -> int:
    fd = os.dup(stream.fileno())
    stream.close()
    return fd


class ProcessEdgeStore:
    """`VectorStore` on an `EdgeStore` that lives in a child process (see module doc).

    Takes `EdgeStore`'s arguments, and how long the child may take to answer: reads
    (`read_timeout_s`), writes (`write_timeout_s`: an upsert may optimise a bounded
    segment), `optimize` and a start (the shard replays its write-ahead log). The
    child starts on the first call.
    """

    def __init__(
        self,
        root: str | Path,
        model_id: str,
        dim: int,
        *,
        prefix: str = "cap_chunks",
        read_timeout_s: float = 10.0,
        write_timeout_s: float = 60.0,
        optimize_timeout_s: float = 1800.0,
        start_timeout_s: float = 600.0,
        **options: Any,
    ) -> None:
        self._timeouts = {
            "read": read_timeout_s,
            "write": write_timeout_s,
            "optimize": optimize_timeout_s,
            "start": start_timeout_s,
        }
        self._root = str(root)
        self._model_id = model_id
        self._dim = dim
        self._options: dict[str, Any] = {"prefix": prefix, **options}
        self.collection = collection_name(prefix, model_id, dim)
        # One thread does every round trip: calls queue here, one in flight per pipe;
        # a search goes ahead of queued writes (it waits for the call in flight only).
        self._worker = PriorityWorker("edge-proc")
        self._proc: subprocess.Popen[bytes] | None = None
        self._send: Connection | None = None
        self._recv: Connection | None = None
        self._closed = False
        self._guard = threading.Lock()
        #: Requests written to the child so far (tests wait on it; a health figure).
        self.sent_calls = 0
        #: Children started so far (1 after the first call; more after crashes).
        self.starts = 0
        #: Children that died during a call, and that stopped answering (killed).
        self.crashes = 0
        self.timeouts = 0

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def pid(self) -> int | None:
        """The child's process id, or None while none runs."""
        proc = self._proc
        return None if proc is None else proc.pid

    # -- the round trip (runs in the executor thread) -------------------------------

    def _ensure_child(self) -> tuple[Connection, Connection]:
        proc, send, recv = self._proc, self._send, self._recv
        if proc is not None and send is not None and recv is not None and proc.poll() is None:
            return send, recv
        self._reap()
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag.edge_child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        self._proc = proc
        # Connection objects own the fds from here on; detach the Popen file objects.
        send = self._send = Connection(_detach(proc.stdin), readable=False)
        recv = self._recv = Connection(_detach(proc.stdout), writable=False)
        self.starts += 1
        with contextlib.suppress(OSError):  # a child that died at once: see the reply
            send.send((self._root, self._model_id, self._dim, self._options))
        status, value = self._reply(recv, "start", self._timeouts["start"])
        if status != "ready":
            self._reap(kill=True)
            raise value if isinstance(value, StoreError) else StoreError("edge store did not start")
        return send, recv

    def _reply(self, recv: Connection, op: str, timeout_s: float) -> tuple[str, Any]:
        """The child's answer to `op`; a child that dies or stays silent is stopped and reaped."""
        try:
            if recv.poll(timeout_s):
                reply: tuple[str, Any] = recv.recv()
                return reply
        except (EOFError, OSError) as exc:
            code = self._reap()
            self.crashes += 1
            raise StoreError(
                f"edge store process died during {op} (exit code {code}); "
                "it restarts from its data on disk on the next call"
            ) from exc
        self._reap(kill=True)
        self.timeouts += 1
        raise StoreTimeout(
            f"edge store process did not answer {op} within {timeout_s:g} s and was stopped; "
            "it restarts from its data on disk on the next call"
        )

    def _reap(self, *, kill: bool = False) -> int | None:
        """Forget the current child: close its pipes, stop it if need be, collect its status.

        `kill`: do not wait for it to exit on its own (it is hung). Returns its exit code.
        """
        for conn in (self._send, self._recv):
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.close()
        self._send = self._recv = None
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if kill:
            proc.kill()
        try:
            return proc.wait(timeout=5)  # it exits on its own once its stdin closes
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def _call_sync(self, op: str, args: tuple[Any, ...]) -> Any:
        with self._guard:
            if self._closed:
                raise StoreError("edge store is closed")
            send, recv = self._ensure_child()
            with contextlib.suppress(OSError):  # a child gone: the reply below reports it
                send.send((op, args))
            self.sent_calls += 1
            status, value = self._reply(recv, op, self._timeout_of(op))
        if status == "err":
            if isinstance(value, BaseException):
                raise value
            raise StoreError(f"edge store call {op} failed")
        return value

    def _timeout_of(self, op: str) -> float:
        if op == "optimize":
            return self._timeouts["optimize"]
        if op in _READS:
            return self._timeouts["read"]
        return self._timeouts["write"]

    async def _call(self, op: str, *args: Any) -> Any:
        if self._closed:
            raise StoreError("edge store is closed")
        priority = _SEARCH_FIRST if op == "search" else _IN_ORDER
        try:
            future = self._worker.submit(priority, self._call_sync, op, args)
        except RuntimeError:
            raise StoreError("edge store is closed") from None
        return await asyncio.wrap_future(future)

    async def arm_fault(self, action: str, op: str, nth: int = 1) -> None:
        """Fault knob (tests, drills): make the child `"hang"` or `"exit"` on its `nth`
        `op` request from now on. One-shot; a restarted child is clean."""
        await self._call("fault", action, op, nth)

    # -- the store interface ----------------------------------------------------------

    async def ensure_collection(self) -> None:
        await self._call("ensure_collection")

    async def upsert(self, records: Sequence[ChunkRecord]) -> None:
        if not records:
            return
        for record in records:
            if len(record.vector) != self._dim:
                raise ValueError(f"vector of size {len(record.vector)} in a {self._dim}-d store")
            Scope(record.org_id, (record.kb_id,))
        await self._call("upsert", list(records))

    async def search(
        self, scope: Scope, vector: Vector, top_k: int, category: str | None = None
    ) -> list[ScoredChunk]:
        if not isinstance(scope, Scope):
            raise InvalidScope("search needs a Scope(org_id, kb_ids)")
        hits: list[ScoredChunk] = await self._call(
            "search", scope, [float(x) for x in vector], int(top_k), category
        )
        return [h for h in hits if h.org_id == scope.org_id and h.kb_id in scope.kb_ids]

    async def delete_document(self, org_id: str, document_id: str) -> None:
        require_org(org_id)
        await self._call("delete_document", org_id, document_id)

    async def delete_knowledge_base(self, org_id: str, kb_id: str) -> None:
        require_org(org_id)
        await self._call("delete_knowledge_base", org_id, kb_id)

    async def count(
        self, org_id: str, kb_id: str | None = None, document_id: str | None = None
    ) -> int:
        require_org(org_id)
        return int(await self._call("count", org_id, kb_id, document_id))

    async def scroll_chunks(
        self, org_id: str, offset: str | None = None, limit: int = 256
    ) -> tuple[list[ChunkRecord], str | None]:
        require_org(org_id)
        records, next_offset = await self._call("scroll_chunks", org_id, offset, limit)
        return [r for r in records if r.org_id == org_id], next_offset

    async def optimize(self) -> None:
        """Optimise the shard in the child (the server keeps running meanwhile)."""
        await self._call("optimize")

    async def info(self) -> dict[str, int]:
        result: dict[str, int] = await self._call("info")
        return result

    async def aclose(self) -> None:
        """Flush and close the shard, stop the child and reap it. Idempotent."""
        if self._closed:
            return
        await asyncio.wrap_future(self._worker.submit(_LAST, self._close_sync))
        await asyncio.to_thread(self._worker.shutdown)

    def _close_sync(self) -> None:
        with self._guard:
            if self._closed:
                return
            self._closed = True
            send, recv = self._send, self._recv
            answered = False
            if send is not None and recv is not None:
                try:
                    send.send(("close", ()))
                    # Closing flushes the shard: as long as a write may take.
                    if recv.poll(self._timeouts["write"]):
                        recv.recv()
                        answered = True
                except (EOFError, OSError):
                    pass  # already gone: reaped below
            self._reap(kill=not answered)
