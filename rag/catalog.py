"""Which documents each knowledge base holds: dedup by content hash, org byte quota.

The catalog is a Protocol so the control plane can keep it in its own database;
`InMemoryCatalog` serves tests and single-process use, `SqliteCatalog` persists
next to the local Qdrant directory.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class DocumentState(StrEnum):
    INDEXING = "indexing"
    INDEXED = "indexed"


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    org_id: str
    kb_id: str
    document_id: str
    filename: str
    content_hash: str
    size_bytes: int
    kind: str
    category: str | None
    state: DocumentState
    job_id: str
    chunks: int = 0
    units: int = 0
    created_at: float = 0.0


class DocumentCatalog(Protocol):
    async def add(self, record: DocumentRecord) -> None: ...

    async def get(self, org_id: str, document_id: str) -> DocumentRecord | None: ...

    async def find_by_hash(
        self, org_id: str, kb_id: str, content_hash: str
    ) -> DocumentRecord | None: ...

    async def mark_indexed(
        self, org_id: str, document_id: str, chunks: int, units: int
    ) -> None: ...

    async def remove(self, org_id: str, document_id: str) -> DocumentRecord | None: ...

    async def remove_knowledge_base(self, org_id: str, kb_id: str) -> list[DocumentRecord]: ...

    async def list_documents(self, org_id: str, kb_id: str) -> list[DocumentRecord]: ...

    async def bytes_used(self, org_id: str) -> int: ...

    async def list_unfinished(self) -> list[DocumentRecord]:
        """Every organisation's documents still `INDEXING` (a restart resumes them)."""
        ...


class InMemoryCatalog:
    def __init__(self) -> None:
        self._docs: dict[tuple[str, str], DocumentRecord] = {}

    async def add(self, record: DocumentRecord) -> None:
        self._docs[(record.org_id, record.document_id)] = record

    async def get(self, org_id: str, document_id: str) -> DocumentRecord | None:
        return self._docs.get((org_id, document_id))

    async def find_by_hash(
        self, org_id: str, kb_id: str, content_hash: str
    ) -> DocumentRecord | None:
        for doc in self._docs.values():
            if (doc.org_id, doc.kb_id, doc.content_hash) == (org_id, kb_id, content_hash):
                return doc
        return None

    async def mark_indexed(self, org_id: str, document_id: str, chunks: int, units: int) -> None:
        doc = self._docs.get((org_id, document_id))
        if doc is not None:
            self._docs[(org_id, document_id)] = replace(
                doc, state=DocumentState.INDEXED, chunks=chunks, units=units
            )

    async def remove(self, org_id: str, document_id: str) -> DocumentRecord | None:
        return self._docs.pop((org_id, document_id), None)

    async def remove_knowledge_base(self, org_id: str, kb_id: str) -> list[DocumentRecord]:
        gone = [d for d in self._docs.values() if d.org_id == org_id and d.kb_id == kb_id]
        for doc in gone:
            del self._docs[(org_id, doc.document_id)]
        return gone

    async def list_documents(self, org_id: str, kb_id: str) -> list[DocumentRecord]:
        docs = [d for d in self._docs.values() if d.org_id == org_id and d.kb_id == kb_id]
        return sorted(docs, key=lambda d: d.created_at)

    async def bytes_used(self, org_id: str) -> int:
        return sum(d.size_bytes for d in self._docs.values() if d.org_id == org_id)

    async def list_unfinished(self) -> list[DocumentRecord]:
        docs = [d for d in self._docs.values() if d.state is DocumentState.INDEXING]
        return sorted(docs, key=lambda d: d.created_at)


_COLUMNS = (
    "org_id, kb_id, document_id, filename, content_hash, size_bytes, kind, category, "
    "state, job_id, chunks, units, created_at"
)


