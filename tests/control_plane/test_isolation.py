"""Tenant isolation, generated over every route of the app.

Organisation A's owner (the most powerful member) calls every route with
organisation B's ids, three ways: A's login session, A's API key holding every
scope, and A's login naming B in the organisation header. Every call that names
something of B's gets 404, nothing A's calls return mentions B, and B's rows
are byte-for-byte what they were.
"""

from __future__ import annotations

from typing import Any

from tenancy.permissions import Permission
from tests.control_plane.fake_llm import FakeLLMFactory
from tests.control_plane.routes import Endpoint, endpoints, outside_tenancy
from tests.control_plane.support import Api
from tests.control_plane.world import (
    BODY_ID_FIELDS,
    ID_PARAMS,
    World,
    build_world,
    example_body,
    snapshot,
)


def _variants(ep: Endpoint, a: World, b: World) -> list[dict[str, str]]:
    """Path values: all of B's ids, then each id param alone from B (rest from A)."""
    id_params = [p for p in ep.params if p in ID_PARAMS]
    if not id_params:
        return []
    out = [{**a.ids, **{p: b.ids[p] for p in id_params}}]
    if len(id_params) > 1:
        out += [{**a.ids, p: b.ids[p]} for p in id_params]
    return out


def _body(ep: Endpoint, world: World) -> dict[str, Any] | None:
    return example_body(ep, world)


def _body_id_variants(ep: Endpoint, a: World, b: World) -> list[dict[str, Any]]:
    """The example body with one id-holding field pointing at B's resource."""
    if ep.body_model is None:
        return []
    fields = set(ep.body_model.model_fields)
    out = []
    for field, id_name in BODY_ID_FIELDS.items():
        if field in fields:
            out.append({**(_body(ep, a) or {}), field: b.ids[id_name]})
    return out


async def test_cross_tenant_matrix(api: Api) -> None:
    api.services.llm_factory = FakeLLMFactory()
    a, b = await build_world(api), await build_world(api)
    before = await snapshot(api, b.org_id)
    a_key = await api.api_key(a.owner, [p.value for p in Permission])
    credentials = {
        "session": a.owner.headers(),
        "api_key": {"Authorization": f"Bearer {a_key}"},
    }
    b_ids = {v for k, v in b.ids.items() if k in ID_PARAMS}
    failures: list[str] = []
    calls = 0
    routes = [ep for ep in endpoints(api.app) if ep.access.kind == "permission"]
    assert len(routes) >= 40

    async def check(  # noqa: PLR0917
        ep: Endpoint, how: str, headers: dict[str, str], url: str, body: Any, expect_404: bool
    ) -> None:
        nonlocal calls
        calls += 1
        r = await api.client.request(ep.method, url, headers=headers, json=body)
        if expect_404 and r.status_code != 404:
            failures.append(f"{how} {ep.method} {url} {body}: {r.status_code} {r.text[:120]}")
        elif r.status_code >= 500:
            failures.append(f"{how} {ep.method} {url}: {r.status_code}")
        leaked = [i for i in b_ids if i in r.text and i not in url and i not in str(body)]
        if leaked:
            failures.append(f"{how} {ep.method} {url}: response mentions B's {leaked}")

    for ep in routes:
        for how, headers in credentials.items():
            for values in _variants(ep, a, b):
                await check(ep, how, headers, ep.url(values), _body(ep, a), True)
            for body in _body_id_variants(ep, a, b):
                await check(ep, f"{how}/body", headers, ep.url(a.ids), body, True)
        # A's login naming B as its organisation: B is simply not found.
        switch = {**a.owner.headers(), "X-CAP-Org": b.org_id}
        await check(ep, "org-header", switch, ep.url(b.ids), _body(ep, b), True)
        if not ep.params:
            # Unparameterised routes act inside A: they work and show nothing of B.
            for how, headers in credentials.items():
                await check(ep, how, headers, ep.url(a.ids), _body(ep, a), False)

    assert not failures, "\n".join(failures)
    assert calls >= 150
    assert await snapshot(api, b.org_id) == before


async def test_every_route_declares_its_access(api: Api) -> None:
    eps = endpoints(api.app)  # asserts one access rule per route
    kinds = {ep.access.kind for ep in eps}
    assert kinds == {"permission", "signed_in", "platform_admin", "public"}
    # Routes that authenticate elsewhere are listed, not silently skipped.
    others = outside_tenancy(api.app)
    assert any("/v1/ws" in line for line in others)
