"""Text chat: request/response, SSE, fallback, drafts vs published versions."""

from __future__ import annotations

import json
from typing import Any

from pipelines.knowledge import Passage
from tests.control_plane.fake_llm import FakeLLMFactory
from tests.control_plane.support import Api, Person

AGENT = {
    "name": "Helper",
    "type": "text",
    "config": {
        "system_prompt": "Published prompt.",
        "personality": "cheerful",
        "llm": [{"provider": "primary"}, {"provider": "backup"}],
    },
}


async def _setup(api: Api) -> tuple[Person, str, FakeLLMFactory]:
    owner = await api.person()
    factory = FakeLLMFactory("primary", "backup")
    api.services.llm_factory = factory
    agent = (await api.call("POST", "/v1/agents", owner, json=AGENT)).json()
    await api.call("POST", f"/v1/agents/{agent['id']}/publish", owner)
    return owner, agent["id"], factory


def _events(body: str) -> list[tuple[str, Any]]:
    out = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


async def test_rest_turns_keep_history(api: Api) -> None:
    owner, agent_id, factory = await _setup(api)
    conv = await api.call("POST", f"/v1/agents/{agent_id}/conversations", owner, json={})
    assert conv.status_code == 201, conv.text
    cid = conv.json()["id"]
    assert conv.json()["agent_version"] == 1
    for text in ("first question", "second question"):
        r = await api.call(
            "POST", f"/v1/conversations/{cid}/messages", owner, json={"content": text}
        )
        assert r.status_code == 200, r.text
        assert r.json()["reply"]["content"] == "Hello from the fake model."
        assert r.json()["reply"]["provider"] == "primary"
    sent = factory.llms["primary"].requests[-1]
    assert sent[0].role == "system" and "Published prompt." in sent[0].content
    assert "cheerful" in sent[0].content
    assert [m.content for m in sent[1:] if m.role == "user"] == [
        "first question",
        "second question",
    ]
    detail = (await api.call("GET", f"/v1/conversations/{cid}", owner)).json()
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"] * 2
    assert [m["seq"] for m in detail["messages"]] == [1, 2, 3, 4]
    listed = (await api.call("GET", f"/v1/conversations?agent_id={agent_id}", owner)).json()
    assert [c["id"] for c in listed] == [cid]


