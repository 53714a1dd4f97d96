"""A voice session of an agent with knowledge bases gets passages in its LLM context."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from control_plane.app import create_app
from control_plane.settings import Settings
from control_plane.voice.runtime import VoiceRuntime
from pipelines.knowledge import Passage, Retriever
from pipelines.providers.fake import FakeLLM, FakeLLMKnobs
from tests.control_plane.voice.conftest import fake_agent, fake_registry


class Shelf:
    """A retriever over one organisation's fixed passages."""

    def __init__(self, org_id: str, kb_ids: tuple[str, ...]) -> None:
        self.org_id = org_id
        self.kb_ids = kb_ids
        self.queries: list[str] = []

    async def retrieve(self, query: str) -> Sequence[Passage]:
        self.queries.append(query)
        return [Passage(f"{self.org_id} opens at 9am", source="hours.txt", score=0.9)]


@pytest.fixture
def setup(tmp_path: object) -> Iterator[tuple[TestClient, FakeLLM, list[Shelf]]]:
    llm = FakeLLM(knobs=FakeLLMKnobs(first_token_latency=0.01, token_interval=0.001))
    registry = fake_registry()
    registry.register("llm", "fake", lambda: llm)
    agents = {
        "kb": replace(fake_agent("kb"), org_id="org-a", knowledge_base_ids=("kb-1",)),
        "plain": fake_agent("plain"),
    }
    runtime = VoiceRuntime(registry, agents)
    shelves: list[Shelf] = []

    def factory(org_id: str, kb_ids: tuple[str, ...]) -> Retriever | None:
        shelves.append(Shelf(org_id, kb_ids))
        return shelves[-1]

    runtime.retriever_factory = factory
    app = create_app(Settings(data_dir=tmp_path))  # type: ignore[arg-type]
    app.state.voice = runtime
    with TestClient(app) as client:
        yield client, llm, shelves


def ask(client: TestClient, agent: str, text: str) -> None:
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "session.start", "agent": agent})
        ws.send_json({"type": "input.text", "text": text})
        while True:
            message = ws.receive()
            if message.get("text") and json.loads(message["text"])["type"] == "turn.metrics":
                return


def test_passages_of_the_agents_org_reach_the_llm(
    setup: tuple[TestClient, FakeLLM, list[Shelf]],
) -> None:
    client, llm, shelves = setup
    ask(client, "kb", "when do you open")
    (shelf,) = shelves
    assert (shelf.org_id, shelf.kb_ids, shelf.queries) == ("org-a", ("kb-1",), ["when do you open"])
    system = llm.requests[-1][0]
    assert system.role == "system" and "[hours.txt] org-a opens at 9am" in system.content


def test_agents_without_knowledge_get_no_retriever(
    setup: tuple[TestClient, FakeLLM, list[Shelf]],
) -> None:
    client, llm, shelves = setup
    ask(client, "plain", "when do you open")
    assert shelves == []
    assert "hours.txt" not in llm.requests[-1][0].content
