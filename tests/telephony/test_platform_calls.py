"""Call control through the control plane's API (``/v1/calls``): credentials of
the organisation (an API key with ``calls.write`` or a member's login), scoped
to it, against a fake of Twilio's REST API driven by the real twilio SDK.
Both storage backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.control_plane.support import Person
from tests.telephony.platform import BASE, Platform, fresh_number, platform_app
from tests.telephony.twilio_rest import TwilioRestFake
from tests.tenancy.backends import Backend

DIAL = '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>+15559990000</Dial></Response>'


@pytest.fixture
async def platform(
    backend: Backend, tmp_path: Path, rest_fake: TwilioRestFake
) -> AsyncIterator[Platform]:
    async with platform_app(backend, tmp_path, rest_url=rest_fake.http_url) as built:
        yield built


@dataclass
class Line:
    owner: Person
    key: dict[str, str]  # an API key with calls.write
    agent_id: str
    number: str


async def _line(platform: Platform, scopes: tuple[str, ...] = ("calls.write",)) -> Line:
    owner = await platform.api.person(tag="owner")
    agent_id = await platform.published_agent(owner)
    number = (await platform.number(owner, agent_id))["number"]
    key = await platform.api.api_key(owner, list(scopes))
    return Line(owner, {"Authorization": f"Bearer {key}"}, agent_id, number)


async def test_an_outbound_call_is_placed_from_the_organisations_number(
    platform: Platform, rest_fake: TwilioRestFake
) -> None:
    line = await _line(platform)
    http = platform.api.client
    placed = await http.post(
        "/v1/calls", json={"to": "+1 555 123 4567", "agent_id": line.agent_id}, headers=line.key
    )
    assert placed.status_code == 201, placed.text
    call_sid = placed.json()["call_sid"]
    made = rest_fake.calls[call_sid]
    assert (made.to, made.from_) == ("+15551234567", line.number)
    assert made.url == f"{BASE}/telephony/twilio/voice?agent={line.agent_id}"
    assert made.status_callback == f"{BASE}/telephony/twilio/status"
    record = await platform.ok("GET", f"/v1/calls/{call_sid}", line.owner)
    assert (record["status"], record["direction"], record["agent_id"]) == (
        "queued",
        "outbound",
        line.agent_id,
    )
    log = await platform.ok("GET", "/v1/audit", line.owner)
    assert any(e["action"] == "calls.create" and e["details"]["call_sid"] == call_sid
               for e in log)  # fmt: skip


async def test_a_live_call_is_transferred_and_hung_up(
    platform: Platform, rest_fake: TwilioRestFake
) -> None:
    line = await _line(platform)
    http = platform.api.client
    placed = await http.post(
        "/v1/calls", json={"to": "+15551234567", "agent_id": line.agent_id}, headers=line.key
    )
    assert placed.status_code == 201, placed.text
    call_sid = placed.json()["call_sid"]
    moved = await http.post(
        f"/v1/calls/{call_sid}/transfer", json={"to": "+1 555 999 0000"}, headers=line.key
    )
    assert moved.status_code == 200 and moved.json()["status"] == "transferring"
    assert rest_fake.calls[call_sid].twiml_updates == [DIAL]
    bad = await http.post(f"/v1/calls/{call_sid}/transfer", json={"to": "0800"}, headers=line.key)
    assert bad.status_code == 422
    # A member's login with the permission works as well as a key.
    ended = await platform.api.call("POST", f"/v1/calls/{call_sid}/hangup", line.owner)
    assert ended.status_code == 200 and rest_fake.calls[call_sid].status == "completed"
    again = await http.post(f"/v1/calls/{call_sid}/hangup", headers=line.key)
    assert again.status_code == 409  # Twilio: the call is over
    assert rest_fake.requests[-1].body == {"Status": "completed"}


async def test_another_organisations_call_is_not_found(
    platform: Platform, rest_fake: TwilioRestFake
) -> None:
    a, b = await _line(platform), await _line(platform)
    http = platform.api.client
    placed = await http.post(
        "/v1/calls", json={"to": "+15551234567", "agent_id": a.agent_id}, headers=a.key
    )
    call_sid = placed.json()["call_sid"]
    requests_before = len(rest_fake.requests)
    for path, body in (
        (f"/v1/calls/{call_sid}/hangup", None),
        (f"/v1/calls/{call_sid}/transfer", {"to": "+15559990000"}),
    ):
        r = await http.post(path, json=body, headers=b.key)
        assert r.status_code == 404, (path, r.text)
    assert (await http.get(f"/v1/calls/{call_sid}", headers=b.key)).status_code == 403  # no read
    assert (await platform.api.call("GET", f"/v1/calls/{call_sid}", b.owner)).status_code == 404
    # B can neither call with A's agent nor from A's number.
    with_a_agent = await http.post(
        "/v1/calls", json={"to": "+15551234567", "agent_id": a.agent_id}, headers=b.key
    )
    from_a_number = await http.post(
        "/v1/calls",
        json={"to": "+15551234567", "agent_id": b.agent_id, "from": a.number},
        headers=b.key,
    )
    assert (with_a_agent.status_code, from_a_number.status_code) == (404, 404)
    assert len(rest_fake.requests) == requests_before  # Twilio never heard of any of it
    assert rest_fake.calls[call_sid].status == "queued"


async def test_call_control_needs_the_permission_and_a_credential(
    platform: Platform, rest_fake: TwilioRestFake
) -> None:
    line = await _line(platform, scopes=("calls.read", "agents.read"))
    http = platform.api.client
    body = {"to": "+15551234567", "agent_id": line.agent_id}
    assert (await http.post("/v1/calls", json=body, headers=line.key)).status_code == 403
    assert (await http.post("/v1/calls", json=body)).status_code == 401
    wrong = {"Authorization": "Bearer cap_not_a_key"}
    assert (await http.post("/v1/calls", json=body, headers=wrong)).status_code == 401
    viewer = await platform.api.member(line.owner.org_id or "", "viewer")
    assert (await platform.api.call("POST", "/v1/calls", viewer, json=body)).status_code == 403
    assert rest_fake.calls == {}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"to": "12345"}, 422),
        ({"to": "+15551234567", "agent_id": "ghost"}, 404),
        ({"agent_id": None}, 422),
        ({"to": "+15551234567", "surprise": 1}, 422),
        ({"to": "+15551234567", "from": "+15550000001"}, 404),  # not one of ours
    ],
)
async def test_bad_outbound_call_requests_are_refused(
    platform: Platform, rest_fake: TwilioRestFake, body: dict[str, object], status: int
) -> None:
    line = await _line(platform)
    full = {"agent_id": line.agent_id, **body}
    if full.get("agent_id") is None:
        del full["agent_id"]
    response = await platform.api.client.post("/v1/calls", json=full, headers=line.key)
    assert response.status_code == status, response.text
    assert rest_fake.calls == {}


async def test_an_organisation_needs_a_number_and_a_published_agent(
    platform: Platform, rest_fake: TwilioRestFake
) -> None:
    owner = await platform.api.person(tag="owner")
    agent_id = await platform.published_agent(owner)
    draft_id = await platform.published_agent(owner, publish=False)
    body = {"to": "+15551234567", "agent_id": agent_id}
    no_number = await platform.api.call("POST", "/v1/calls", owner, json=body)
    assert no_number.status_code == 409 and "no phone number" in no_number.text
    number = (await platform.number(owner, draft_id))["number"]
    unpublished = await platform.api.call(
        "POST", "/v1/calls", owner, json={**body, "agent_id": draft_id}
    )
    assert unpublished.status_code == 422
    # The agent's own number is preferred; else any of the organisation's.
    placed = await platform.api.call("POST", "/v1/calls", owner, json=body)
    assert placed.status_code == 201
    assert rest_fake.calls[placed.json()["call_sid"]].from_ == number


async def test_twilio_failures_map_to_clear_statuses(
    platform: Platform, rest_fake: TwilioRestFake
) -> None:
    line = await _line(platform)
    http = platform.api.client
    rest_fake.knobs.error_status = 503
    down = await http.post(
        "/v1/calls", json={"to": fresh_number(), "agent_id": line.agent_id}, headers=line.key
    )
    assert down.status_code == 502
    rest_fake.knobs.error_status = None
    bad_path = await http.post("/v1/calls/..%2F/hangup", headers=line.key)
    assert bad_path.status_code in (404, 422)
    control, platform.telephony.control = platform.telephony.control, None  # no account set
    try:
        off = await http.post(
            "/v1/calls", json={"to": fresh_number(), "agent_id": line.agent_id}, headers=line.key
        )
    finally:
        platform.telephony.control = control
    assert off.status_code == 503 and "CAP_TWILIO_ACCOUNT_SID" in off.text


async def test_a_revoked_key_or_a_suspended_organisation_controls_no_call(
    platform: Platform, rest_fake: TwilioRestFake
) -> None:
    line = await _line(platform)
    http = platform.api.client
    body = {"to": "+15551234567", "agent_id": line.agent_id}
    placed = await http.post("/v1/calls", json=body, headers=line.key)
    assert placed.status_code == 201
    call_sid = placed.json()["call_sid"]
    made = await platform.ok(
        "POST", "/v1/api-keys", line.owner, json={"name": "short-lived", "scopes": ["calls.write"]}
    )
    short = {"Authorization": f"Bearer {made['secret']}"}
    assert (await http.post("/v1/calls", json=body, headers=short)).status_code == 201
    await platform.ok("DELETE", f"/v1/api-keys/{made['id']}", line.owner)
    assert (await http.post("/v1/calls", json=body, headers=short)).status_code == 401
    admin = await platform.api.person(org=False, admin=True, tag="admin")
    await platform.ok(
        "POST", f"/v1/admin/orgs/{line.owner.org_id}/suspend", admin, json={"reason": "fraud"}
    )
    hang_up = await http.post(f"/v1/calls/{call_sid}/hangup", headers=line.key)
    assert hang_up.status_code == 403 and "suspended" in hang_up.text
    assert len(rest_fake.calls) == 2 and rest_fake.calls[call_sid].status == "queued"