async def test_sse_streams_deltas_then_done(api: Api) -> None:
    owner, agent_id, _ = await _setup(api)
    cid = (await api.call("POST", f"/v1/agents/{agent_id}/conversations", owner, json={})).json()[
        "id"
    ]
    r = await api.call(
        "POST", f"/v1/conversations/{cid}/messages/stream", owner, json={"content": "hi"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    deltas = [d["text"] for kind, d in events if kind == "delta"]
    assert "".join(deltas) == "Hello from the fake model." and len(deltas) == 5
    kind, done = events[-1]
    assert kind == "done" and done["message"]["content"] == "Hello from the fake model."
    assert done["truncated"] is False


async def test_fallback_before_text_and_truncation_after(api: Api) -> None:
    owner, agent_id, factory = await _setup(api)
    cid = (await api.call("POST", f"/v1/agents/{agent_id}/conversations", owner, json={})).json()[
        "id"
    ]
    factory.llms["primary"].knobs.fail_before_text = True
    factory.llms["backup"].knobs.reply = "Backup here."
    r = await api.call("POST", f"/v1/conversations/{cid}/messages", owner, json={"content": "a"})
    assert r.json()["reply"]["content"] == "Backup here."
    assert r.json()["reply"]["provider"] == "backup"

    # Failing after text has streamed: the reply is kept, cut short, and flagged.
    factory.llms["primary"].knobs.fail_before_text = False
    factory.llms["primary"].knobs.fail_after_tokens = 2
    r = await api.call("POST", f"/v1/conversations/{cid}/messages", owner, json={"content": "b"})
    body = r.json()
    assert body["reply"]["content"] == "Hello from" and body["truncated"] is True
    assert "primary broke" in body["error"]

    # Every provider down: a clear error, stored as an empty reply, never a 500.
    factory.llms["primary"].knobs.fail_before_text = True
    factory.llms["backup"].knobs.fail_before_text = True
    r = await api.call("POST", f"/v1/conversations/{cid}/messages", owner, json={"content": "c"})
    assert r.status_code == 200 and r.json()["reply"]["content"] == ""
    assert "primary is down" in r.json()["error"] and "backup is down" in r.json()["error"]


async def test_draft_conversations_and_pinned_versions(api: Api) -> None:
    owner, agent_id, factory = await _setup(api)
    published = (
        await api.call("POST", f"/v1/agents/{agent_id}/conversations", owner, json={})
    ).json()["id"]
    draft = (
        await api.call(
            "POST", f"/v1/agents/{agent_id}/conversations", owner, json={"use_draft": True}
        )
    ).json()["id"]
    await api.call(
        "PATCH",
        f"/v1/agents/{agent_id}",
        owner,
        json={"config": {"system_prompt": "Draft prompt."}},
    )
    llm = factory.llms["primary"]
    await api.call("POST", f"/v1/conversations/{draft}/messages", owner, json={"content": "x"})
    assert "Draft prompt." in llm.requests[-1][0].content
    await api.call("POST", f"/v1/conversations/{published}/messages", owner, json={"content": "x"})
    assert "Published prompt." in llm.requests[-1][0].content
    # Publishing the draft does not change the conversation already pinned to v1.
    await api.call("POST", f"/v1/agents/{agent_id}/publish", owner)
    await api.call("POST", f"/v1/conversations/{published}/messages", owner, json={"content": "x"})
    assert "Published prompt." in llm.requests[-1][0].content
    fresh = (await api.call("POST", f"/v1/agents/{agent_id}/conversations", owner, json={})).json()
    assert fresh["agent_version"] == 2

    # Talking to a draft needs agents.write; a key with agents.use alone cannot.
    key = await api.api_key(owner, ["agents.use"])
    r = await api.call(
        "POST",
        f"/v1/agents/{agent_id}/conversations",
        json={"use_draft": True},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 403


async def test_unpublished_agent_cannot_chat(api: Api) -> None:
    owner = await api.person()
    api.services.llm_factory = FakeLLMFactory()
    agent = (await api.call("POST", "/v1/agents", owner, json={"name": "New"})).json()
    r = await api.call("POST", f"/v1/agents/{agent['id']}/conversations", owner, json={})
    assert r.status_code == 422 and "published" in r.json()["error"]["message"]


class _Shelf:
    """A retriever with one passage, recording what it was asked."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    async def retrieve(self, query: str) -> list[Passage]:
        self.queries.append(query)
        return [Passage(text="We open at nine.", source="hours.pdf")]


async def test_retrieval_joins_when_the_agent_links_knowledge(api: Api) -> None:
    owner = await api.person()
    factory = FakeLLMFactory()
    api.services.llm_factory = factory
    shelf = _Shelf()
    asked: list[tuple[str, tuple[str, ...]]] = []

    def retriever_factory(org_id: str, kb_ids: tuple[str, ...]) -> _Shelf:
        asked.append((org_id, kb_ids))
        return shelf

    api.services.retriever_factory = retriever_factory
    body = {
        "name": "Librarian",
        "config": {"knowledge_base_ids": ["kb1"], "llm": [{"provider": "fake"}]},
    }
    agent = (await api.call("POST", "/v1/agents", owner, json=body)).json()
    await api.call("POST", f"/v1/agents/{agent['id']}/publish", owner)
    cid = (
        await api.call("POST", f"/v1/agents/{agent['id']}/conversations", owner, json={})
    ).json()["id"]
    await api.call("POST", f"/v1/conversations/{cid}/messages", owner, json={"content": "When?"})
    assert asked == [(owner.org_id, ("kb1",))] and shelf.queries == ["When?"]
    system = factory.llms["fake"].requests[-1][0].content
    assert "[hours.pdf] We open at nine." in system
