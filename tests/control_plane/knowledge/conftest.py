"""Knowledge tests run on the control-plane app (SQLite and PostgreSQL) with a
real KnowledgeService on local Qdrant and the rag tests' bag-of-words embedder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from control_plane.knowledge.mount import use_service
from control_plane.knowledge.runtime import KnowledgeRuntime
from rag.defaults import open_knowledge_service
from rag.limits import IngestLimits
from rag.service import KnowledgeService
from tests.control_plane.support import Api, Person
from tests.rag.conftest import FakeEmbedder

# Small enough that a test can send an oversized file cheaply.
TEST_MAX_FILE_BYTES = 256 * 1024
JOB_TIMEOUT_SECS = 30.0


@pytest.fixture
async def knowledge(app: FastAPI, tmp_path: Path) -> AsyncIterator[KnowledgeService]:
    service = open_knowledge_service(
        tmp_path / "kb-test",
        embedder=FakeEmbedder(),
        limits=IngestLimits(max_file_bytes=TEST_MAX_FILE_BYTES, parse_timeout_s=20.0),
        workers=2,
    )
    use_service(app, KnowledgeRuntime.of(service))
    yield service
    await app.state.knowledge.aclose()


@dataclass
class Kb:
    """A knowledge base of one organisation, driven through the API."""

    api: Api
    owner: Person
    id: str

    async def upload(self, name: str, data: bytes, category: str | None = None) -> Any:
        form = {"category": category} if category else None
        return await self.api.call(
            "POST",
            f"/v1/knowledge-bases/{self.id}/documents",
            self.owner,
            files={"file": (name, data)},
            data=form,
        )

    async def indexed(self, name: str, data: bytes, category: str | None = None) -> dict[str, Any]:
        r = await self.upload(name, data, category)
        assert r.status_code == 202, r.text
        job: dict[str, Any] = r.json()
        async with asyncio.timeout(JOB_TIMEOUT_SECS):
            while job["status"] not in ("indexed", "failed"):
                await asyncio.sleep(0.02)
                got = await self.api.call(
                    "GET", f"/v1/knowledge-bases/{self.id}/jobs/{job['job_id']}", self.owner
                )
                assert got.status_code == 200, got.text
                job = got.json()
        assert job["status"] == "indexed", job
        return job

    async def search(self, q: str, **params: Any) -> list[dict[str, Any]]:
        r = await self.api.call(
            "GET",
            f"/v1/knowledge-bases/{self.id}/search",
            self.owner,
            params={"q": q, **params},
        )
        assert r.status_code == 200, r.text
        hits: list[dict[str, Any]] = r.json()
        return hits


async def new_kb(api: Api, owner: Person | None = None, name: str = "Support") -> Kb:
    owner = owner or await api.person()
    r = await api.call("POST", "/v1/knowledge-bases", owner, json={"name": name, "tags": ["faq"]})
    assert r.status_code == 201, r.text
    return Kb(api, owner, r.json()["id"])
