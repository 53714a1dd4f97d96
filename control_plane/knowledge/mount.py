"""Mounts knowledge on the app (one call from app.py): the router, rag's error
mapping, the service's lifespan, and the retriever factory text chat uses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from control_plane.knowledge.errors import install_rag_errors
from control_plane.knowledge.retriever import KnowledgeRetriever
from control_plane.knowledge.routes import router
from control_plane.knowledge.runtime import KnowledgeRuntime, default_opener, knowledge_of
from control_plane.services import RetrieverFactory, Services
from pipelines.knowledge import Retriever

LifespanPart = Callable[[FastAPI], AbstractAsyncContextManager[None]]
# Text chat has no audio to stall, so it can wait a little longer than a voice turn.
CHAT_RETRIEVAL_BUDGET_MS = 200.0


@asynccontextmanager
async def knowledge_lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime = knowledge_of(app)
    try:
        yield
    finally:
        await runtime.aclose()


def retriever_factory(runtime: KnowledgeRuntime) -> RetrieverFactory:
    def build(org_id: str, kb_ids: tuple[str, ...]) -> Retriever | None:
        if not kb_ids:
            return None
        return KnowledgeRetriever(runtime, org_id, kb_ids, budget_ms=CHAT_RETRIEVAL_BUDGET_MS)

    return build


def mount(app: FastAPI, parts: list[LifespanPart]) -> None:
    services: Services = app.state.services
    runtime = KnowledgeRuntime(default_opener(services.settings))
    app.state.knowledge = runtime
    services.retriever_factory = retriever_factory(runtime)
    install_rag_errors(app)
    parts.append(knowledge_lifespan)
    app.include_router(router)


def use_service(app: FastAPI, runtime: KnowledgeRuntime) -> None:
    """Swap in another runtime (tests: a service with a fake embedder or small limits)."""
    app.state.knowledge = runtime
    services: Services = app.state.services
    services.retriever_factory = retriever_factory(runtime)
