"""Malformed and hostile input: every answer is a 4xx with a message, never a 500.

A corpus of named cases with the exact status each must get, then a fuzz over
the OpenAPI routes: every body field of every route, replaced by each hostile
value in turn."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.control_plane.fake_llm import FakeLLMFactory
from tests.control_plane.routes import endpoints
from tests.control_plane.support import Api
from tests.control_plane.world import World, build_world

SQLISH = "'; DROP TABLE agents; --"
DEEP = "[" * 50_000 + "]" * 50_000
HOSTILE: list[Any] = [
    None,
    "",
    "x" * 200_000,
    "nul\u0000byte",
    "\ud800",
    SQLISH,
    "😀" * 500,
    "\u202eevil\u202c",
    -1,
    2**63,
    -(2**70),
    1e308,
    [],
    {},
    {"nested": [[[[[[[[[[[[{"a": 1}]]]]]]]]]]]]},
    True,
]


def _must_be_clean_4xx(r: Any, what: str) -> None:
    assert r.status_code < 500, f"{what}: {r.status_code} {r.text[:200]}"
    if r.status_code >= 400:
        body = r.json()
        assert body["error"]["message"], what


@pytest.fixture
async def world(api: Api) -> AsyncIterator[World]:
    api.services.llm_factory = FakeLLMFactory()
    yield await build_world(api)


async def test_oversized_bodies_get_413(api: Api, world: World) -> None:
    big = {"name": "x", "config": {"system_prompt": "y" * 2_000_000}}
    r = await api.call("POST", "/v1/agents", world.owner, json=big)
    assert r.status_code == 413 and "larger than" in r.json()["error"]["message"]

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(40):
            yield b"z" * 65_536
        yield b'"}'

    # No Content-Length (chunked): counted on the way in.
    r = await api.call(
        "POST",
        "/v1/agents",
        world.owner,
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413


MALFORMED_JSON: list[tuple[bytes, int]] = [
    (b"{bad json", 422),
    (b"", 422),
    (b"[1, 2, 3]", 422),
    (b'"just a string"', 422),
    (DEEP.encode(), 400),
    (b'{"name": "x", "type": "voice", "type": "fax"}', 422),
    (b'{"name": 12}', 422),
    (b'{"name": "\\ud83d"}', 422),
    (b'{"name": "a\\u0000b"}', 422),
    (b"\xff\xfe\x00garbage", 422),
    (b'{"name": "ok", "config": {"limits": {"max_turns": 1e309}}}', 422),
]


async def test_malformed_json(api: Api, world: World) -> None:
    for raw, status in MALFORMED_JSON:
        r = await api.call(
            "POST",
            "/v1/agents",
            world.owner,
            content=raw,
            headers={"content-type": "application/json"},
        )
        assert r.status_code == status, (raw[:40], r.text)
        assert r.json()["error"]["message"]


async def test_hostile_text_is_stored_verbatim_or_refused(api: Api, world: World) -> None:
    for name in (SQLISH, "Ω≈ç√ 😀 \u202etxet\u202c e\u0301", "名前 " * 30, "<script>x</script>"):
        r = await api.call("POST", "/v1/teams", world.owner, json={"name": name})
        assert r.status_code == 201, (name, r.text)
        got = await api.call("GET", f"/v1/teams/{r.json()['id']}", world.owner)
        assert got.json()["name"] == name.strip()
    # The tables are all still there.
    assert (await api.call("GET", "/v1/agents", world.owner)).status_code == 200


HOSTILE_PATHS: list[tuple[str, str, int]] = [
    ("GET", "/v1/agents/" + "a" * 65, 422),
    ("GET", "/v1/agents/'%20OR%201=1--", 422),
    ("GET", "/v1/agents/%00", 422),
    ("GET", "/v1/agents/%F0%9F%98%80", 422),
    ("GET", "/v1/agents/%ED%A0%80", 422),
    ("GET", "/v1/agents/no-such-agent", 404),
    ("GET", "/v1/agents/x/versions/-1", 422),
    ("GET", "/v1/agents/x/versions/99999999999999999999", 422),
    ("GET", "/v1/conversations?limit=-5", 422),
    ("GET", "/v1/conversations?limit=abc", 422),
    ("GET", "/v1/audit?limit=100000000000000000000000", 422),
    ("PUT", "/v1/agents", 405),
    ("GET", "/v1/nothing-here", 404),
]


async def test_hostile_paths_and_queries(api: Api, world: World) -> None:
    for method, path, status in HOSTILE_PATHS:
        r = await api.call(method, path, world.owner)
        assert r.status_code == status, (path, r.text)
        assert r.json()["error"]["message"]


HOSTILE_CREDENTIALS: list[dict[str, str]] = [
    {"Authorization": "Bearer " + "A" * 10_000},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Bearer cap_' OR '1'='1"},
    {"Authorization": "Bearer caps_\u00e9\u00e9"},
    {"Authorization": "Bearer"},
]


async def test_hostile_credentials(api: Api) -> None:
    for headers in HOSTILE_CREDENTIALS:
        r = await api.call("GET", "/v1/agents", headers={k: v.encode() for k, v in headers.items()})
        assert r.status_code == 401 and r.json()["error"]["message"], headers


async def test_hostile_org_header(api: Api, world: World) -> None:
    for org in ("' OR 1=1 --", "x" * 300, "\u00e9\u00e9"):
        h = {k.encode(): v.encode() for k, v in {**world.owner.headers(), "X-CAP-Org": org}.items()}
        r = await api.client.get("/v1/agents", headers=h)
        assert r.status_code == 404, r.text


async def test_fuzz_every_body_field_of_every_route(api: Api, world: World) -> None:
    """Generated from the route table: each field of each example body gets each
    hostile value. The app answers every one without a server error."""
    calls = 0
    for ep in endpoints(api.app):
        example = ep.example()
        if example is None or ep.access.kind == "signed_in":
            continue
        if "model" in example:
            example["model"] = world.ids["agent_id"]
        fields = sorted(set(example) | set(ep.body_model.model_fields if ep.body_model else ()))
        for field in fields:
            for value in HOSTILE:
                body = {**example, field: value}
                r = await api.call(
                    ep.method,
                    ep.url(world.ids),
                    world.owner,
                    content=json.dumps(body).encode(),
                    headers={"content-type": "application/json"},
                )
                _must_be_clean_4xx(r, f"{ep} {field}={str(value)[:40]!r}")
                calls += 1
    assert calls > 500
