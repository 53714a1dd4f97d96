"""The OpenAI-compatible endpoint, driven by the real ``openai`` SDK."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.control_plane.fake_llm import FakeLLMFactory
from tests.control_plane.support import Api


async def _client(api: Api) -> tuple[openai.AsyncOpenAI, FakeLLMFactory]:
    owner = await api.person()
    factory = FakeLLMFactory()
    api.services.llm_factory = factory
    body = {"name": "Concierge", "slug": "concierge", "config": {"llm": [{"provider": "fake"}]}}
    agent = (await api.call("POST", "/v1/agents", owner, json=body)).json()
    await api.call("POST", f"/v1/agents/{agent['id']}/publish", owner)
    key = await api.api_key(owner, ["agents.use"])
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url="http://cap.test")
    # The SDK types its client as its own httpx fork; plain httpx works the same.
    client = openai.AsyncOpenAI(
        api_key=key,
        base_url="http://cap.test/v1",
        http_client=http,  # type: ignore[arg-type]
    )
    return client, factory


async def test_completion_names_the_agent_as_model(api: Api) -> None:
    client, factory = await _client(api)
    async with client:
        done = await client.chat.completions.create(
            model="concierge",
            messages=[
                {"role": "system", "content": "Client system note."},
                {"role": "user", "content": "Where is the lobby?"},
            ],
            temperature=0.3,
        )
    assert done.choices[0].message.content == "Hello from the fake model."
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None and done.usage.completion_tokens == 5
    sent = factory.llms["fake"].requests[-1]
    assert sent[0].role == "system"  # the agent's own prompt leads
    assert [m.content for m in sent[1:]] == ["Client system note.", "Where is the lobby?"]


async def test_streaming_completion(api: Api) -> None:
    client, _ = await _client(api)
    async with client:
        stream = await client.chat.completions.create(
            model="concierge", messages=[{"role": "user", "content": "Hi"}], stream=True
        )
        pieces = [chunk.choices[0].delta.content or "" async for chunk in stream]
    assert "".join(pieces) == "Hello from the fake model."


async def test_unknown_model_and_bad_key(api: Api) -> None:
    client, _ = await _client(api)
    async with client:
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(
                model="nobody", messages=[{"role": "user", "content": "Hi"}]
            )
        bad = client.with_options(api_key="cap_wrong")
        with pytest.raises(openai.AuthenticationError):
            await bad.chat.completions.create(
                model="concierge", messages=[{"role": "user", "content": "Hi"}]
            )
