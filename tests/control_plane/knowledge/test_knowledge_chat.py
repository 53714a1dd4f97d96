"""A text chat with an agent linked to a knowledge base: the right chunk, with
its [n] citation, reaches the LLM's context."""

from __future__ import annotations

from rag.service import KnowledgeService
from tests.control_plane.fake_llm import FakeLLMFactory
from tests.control_plane.knowledge.conftest import new_kb
from tests.control_plane.support import Api


async def test_chat_answers_with_a_cited_chunk(api: Api, knowledge: KnowledgeService) -> None:
    kb = await new_kb(api)
    await kb.indexed(
        "hours.txt",
        b"Opening hours\n\nThe bakery opens at seven and closes at noon.\n\n"
        b"Parking\n\nCustomers park behind the station for free.",
    )
    factory = FakeLLMFactory()
    api.services.llm_factory = factory
    body = {
        "name": "Baker",
        "config": {"knowledge_base_ids": [kb.id], "llm": [{"provider": "fake"}]},
    }
    agent = (await api.call("POST", "/v1/agents", kb.owner, json=body)).json()
    await api.call("POST", f"/v1/agents/{agent['id']}/publish", kb.owner)
    cid = (
        await api.call("POST", f"/v1/agents/{agent['id']}/conversations", kb.owner, json={})
    ).json()["id"]
    r = await api.call(
        "POST",
        f"/v1/conversations/{cid}/messages",
        kb.owner,
        json={"content": "When does the bakery open?"},
    )
    assert r.status_code < 300, r.text
    system = factory.llms["fake"].requests[-1][0].content
    # The first passage is cited [1: <document>] and holds the answer.
    cited = system.split("\n[1: ", 1)[1].split("\n[2: ", 1)[0]
    assert cited.startswith("hours.txt") and "opens at seven" in cited
    assert "cite the [source]" in system
