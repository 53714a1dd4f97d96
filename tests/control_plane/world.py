"""A populated organisation for the matrix tests: one of every resource, made
through the API by its owner, with the ids every route's path needs."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from control_plane.db.schema import Base, rls_tables
from telephony.routes import telephony_of
from tenancy.permissions import AccountType
from tests.control_plane.routes import Endpoint
from tests.control_plane.support import Api, Person, unique_email

# Path parameters that name a resource (others, like a version number, do not).
ID_PARAMS = frozenset(
    {
        "agent_id",
        "team_id",
        "user_id",
        "role_id",
        "membership_id",
        "invitation_id",
        "key_id",
        "credential_id",
        "conversation_id",
        "org_id",
        "kb_id",
        "document_id",
        "job_id",
        "number_id",
        "call_sid",
    }
)
# Body fields that hold a resource id, and which id they name.
BODY_ID_FIELDS = {
    "custom_role_id": "role_id",
    "team_id": "team_id",
    "user_id": "user_id",
    "model": "agent_id",
    "agent_id": "agent_id",
}
# Columns that legitimately change on a read (a key's last use).
VOLATILE = frozenset({"last_used_at"})


class RecordingCallControl:
    """Twilio's REST side for the matrices: every call exists and accepts control."""

    def __init__(self) -> None:
        self.placed: list[dict[str, str | None]] = []
        self.operations: list[tuple[str, str]] = []

    async def create_call(
        self, *, to: str, from_: str, url: str, status_callback: str | None = None
    ) -> str:
        self.placed.append({"to": to, "from": from_, "url": url})
        return "CA" + secrets.token_hex(16)

    async def update_twiml(self, call_sid: str, twiml: str) -> None:
        self.operations.append((call_sid, twiml))

    async def hang_up(self, call_sid: str) -> None:
        self.operations.append((call_sid, "hangup"))

    async def aclose(self) -> None:
        return None


def phone_number() -> str:
    """A fresh E.164 number (numbers are unique across every organisation)."""
    return "+1555" + str(secrets.randbelow(10**7)).zfill(7)


def example_body(ep: Endpoint, world: World) -> dict[str, Any] | None:
    """The route's example body, with the ids in it pointing at ``world``'s resources."""
    body = ep.example()
    if body is not None:
        for field in ("model", "agent_id"):
            if field in body:
                body[field] = world.ids["agent_id"]
    return body


@dataclass
class World:
    org_id: str
    owner: Person
    target: Person
    ids: dict[str, str]


async def _ok(api: Api, method: str, path: str, who: Person, **kw: Any) -> Any:
    r = await api.call(method, path, who, **kw)
    assert r.status_code < 300, (method, path, r.status_code, r.text)
    return r.json()


async def build_world(api: Api, *, owner_type: AccountType = AccountType.BUSINESS) -> World:
    owner = await api.person(tag="owner", account_type=owner_type)
    assert owner.org_id
    target = await api.member(owner.org_id, "member")
    tag = secrets.token_hex(3)
    team = await _ok(api, "POST", "/v1/teams", owner, json={"name": f"team-{tag}"})
    await _ok(api, "PUT", f"/v1/teams/{team['id']}/members/{target.user_id}", owner)
    role = await _ok(
        api,
        "POST",
        "/v1/roles",
        owner,
        json={"name": f"role-{tag}", "permissions": ["agents.read"]},
    )
    invitation = await _ok(
        api, "POST", "/v1/invitations", owner, json={"email": unique_email("invited")}
    )
    key = await _ok(
        api, "POST", "/v1/api-keys", owner, json={"name": "w", "scopes": ["agents.read"]}
    )
    agent = await _ok(
        api,
        "POST",
        "/v1/agents",
        owner,
        json={"name": f"agent {tag}", "config": {"llm": [{"provider": "fake"}]}},
    )
    await _ok(api, "POST", f"/v1/agents/{agent['id']}/publish", owner)
    credential = await _ok(
        api,
        "POST",
        "/v1/credentials",
        owner,
        json={"provider": "openai", "secret": "sk-" + tag * 4},
    )
    conversation = await _ok(api, "POST", f"/v1/agents/{agent['id']}/conversations", owner, json={})
    await _ok(
        api,
        "POST",
        f"/v1/conversations/{conversation['id']}/messages",
        owner,
        json={"content": "hi"},
    )
    kb = await _ok(api, "POST", "/v1/knowledge-bases", owner, json={"name": f"kb {tag}"})
    job = await _ok(
        api,
        "POST",
        f"/v1/knowledge-bases/{kb['id']}/documents",
        owner,
        files={"file": ("notes.txt", f"Opening hours of {tag}: nine to five.".encode())},
    )
    number = await _ok(
        api,
        "POST",
        "/v1/numbers",
        owner,
        json={"number": phone_number(), "agent_id": agent["id"]},
    )
    telephony = telephony_of(api.app)
    if not isinstance(telephony.control, RecordingCallControl):
        telephony.control = RecordingCallControl()
        telephony.public_url = "https://cap.test"
    placed = await _ok(
        api, "POST", "/v1/calls", owner, json={"to": phone_number(), "agent_id": agent["id"]}
    )
    members = await _ok(api, "GET", "/v1/members", owner)
    membership = next(m["id"] for m in members if m["user_id"] == target.user_id)
    ids = {
        "org_id": owner.org_id,
        "agent_id": agent["id"],
        "team_id": team["id"],
        "user_id": target.user_id,
        "role_id": role["id"],
        "membership_id": membership,
        "invitation_id": invitation["id"],
        "key_id": key["id"],
        "credential_id": credential["id"],
        "conversation_id": conversation["id"],
        "kb_id": kb["id"],
        "document_id": job["document_id"],
        "job_id": job["job_id"],
        "number_id": number["id"],
        "call_sid": placed["call_sid"],
        "version": "1",
        "flag": "beta",
    }
    return World(owner.org_id, owner, target, ids)


async def snapshot(api: Api, org_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every row the organisation owns, by table (volatile columns left out)."""
    tables = {t.name: t for t in Base.metadata.sorted_tables}
    out: dict[str, list[dict[str, Any]]] = {}
    async with api.services.db.platform() as session:
        for name in rls_tables():
            table = tables[name]
            key = table.c.id if name == "organizations" else table.c.org_id
            rows = (await session.execute(select(table).where(key == org_id))).mappings().all()
            out[name] = sorted(
                ({k: v for k, v in row.items() if k not in VOLATILE} for row in rows),
                key=lambda r: str(r["id"]),
            )
    return out
