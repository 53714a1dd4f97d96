"""Uploaded bytes kept on disk until their ingestion job ends, so a restart can resume it.

One file per document, named by its document id (a UUID the service derives, so
never a path from outside). Written before the job is queued, removed when the
job ends, indexed or failed. Synchronous: the service calls it through a thread.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path


class UploadSpool:
    def __init__(self, directory: str | Path) -> None:
        self._dir = Path(directory)
        self._dir.mkdir(parents=True, exist_ok=True)

    def _path(self, document_id: str) -> Path:
        return self._dir / str(uuid.UUID(document_id))  # ValueError for anything else

    def put(self, document_id: str, data: bytes) -> None:
        path = self._path(document_id)
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        os.replace(partial, path)  # a crash mid-write never leaves a truncated upload

    def get(self, document_id: str) -> bytes | None:
        try:
            return self._path(document_id).read_bytes()
        except FileNotFoundError:
            return None

    def drop(self, document_id: str) -> None:
        self._path(document_id).unlink(missing_ok=True)
