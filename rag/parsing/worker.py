"""The parser worker process: `python -m rag.parsing.worker MEMORY_LIMIT_BYTES`.

Reads pickled (kind, filename, bytes, limits) requests on stdin, answers on stdout.
Only the parent (`rag.parsing.runner`) writes to it, so unpickling is trusted input.
"""

from __future__ import annotations

import logging
import pickle
import resource
import sys
from multiprocessing.connection import Connection

from rag.errors import ParseError
from rag.parsing.dispatch import parse_sync


def _picklable(exc: BaseException) -> bool:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return False
    return True


def serve(recv: Connection, send: Connection) -> None:
    while True:
        try:
            kind, filename, data, limits = recv.recv()
        except (EOFError, OSError):
            return
        try:
            send.send(("ok", parse_sync(kind, filename, data, limits)))
        except MemoryError:
            send.send(("err", ParseError(filename, "parsing needed more memory than allowed")))
        except Exception as exc:
            send.send(("err", exc if _picklable(exc) else ParseError(filename, repr(exc))))


def main() -> None:
    limit = int(sys.argv[1])
    # pypdf logs every sloppy producer; the parent reports failures itself.
    logging.disable(logging.WARNING)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    recv = Connection(sys.stdin.fileno(), writable=False)
    send = Connection(sys.stdout.fileno(), readable=False)
    # Anything a library prints must not corrupt the answer channel.
    sys.stdout = sys.stderr
    send.send("ready")
    serve(recv, send)


if __name__ == "__main__":
    main()
