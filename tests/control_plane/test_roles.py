"""Function-level authorisation, generated: every role (built-in, custom, a dev
user, an API key's scopes) against every route. Exactly the routes whose
permission the role holds are allowed; every other call gets 403 and changes
nothing."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tenancy.permissions import (
    DEV_USER_DENIED,
    ROLE_PERMISSIONS,
    AccountType,
    BuiltinRole,
    Permission,
)
from tests.control_plane.fake_llm import FakeLLMFactory
from tests.control_plane.routes import Endpoint, endpoints
from tests.control_plane.support import Api
from tests.control_plane.world import World, build_world, example_body, snapshot

P = Permission
CUSTOM = frozenset(
    {P.AGENTS_READ, P.CONVERSATIONS_READ, P.TEAMS_MANAGE, P.TEAMS_READ, P.KNOWLEDGE_WRITE}
)
KEY_SCOPES = frozenset({P.AGENTS_READ, P.AGENTS_USE, P.API_KEYS_READ, P.KNOWLEDGE_READ})


@dataclass(frozen=True)
class Case:
    name: str
    role: str | None = None
    account_type: AccountType = AccountType.BUSINESS
    custom: frozenset[Permission] | None = None
    key_scopes: frozenset[Permission] | None = None

    def allowed(self) -> frozenset[Permission]:
        if self.key_scopes is not None:
            return self.key_scopes
        if self.custom is not None:
            return self.custom
        base = ROLE_PERMISSIONS[BuiltinRole(self.role or "")]
        return base - DEV_USER_DENIED if self.account_type == AccountType.DEV_USER else base


CASES = [
    Case("owner", "owner"),
    Case("admin", "admin"),
    Case("member", "member"),
    Case("viewer", "viewer"),
    Case("developer", "developer"),
    Case("custom", custom=CUSTOM),
    Case("dev_user_admin", "admin", account_type=AccountType.DEV_USER),
    Case("api_key", key_scopes=KEY_SCOPES),
]


def _order(ep: Endpoint) -> tuple[int, int]:
    # Reads, then writes, then deletions deepest-first (a team's member before the team).
    rank = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}[ep.method]
    return rank, -ep.path.count("/") if ep.method == "DELETE" else 0


async def _headers(api: Api, world: World, case: Case) -> dict[str, str]:
    if case.key_scopes is not None:
        key = await api.api_key(world.owner, sorted(p.value for p in case.key_scopes))
        return {"Authorization": f"Bearer {key}"}
    custom = sorted(p.value for p in case.custom) if case.custom is not None else None
    person = await api.member(
        world.org_id, case.role or "custom", account_type=case.account_type, permissions=custom
    )
    return person.headers()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_role_gets_exactly_its_routes(api: Api, case: Case) -> None:
    api.services.llm_factory = FakeLLMFactory()
    world = await build_world(api)
    headers = await _headers(api, world, case)
    routes = sorted((ep for ep in endpoints(api.app) if ep.access.kind == "permission"), key=_order)
    allowed = case.allowed()
    denied = [ep for ep in routes if ep.access.permission not in allowed]
    granted = [ep for ep in routes if ep.access.permission in allowed]
    failures: list[str] = []

    before = await snapshot(api, world.org_id)
    for ep in denied:
        r = await api.client.request(
            ep.method, ep.url(world.ids), headers=headers, json=_body(ep, world)
        )
        if r.status_code != 403:
            failures.append(f"denied {ep}: {r.status_code} {r.text[:100]}")
    assert await snapshot(api, world.org_id) == before, "a refused call changed something"

    for ep in granted:
        r = await api.client.request(
            ep.method, ep.url(world.ids), headers=headers, json=_body(ep, world)
        )
        if r.status_code in (401, 403, 404) or r.status_code >= 500:
            failures.append(f"allowed {ep}: {r.status_code} {r.text[:100]}")
    assert not failures, "\n".join(failures)


def _body(ep: Endpoint, world: World) -> object:
    return example_body(ep, world)


async def test_non_members_and_non_admins(api: Api) -> None:
    """Signed-in routes refuse API keys; admin routes refuse everyone but admins."""
    world = await build_world(api)
    key = {"Authorization": f"Bearer {await api.api_key(world.owner, ['agents.read'])}"}
    for ep in endpoints(api.app):
        if ep.access.kind not in ("signed_in", "platform_admin"):
            continue
        url = ep.url(world.ids)
        # API keys act for an organisation, never as a person or an administrator.
        r = await api.client.request(ep.method, url, headers=key, json=ep.example())
        assert r.status_code == 403, (str(ep), r.status_code, r.text)
        if ep.access.kind == "platform_admin":
            # An organisation's owner is no platform administrator.
            r = await api.client.request(
                ep.method, url, headers=world.owner.headers(), json=ep.example()
            )
            assert r.status_code == 403, (str(ep), r.status_code, r.text)
        # No credential at all: 401 everywhere.
        r = await api.client.request(ep.method, url, json=ep.example())
        assert r.status_code == 401, (str(ep), r.status_code)


def test_builtin_roles_match_the_spec() -> None:
    """A hand-written reading of the roles, so the table above is not its own spec."""
    viewer = ROLE_PERMISSIONS[BuiltinRole.VIEWER]
    assert all(p.value.endswith(".read") for p in viewer)
    assert P.AUDIT_READ not in viewer and P.API_KEYS_READ not in viewer
    developer = ROLE_PERMISSIONS[BuiltinRole.DEVELOPER]
    assert {P.API_KEYS_MANAGE, P.AGENTS_PUBLISH, P.CREDENTIALS_MANAGE} <= developer
    assert not developer & {P.MEMBERS_MANAGE, P.TEAMS_MANAGE, P.ROLES_MANAGE, P.ORG_MANAGE}
    member = ROLE_PERMISSIONS[BuiltinRole.MEMBER]
    assert P.AGENTS_WRITE in member and P.AGENTS_PUBLISH not in member
    assert ROLE_PERMISSIONS[BuiltinRole.OWNER] == frozenset(Permission)
    # Knowledge bases have their own permissions: reading them is a read every
    # role has; changing them follows who may change agents.
    assert all(P.KNOWLEDGE_READ in perms for perms in ROLE_PERMISSIONS.values())
    knowledge_writers = {r for r, perms in ROLE_PERMISSIONS.items() if P.KNOWLEDGE_WRITE in perms}
    agent_writers = {r for r, perms in ROLE_PERMISSIONS.items() if P.AGENTS_WRITE in perms}
    assert knowledge_writers == agent_writers
    # Ops figures (latency, turn timelines): developers and the organisation's admins.
    ops = {r for r, perms in ROLE_PERMISSIONS.items() if P.OPS_READ in perms}
    assert ops == {BuiltinRole.OWNER, BuiltinRole.ADMIN, BuiltinRole.DEVELOPER}
    # Phone numbers: every role reads them; owners, admins and developers change them
    # and control calls; every built-in role reads the call log.
    assert all(P.NUMBERS_READ in perms for perms in ROLE_PERMISSIONS.values())
    number_writers = {r for r, perms in ROLE_PERMISSIONS.items() if P.NUMBERS_WRITE in perms}
    call_controllers = {r for r, perms in ROLE_PERMISSIONS.items() if P.CALLS_WRITE in perms}
    managers = {BuiltinRole.OWNER, BuiltinRole.ADMIN, BuiltinRole.DEVELOPER}
    assert number_writers == call_controllers == managers
    assert all(P.CALLS_READ in perms for perms in ROLE_PERMISSIONS.values())