class SqliteCatalog:
    """Catalog in one SQLite file; calls run in a thread under a lock."""

    def __init__(self, path: str | Path) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._lock = threading.Lock()
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS documents ("
                "org_id TEXT NOT NULL, kb_id TEXT NOT NULL, document_id TEXT NOT NULL, "
                "filename TEXT NOT NULL, content_hash TEXT NOT NULL, size_bytes INTEGER NOT NULL,"
                " kind TEXT NOT NULL, category TEXT, state TEXT NOT NULL, job_id TEXT NOT NULL, "
                "chunks INTEGER NOT NULL, units INTEGER NOT NULL, created_at REAL NOT NULL, "
                "PRIMARY KEY (org_id, document_id))"
            )
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS documents_hash "
                "ON documents (org_id, kb_id, content_hash)"
            )

    async def _query(self, sql: str, params: tuple[object, ...]) -> list[DocumentRecord]:
        def run() -> list[DocumentRecord]:
            with self._lock, self._db:
                rows = self._db.execute(sql, params).fetchall()
            return [_record(row) for row in rows if len(row) == 13]

        return await asyncio.to_thread(run)

    async def add(self, record: DocumentRecord) -> None:
        await self._query(
            f"INSERT OR REPLACE INTO documents ({_COLUMNS}) VALUES ({', '.join('?' * 13)})",
            (
                record.org_id,
                record.kb_id,
                record.document_id,
                record.filename,
                record.content_hash,
                record.size_bytes,
                record.kind,
                record.category,
                record.state.value,
                record.job_id,
                record.chunks,
                record.units,
                record.created_at,
            ),
        )

    async def get(self, org_id: str, document_id: str) -> DocumentRecord | None:
        rows = await self._query(
            f"SELECT {_COLUMNS} FROM documents WHERE org_id = ? AND document_id = ?",
            (org_id, document_id),
        )
        return rows[0] if rows else None

    async def find_by_hash(
        self, org_id: str, kb_id: str, content_hash: str
    ) -> DocumentRecord | None:
        rows = await self._query(
            f"SELECT {_COLUMNS} FROM documents WHERE org_id = ? AND kb_id = ? AND content_hash = ?",
            (org_id, kb_id, content_hash),
        )
        return rows[0] if rows else None

    async def mark_indexed(self, org_id: str, document_id: str, chunks: int, units: int) -> None:
        await self._query(
            "UPDATE documents SET state = ?, chunks = ?, units = ? "
            "WHERE org_id = ? AND document_id = ?",
            (DocumentState.INDEXED.value, chunks, units, org_id, document_id),
        )

    async def remove(self, org_id: str, document_id: str) -> DocumentRecord | None:
        found = await self.get(org_id, document_id)
        if found is not None:
            await self._query(
                "DELETE FROM documents WHERE org_id = ? AND document_id = ?", (org_id, document_id)
            )
        return found

    async def remove_knowledge_base(self, org_id: str, kb_id: str) -> list[DocumentRecord]:
        found = await self.list_documents(org_id, kb_id)
        await self._query("DELETE FROM documents WHERE org_id = ? AND kb_id = ?", (org_id, kb_id))
        return found

    async def list_documents(self, org_id: str, kb_id: str) -> list[DocumentRecord]:
        return await self._query(
            f"SELECT {_COLUMNS} FROM documents WHERE org_id = ? AND kb_id = ? ORDER BY created_at",
            (org_id, kb_id),
        )

    async def bytes_used(self, org_id: str) -> int:
        def run() -> int:
            with self._lock:
                row = self._db.execute(
                    "SELECT COALESCE(SUM(size_bytes), 0) FROM documents WHERE org_id = ?",
                    (org_id,),
                ).fetchone()
            return int(row[0])

        return await asyncio.to_thread(run)

    async def list_unfinished(self) -> list[DocumentRecord]:
        return await self._query(
            f"SELECT {_COLUMNS} FROM documents WHERE state = ? ORDER BY created_at",
            (DocumentState.INDEXING.value,),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _record(row: tuple[object, ...]) -> DocumentRecord:
    (org, kb, doc, name, digest, size, kind, category, state, job, chunks, units, created) = row
    return DocumentRecord(
        org_id=str(org),
        kb_id=str(kb),
        document_id=str(doc),
        filename=str(name),
        content_hash=str(digest),
        size_bytes=int(str(size)),
        kind=str(kind),
        category=None if category is None else str(category),
        state=DocumentState(str(state)),
        job_id=str(job),
        chunks=int(str(chunks)),
        units=int(str(units)),
        created_at=float(str(created)),
    )
