"""The child side of `ProcessEdgeStore`: one `EdgeStore` served over stdin/stdout.

Run as `python -m rag.edge_child` by `rag.edge_process.ProcessEdgeStore`, never by
hand. The first message is the store's arguments; the child opens the shard (the
write-ahead log is replayed here, so a restart after a crash keeps every write the
old child acknowledged) and answers `("ready", None)`, or `("err", exc)` if it
cannot. Then each message is `(op, args)` and gets one `(status, value)` reply.

Fault knob (tests, drills): `("fault", (action, op, nth))` arms this child to
`"hang"` (stop answering, busy in a sleep) or `"exit"` (die at once, exit code 70)
on its `nth` `op` request from then on. It is one-shot and dies with the child: the
restarted child is clean. The pipe only ever comes from the parent that started us.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

from rag.edge_store import EdgeStore
from rag.errors import RagError, StoreError

#: Store methods the child answers; anything else is refused.
OPS = frozenset(
    {
        "ensure_collection",
        "upsert",
        "search",
        "delete_document",
        "delete_knowledge_base",
        "count",
        "scroll_chunks",
        "optimize",
        "info",
    }
)
#: Exceptions passed back as they are; anything else becomes `StoreError`.
_PASS_THROUGH = (ValueError, TypeError, RagError)
#: Exit code of a child told to die by the fault knob.
FAULT_EXIT_CODE = 70


class _Faults:
    """Armed faults: op -> (action, requests of that op left before it fires)."""

    def __init__(self) -> None:
        self._armed: dict[str, tuple[str, int]] = {}

    def arm(self, action: object, op: object, nth: object) -> None:
        if action not in ("hang", "exit") or op not in OPS:
            raise ValueError(f"fault must be hang|exit on a store call, not {action!r} {op!r}")
        if not isinstance(nth, int) or nth < 1:
            raise ValueError("a fault fires on the nth request, nth >= 1")
        self._armed[str(op)] = (str(action), nth)

    def before(self, op: str) -> None:
        armed = self._armed.get(op)
        if armed is None:
            return
        action, left = armed
        if left > 1:
            self._armed[op] = (action, left - 1)
            return
        del self._armed[op]
        if action == "exit":
            os._exit(FAULT_EXIT_CODE)
        while True:  # "hang": alive, holding the request, never answering
            time.sleep(3600)


def serve(recv: Connection, send: Connection) -> None:
    """Run requests on an `EdgeStore` until told to stop or the pipe closes."""
    try:
        root, model_id, dim, options = recv.recv()
    except (EOFError, OSError):
        return
    loop = asyncio.new_event_loop()
    store = EdgeStore(root, model_id, dim, inline=True, **options)
    faults = _Faults()
    try:
        try:
            loop.run_until_complete(store.ensure_collection())
            send.send(("ready", None))
        except Exception as exc:
            send.send(("err", StoreError(f"edge store cannot open its shard: {exc}")))
            return
        while True:
            try:
                op, args = recv.recv()
            except (EOFError, OSError):
                return  # the server went away
            if op == "close":
                send.send(("ok", None))
                return
            send.send(_answer(loop, store, faults, op, args))
    finally:
        loop.run_until_complete(store.aclose())
        loop.close()


def _answer(
    loop: asyncio.AbstractEventLoop, store: EdgeStore, faults: _Faults, op: str, args: Any
) -> tuple[str, Any]:
    try:
        if op == "fault":
            faults.arm(*args)
            return ("ok", None)
        if op not in OPS:
            raise StoreError(f"unknown edge store call {op!r}")
        faults.before(op)
        return ("ok", loop.run_until_complete(getattr(store, op)(*args)))
    except _PASS_THROUGH as exc:
        return ("err", exc)
    except Exception as exc:
        return ("err", StoreError(f"edge store call failed: {type(exc).__name__}: {exc}"))


def main() -> None:
    recv = Connection(sys.stdin.fileno(), writable=False)
    send = Connection(sys.stdout.fileno(), readable=False)
    sys.stdout = sys.stderr  # a stray print must not corrupt the pipe
    serve(recv, send)


if __name__ == "__main__":
    main()
