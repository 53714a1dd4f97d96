"""Phone numbers as control-plane resources, and the voice webhook resolving the
called number through them: number -> organisation -> the agent's published
version. A suspended organisation, an unknown number or an unpublished agent
gets a clear TwiML answer and is counted. Both storage backends."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from control_plane.numbers.lines import LineAgentMissing, LineRefused, PhoneLineHost
from tests.control_plane.support import Person
from tests.telephony.platform import (
    STATUS,
    VOICE,
    Platform,
    fresh_number,
    fresh_sid,
    platform_app,
)
from tests.telephony.support import call_params, parse_stream, twilio_post
from tests.tenancy.backends import Backend

ALWAYS = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


@pytest.fixture
async def platform(backend: Backend, tmp_path: Path) -> AsyncIterator[Platform]:
    async with platform_app(backend, tmp_path) as built:
        yield built


def tags(twiml: str) -> list[str]:
    return [element.tag for element in ET.fromstring(twiml).iter()]


def refused(outcome: str) -> float:
    value = REGISTRY.get_sample_value(
        "cap_twilio_webhooks_total", {"endpoint": "voice", "outcome": outcome}
    )
    return value or 0.0


async def _owner(platform: Platform) -> Person:
    return await platform.api.person(tag="owner")


async def test_a_number_created_by_api_answers_with_its_agents_stream(platform: Platform) -> None:
    owner = await _owner(platform)
    agent_id = await platform.published_agent(owner)
    number = await platform.number(owner, agent_id, label="Front desk")
    assert number["number"].startswith("+1555") and number["agent_id"] == agent_id

    call_sid = fresh_sid()
    http = platform.api.client
    answer = await twilio_post(http, VOICE, call_params(call_sid, to=number["number"]))
    assert answer.status_code == 200
    stream = parse_stream(answer.text)
    assert stream.url == "ws://cap.test/telephony/twilio/media"
    assert stream.parameters["agent"] == agent_id
    assert stream.parameters["number"] == number["number"]
    assert platform.telephony.tokens.verify(
        stream.parameters["token"], call_sid, agent_id, number["number"]
    )
    # The call is in the organisation's log, and nowhere else.
    record = await platform.telephony.calls.get(call_sid)
    assert record is not None and record.org_id == owner.org_id and record.agent_id == agent_id
    other = await platform.api.person(tag="other")
    seen = await platform.api.call("GET", f"/v1/calls/{call_sid}", other)
    assert seen.status_code == 404


async def test_the_media_stream_host_resolves_the_published_version(platform: Platform) -> None:
    owner = await _owner(platform)
    agent_id = await platform.published_agent(owner)
    await platform.ok(
        "PATCH", f"/v1/agents/{agent_id}", owner, json={"config": {"system_prompt": "Draft only."}}
    )
    host = platform.app.state.telephony_host
    assert isinstance(host, PhoneLineHost)
    spec = await host.resolve(agent_id, None)
    assert spec.id == agent_id and spec.org_id == owner.org_id
    assert "Draft only." not in spec.system_prompt  # the published version, not the draft
    # Agents the control plane does not hold are the runtime's local agents.
    assert (await host.resolve("default", None)).id == "default"
    with pytest.raises(LookupError):
        await host.resolve("ghost", None)


async def test_an_unpublished_agent_or_an_unknown_number_is_not_in_service(
    platform: Platform,
) -> None:
    owner = await _owner(platform)
    draft_agent = await platform.published_agent(owner, publish=False)
    number = await platform.number(owner, draft_agent)
    before = refused("not_published"), refused("unknown_number")
    http = platform.api.client
    draft = await twilio_post(http, VOICE, call_params(fresh_sid(), to=number["number"]))
    unknown = await twilio_post(http, VOICE, call_params(fresh_sid(), to=fresh_number()))
    assert tags(draft.text) == ["Response", "Say", "Hangup"]
    assert "nobody can take your call" in draft.text
    assert tags(unknown.text) == ["Response", "Say", "Hangup"]
    assert "not in service" in unknown.text
    assert (refused("not_published"), refused("unknown_number")) == (before[0] + 1, before[1] + 1)
    # The media stream refuses the same agent (its host says why).
    with pytest.raises(LineAgentMissing):
        await platform.app.state.telephony_host.resolve(draft_agent, None)


async def test_a_suspended_organisation_is_rejected_unanswered(platform: Platform) -> None:
    owner = await _owner(platform)
    agent_id = await platform.published_agent(owner)
    number = await platform.number(owner, agent_id)
    admin = await platform.api.person(org=False, admin=True, tag="admin")
    await platform.ok(
        "POST", f"/v1/admin/orgs/{owner.org_id}/suspend", admin, json={"reason": "unpaid"}
    )
    before = refused("org_suspended")
    http = platform.api.client
    answer = await twilio_post(http, VOICE, call_params(fresh_sid(), to=number["number"]))
    assert answer.status_code == 200
    assert tags(answer.text) == ["Response", "Reject"]
    assert refused("org_suspended") == before + 1
    # A stream that was admitted before the suspension cannot open its session now.
    with pytest.raises(LineRefused):
        await platform.app.state.telephony_host.resolve(agent_id, None)
    # Reactivated: the number answers again.
    await platform.ok("POST", f"/v1/admin/orgs/{owner.org_id}/reactivate", admin)
    http = platform.api.client
    again = await twilio_post(http, VOICE, call_params(fresh_sid(), to=number["number"]))
    assert parse_stream(again.text).parameters["agent"] == agent_id


async def test_business_hours_play_the_message_or_forward(platform: Platform) -> None:
    owner = await _owner(platform)
    agent_id = await platform.published_agent(owner)
    closed = {"timezone": "Europe/Paris", "days": {}}  # no window: always closed
    message = await platform.number(
        owner,
        agent_id,
        hours=closed,
        after_hours={"action": "message", "message": "Back on Monday."},
    )
    forward = await platform.number(
        owner,
        agent_id,
        hours=closed,
        after_hours={"action": "forward", "forward_to": "+1 555 999 0000"},
    )
    open_ = await platform.number(
        owner, agent_id, hours={"timezone": "America/New_York", "days": ALWAYS}
    )
    http = platform.api.client
    said = await twilio_post(http, VOICE, call_params(fresh_sid(), to=message["number"]))
    dialed = await twilio_post(http, VOICE, call_params(fresh_sid(), to=forward["number"]))
    streamed = await twilio_post(http, VOICE, call_params(fresh_sid(), to=open_["number"]))
    assert tags(said.text) == ["Response", "Say", "Hangup"] and "Back on Monday." in said.text
    assert "<Dial>+15559990000</Dial>" in dialed.text
    assert parse_stream(streamed.text).parameters["agent"] == agent_id


async def test_number_crud_validation_and_audit(platform: Platform) -> None:
    owner = await _owner(platform)
    agent_id = await platform.published_agent(owner)
    created = await platform.number(
        owner,
        agent_id,
        transfer_to="+15559990000",
        dtmf={"0": "transfer", "9": "hangup", "1": "text:The caller wants sales."},
    )
    number_id = created["id"]
    assert created["dtmf"]["0"] == "transfer" and created["hours"] is None
    listed = await platform.ok("GET", "/v1/numbers", owner)
    assert [n["id"] for n in listed] == [number_id]

    patched = await platform.ok(
        "PATCH",
        f"/v1/numbers/{number_id}",
        owner,
        json={"hours": {"timezone": "Asia/Tokyo", "days": {"sat": ["10:00-14:00"]}}},
    )
    assert patched["hours"] == {"timezone": "Asia/Tokyo", "days": {"sat": ["10:00-14:00"]}}
    assert patched["dtmf"] == created["dtmf"]  # untouched fields stay
    cleared = await platform.ok("PATCH", f"/v1/numbers/{number_id}", owner, json={"hours": None})
    assert cleared["hours"] is None

    bad_bodies = [
        {"number": "12345", "agent_id": agent_id},  # not E.164
        {"number": "+1555abc0000", "agent_id": agent_id},
        {"number": fresh_number(), "agent_id": agent_id, "hours": {"timezone": "Mars/Base"}},
        {
            "number": fresh_number(),
            "agent_id": agent_id,
            "hours": {"timezone": "UTC", "days": {"mon": ["17:00-09:00"]}},
        },
        {"number": fresh_number(), "agent_id": agent_id, "hours": {"timezone": "UTC",
                                                                   "days": {"funday": []}}},
        {"number": fresh_number(), "agent_id": agent_id, "after_hours": {"action": "forward"}},
        {"number": fresh_number(), "agent_id": agent_id, "dtmf": {"0": "transfer"}},  # to whom?
        {"number": fresh_number(), "agent_id": agent_id, "dtmf": {"x": "hangup"}},
        {"number": fresh_number(), "agent_id": agent_id, "surprise": 1},
    ]  # fmt: skip
    for body in bad_bodies:
        r = await platform.api.call("POST", "/v1/numbers", owner, json=body)
        assert r.status_code == 422, (body, r.text)
    missing = await platform.api.call(
        "POST", "/v1/numbers", owner, json={"number": fresh_number(), "agent_id": "ghost"}
    )
    assert missing.status_code == 404

    # The agent cannot be deleted while a number points at it.
    in_use = await platform.api.call("DELETE", f"/v1/agents/{agent_id}", owner)
    assert in_use.status_code == 409

    deleted = await platform.ok("DELETE", f"/v1/numbers/{number_id}", owner)
    assert deleted == {"id": number_id, "deleted": True}
    gone = await platform.api.call("GET", f"/v1/numbers/{number_id}", owner)
    assert gone.status_code == 404
    log = await platform.ok("GET", "/v1/audit", owner)
    actions = [entry["action"] for entry in log]
    for action in ("numbers.create", "numbers.update", "numbers.delete"):
        assert action in actions


async def test_a_number_belongs_to_one_organisation(platform: Platform) -> None:
    a, b = await _owner(platform), await _owner(platform)
    a_agent, b_agent = await platform.published_agent(a), await platform.published_agent(b)
    taken = await platform.number(a, a_agent)
    # Any spelling of the same number is the same number.
    spaced = taken["number"][:2] + " " + taken["number"][2:5] + "-" + taken["number"][5:]
    claim = await platform.api.call(
        "POST", "/v1/numbers", b, json={"number": spaced, "agent_id": b_agent}
    )
    assert claim.status_code == 409
    assert a.org_id not in claim.text and taken["id"] not in claim.text
    # B's request failed, but its transaction was not poisoned: B can add its own.
    mine = await platform.number(b, b_agent)
    assert mine["agent_id"] == b_agent
    # B cannot point its number at A's agent.
    crossed = await platform.api.call(
        "PATCH", f"/v1/numbers/{mine['id']}", b, json={"agent_id": a_agent}
    )
    assert crossed.status_code == 404


async def test_status_callbacks_are_billed_to_the_numbers_organisation(
    platform: Platform,
) -> None:
    owner = await _owner(platform)
    other = await _owner(platform)
    agent_id = await platform.published_agent(owner)
    number = await platform.number(owner, agent_id)
    call_sid = fresh_sid()
    params = call_params(call_sid, to=number["number"])
    http = platform.api.client
    await twilio_post(http, VOICE, params)
    answered = await twilio_post(http, STATUS, {**params, "CallStatus": "in-progress"})
    done = await twilio_post(
        http, STATUS, {**params, "CallStatus": "completed", "CallDuration": "61"}
    )
    # Late and out of order: a final status is never overwritten.
    late = await twilio_post(http, STATUS, {**params, "CallStatus": "ringing"})
    # A callback for a call whose webhook never came: attributed by our number.
    early_sid = fresh_sid()
    early = await twilio_post(
        http,
        STATUS,
        {**call_params(early_sid, to=number["number"]), "CallStatus": "busy"},
    )
    assert {r.status_code for r in (answered, done, late, early)} == {204}
    record = await platform.ok("GET", f"/v1/calls/{call_sid}", owner)
    assert record["status"] == "completed" and record["duration_secs"] == 61
    assert record["started_at"] <= record["answered_at"] <= record["ended_at"]
    assert (await platform.ok("GET", f"/v1/calls/{early_sid}", owner))["status"] == "busy"
    listed = await platform.ok("GET", "/v1/calls", owner)
    assert {c["call_sid"] for c in listed} == {call_sid, early_sid}

    usage = await platform.ok("GET", "/v1/calls/usage", owner)
    assert (usage["calls"], usage["answered"], usage["billed_seconds"]) == (2, 1, 61)
    nothing = await platform.ok("GET", "/v1/calls/usage", other)
    assert (nothing["calls"], nothing["billed_seconds"]) == (0, 0)
    assert await platform.ok("GET", "/v1/calls", other) == []
    bad = await platform.api.call(
        "GET", "/v1/calls/usage?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", owner
    )
    assert bad.status_code == 422


async def test_concurrent_callbacks_for_one_call_fold_into_one_record(
    platform: Platform,
) -> None:
    owner = await _owner(platform)
    agent_id = await platform.published_agent(owner)
    number = await platform.number(owner, agent_id)
    call_sid = fresh_sid()
    params = call_params(call_sid, to=number["number"])
    http = platform.api.client
    statuses = [
        {**params, "CallStatus": "ringing"},
        {**params, "CallStatus": "in-progress"},
        {**params, "CallStatus": "completed", "CallDuration": "42"},
        {**params, "CallStatus": "ringing"},
    ]
    # No voice webhook first: every callback races to create the record.
    answers = await asyncio.gather(*(twilio_post(http, STATUS, s) for s in statuses))
    assert [a.status_code for a in answers] == [204] * len(statuses)
    calls = await platform.ok("GET", "/v1/calls", owner)
    assert [c["call_sid"] for c in calls] == [call_sid]
    (record,) = calls
    assert record["status"] == "completed" and record["duration_secs"] == 42


async def test_numbers_the_control_plane_does_not_hold_fall_back_to_the_file(
    backend: Backend, tmp_path: Path
) -> None:
    file_number, shared = fresh_number(), fresh_number()
    numbers = tmp_path / "numbers.toml"
    numbers.write_text(
        f'[numbers."{file_number}"]\nagent = "default"\n[numbers."{shared}"]\nagent = "default"\n'
    )
    async with platform_app(backend, tmp_path, numbers_file=numbers) as platform:
        owner = await _owner(platform)
        agent_id = await platform.published_agent(owner)
        await platform.number(owner, agent_id, number=shared)
        http = platform.api.client
        local_sid = fresh_sid()
        local = await twilio_post(http, VOICE, call_params(local_sid, to=file_number))
        ours_sid = fresh_sid()
        ours = await twilio_post(http, VOICE, call_params(ours_sid, to=shared))
        # The file's number reaches the local agent; its call belongs to no organisation.
        assert parse_stream(local.text).parameters["agent"] == "default"
        record = await platform.telephony.calls.get(local_sid)
        assert record is not None and record.org_id is None
        listed = await platform.ok("GET", "/v1/calls", owner)
        assert [c["call_sid"] for c in listed] == [ours_sid]
        # The control plane wins where both know the number.
        assert parse_stream(ours.text).parameters["agent"] == agent_id
