"""The app's one KnowledgeService: opened on first use (or at startup), closed at shutdown.

Opening loads the embedding model and the vector store, so it happens once per
process and inside the running loop (rag's job workers are tasks on it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from fastapi import FastAPI
from starlette.requests import HTTPConnection

from control_plane.settings import Settings
from rag.hits import Hit
from rag.service import KnowledgeService

ServiceOpener = Callable[[], KnowledgeService]
log = logging.getLogger(__name__)


def default_opener(settings: Settings) -> ServiceOpener:
    def open_service() -> KnowledgeService:
        from rag.defaults import open_knowledge_service

        return open_knowledge_service(
            settings.data_dir / "knowledge", qdrant_url=settings.qdrant_url
        )

    return open_service


class KnowledgeRuntime:
    """Holds the service; ``get()`` opens it once, ``aclose()`` releases it."""

    def __init__(self, opener: ServiceOpener) -> None:
        self._opener = opener
        self._service: KnowledgeService | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def of(cls, service: KnowledgeService) -> KnowledgeRuntime:
        """Around an already open service (tests, the CLI)."""
        runtime = cls(lambda: service)
        runtime._service = service
        return runtime

    @property
    def service(self) -> KnowledgeService | None:
        return self._service

    async def get(self) -> KnowledgeService:
        if self._service is None:
            async with self._lock:
                if self._service is None:
                    service = self._opener()
                    self._service = service
                    await _resume(service)
        return self._service

    async def retrieve_for_turn(
        self, org_id: str, kb_ids: Sequence[str], query: str, *, budget_ms: float = 50.0
    ) -> list[Hit]:
        service = await self.get()
        return await service.retrieve_for_turn(org_id, kb_ids, query, budget_ms=budget_ms)

    async def aclose(self) -> None:
        service, self._service = self._service, None
        if service is not None:
            await service.aclose()


async def _resume(service: KnowledgeService) -> None:
    """Re-queue the ingestion jobs a previous process left unfinished."""
    try:
        resumed = await service.resume()
    except Exception:
        log.exception("knowledge: resuming unfinished ingestion jobs failed")
        return
    if resumed:
        log.info("knowledge: resumed %d unfinished ingestion jobs", len(resumed))


def knowledge_of(conn: HTTPConnection | FastAPI) -> KnowledgeRuntime:
    app = conn if isinstance(conn, FastAPI) else conn.app
    runtime: KnowledgeRuntime = app.state.knowledge
    return runtime


async def service_of(conn: HTTPConnection) -> KnowledgeService:
    return await knowledge_of(conn).get()
