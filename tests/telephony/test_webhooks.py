"""The voice and status webhooks on a bare app (file directory), over ASGI (no socket)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from control_plane.voice.runtime import VoiceRuntime
from telephony.errors import CallControlError, InvalidNumber, NotConfigured
from telephony.hours import BusinessHours
from telephony.numbers import AfterHours, InMemoryNumberDirectory, NumberRoute
from telephony.service import TwilioTelephony
from telephony.signature import SignatureChecker
from tests.telephony.support import (
    AGENT_NUMBER,
    CALLER,
    call_params,
    fake_agent,
    fake_registry,
    make_app,
    parse_stream,
    twilio_post,
)
from tests.telephony.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, TwilioRestFake

BASE = "http://testserver"
VOICE = f"{BASE}/telephony/twilio/voice"
STATUS = f"{BASE}/telephony/twilio/status"
CALL_SID = "CA" + "2" * 32
MONDAY_NOON_UTC = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SUNDAY_NOON_UTC = datetime(2026, 1, 4, 12, 0, tzinfo=UTC)
WEEKDAYS = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}


def new_runtime() -> VoiceRuntime:
    return VoiceRuntime(fake_registry(), {"default": fake_agent(), "sales": fake_agent("sales")})


@asynccontextmanager
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url=BASE) as http:
        yield http


def tags(twiml: str) -> list[str]:
    return [element.tag for element in ET.fromstring(twiml).iter()]


# ---------------------------------------------------------------- voice webhook


async def test_a_signed_call_is_connected_to_the_numbers_agent() -> None:
    app = make_app(new_runtime())
    telephony: TwilioTelephony = app.state.telephony
    async with client(app) as http:
        response = await twilio_post(http, VOICE, call_params(CALL_SID))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    stream = parse_stream(response.text)
    assert stream.url == "ws://testserver/telephony/twilio/media"
    params = stream.parameters
    assert (params["agent"], params["number"], params["caller"]) == (
        "default",
        AGENT_NUMBER,
        CALLER,
    )
    assert telephony.tokens.verify(params["token"], CALL_SID, "default", AGENT_NUMBER)
    record = await telephony.calls.get(CALL_SID)
    assert record is not None and record.status == "ringing" and record.agent_id == "default"


@pytest.mark.parametrize(
    "tamper",
    ["signature", "param", "missing", "extra_param", "url"],
)
async def test_a_bad_signature_is_refused_with_403(tamper: str) -> None:
    app = make_app(new_runtime())
    params = call_params(CALL_SID)
    async with client(app) as http:
        signature = SignatureChecker(AUTH_TOKEN).sign(VOICE, params)
        url, headers, data = VOICE, {"X-Twilio-Signature": signature}, dict(params)
        if tamper == "signature":
            headers["X-Twilio-Signature"] = signature[:-2] + (
                "A=" if signature[-2] != "A" else "B="
            )
        elif tamper == "param":
            data["From"] = "+15550000000"
        elif tamper == "missing":
            headers = {}
        elif tamper == "extra_param":
            data["Digits"] = "1"
        elif tamper == "url":
            url = VOICE + "?agent=sales"
        response = await http.post(url, data=data, headers=headers)
    assert response.status_code == 403
    assert await app.state.telephony.calls.get(CALL_SID) is None


async def test_behind_a_proxy_the_public_url_is_what_twilio_signed() -> None:
    app = make_app(new_runtime(), public_url="https://cap.example.com")
    public = "https://cap.example.com/telephony/twilio/voice"
    async with client(app) as http:
        params = call_params(CALL_SID)
        good = SignatureChecker(AUTH_TOKEN).sign(public, params)
        ok = await http.post(VOICE, data=params, headers={"X-Twilio-Signature": good})
        assert ok.status_code == 200
        assert parse_stream(ok.text).url == "wss://cap.example.com/telephony/twilio/media"
        # Signed over the URL as this process sees it: not what Twilio would have signed.
        seen = await twilio_post(http, VOICE, params)
        assert seen.status_code == 403


async def test_without_an_auth_token_no_webhook_is_trusted() -> None:
    app = make_app(new_runtime(), auth_token=None)
    async with client(app) as http:
        response = await twilio_post(http, VOICE, call_params(CALL_SID))
    assert response.status_code == 503


async def test_an_oversized_webhook_body_is_refused_before_parsing() -> None:
    app = make_app(new_runtime())
    async with client(app) as http:
        params = {**call_params(CALL_SID), "Junk": "x" * 70_000}
        response = await twilio_post(http, VOICE, params)
    assert response.status_code == 413


async def test_a_signed_webhook_without_a_call_sid_is_a_400() -> None:
    app = make_app(new_runtime())
    params = {k: v for k, v in call_params(CALL_SID).items() if k != "CallSid"}
    async with client(app) as http:
        response = await twilio_post(http, VOICE, params)
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("default_agent", "expected"),
    [(None, ["Response", "Say", "Hangup"]), ("sales", ["Response", "Connect", "Stream"])],
)
async def test_an_unlisted_number_gets_the_default_agent_or_is_not_in_service(
    default_agent: str | None, expected: list[str]
) -> None:
    app = make_app(new_runtime(), default_agent=default_agent)
    async with client(app) as http:
        response = await twilio_post(http, VOICE, call_params(CALL_SID, to="+15550004444"))
    assert response.status_code == 200
    assert tags(response.text)[: len(expected)] == expected
    if default_agent:
        assert parse_stream(response.text).parameters["agent"] == "sales"


async def test_a_number_whose_agent_is_gone_is_not_in_service() -> None:
    numbers = InMemoryNumberDirectory({AGENT_NUMBER: NumberRoute(AGENT_NUMBER, "deleted")})
    app = make_app(new_runtime(), numbers=numbers)
    async with client(app) as http:
        response = await twilio_post(http, VOICE, call_params(CALL_SID))
    assert "not in service" in response.text and tags(response.text)[-1] == "Hangup"


@pytest.mark.parametrize(
    ("now", "after_hours", "expected"),
    [
        (MONDAY_NOON_UTC, AfterHours(), ["Response", "Connect", "Stream", "Parameter"]),
        (SUNDAY_NOON_UTC, AfterHours(message="Closed on Sundays."), ["Response", "Say", "Hangup"]),
        (SUNDAY_NOON_UTC, AfterHours(forward_to="+15553334444"), ["Response", "Dial"]),
    ],
)
async def test_outside_business_hours_a_message_plays_or_the_call_is_forwarded(
    now: datetime, after_hours: AfterHours, expected: list[str]
) -> None:
    route = NumberRoute(
        AGENT_NUMBER, "default", BusinessHours.parse("UTC", WEEKDAYS), after_hours=after_hours
    )
    app = make_app(
        new_runtime(), numbers=InMemoryNumberDirectory({AGENT_NUMBER: route}), now=lambda: now
    )
    async with client(app) as http:
        response = await twilio_post(http, VOICE, call_params(CALL_SID))
    assert tags(response.text)[: len(expected)] == expected
    if "Dial" in expected:
        assert "<Dial>+15553334444</Dial>" in response.text
    if "Say" in expected:
        assert "Closed on Sundays." in response.text


async def test_outbound_calls_name_their_agent_in_the_signed_url_and_skip_hours() -> None:
    route = NumberRoute(AGENT_NUMBER, "default", BusinessHours.parse("UTC", WEEKDAYS))
    app = make_app(
        new_runtime(),
        numbers=InMemoryNumberDirectory({AGENT_NUMBER: route}),
        now=lambda: SUNDAY_NOON_UTC,
    )
    params = call_params(CALL_SID, to="+15551234567", from_=AGENT_NUMBER, direction="outbound-api")
    async with client(app) as http:
        response = await twilio_post(http, VOICE + "?agent=sales", params)
    stream = parse_stream(response.text)
    assert stream.parameters["agent"] == "sales" and stream.parameters["number"] == AGENT_NUMBER


# ---------------------------------------------------------------- status callbacks


async def test_status_callbacks_are_recorded_for_usage() -> None:
    app = make_app(new_runtime())
    telephony: TwilioTelephony = app.state.telephony
    async with client(app) as http:
        for status, extra in (
            ("ringing", {}),
            ("in-progress", {}),
            ("completed", {"CallDuration": "61"}),
        ):
            params = {**call_params(CALL_SID), "CallStatus": status, **extra}
            assert (await twilio_post(http, STATUS, params)).status_code == 204
        bad = {**call_params(CALL_SID), "CallStatus": "exploded"}
        assert (await twilio_post(http, STATUS, bad)).status_code == 400
        forged = await http.post(STATUS, data={**call_params(CALL_SID), "CallStatus": "completed"})
        assert forged.status_code == 403
    record = await telephony.calls.get(CALL_SID)
    assert record is not None and record.status == "completed" and record.duration_secs == 61
    assert record.started_at and record.answered_at and record.ended_at


# ---------------------------------------------------------------- call control (service level)
# The HTTP API for call control is the control plane's /v1/calls:
# tests/telephony/test_platform_calls.py.


async def test_wrong_rest_credentials_are_a_final_error(rest_fake: TwilioRestFake) -> None:
    app = make_app(new_runtime(), api_base_url=rest_fake.http_url, auth_token="not-the-token")
    telephony: TwilioTelephony = app.state.telephony
    rest_fake.add_live_call(CALL_SID)
    with pytest.raises(CallControlError) as failed:
        await telephony.transfer_now(CALL_SID, "+15559990000")
    assert failed.value.status == 401 and not failed.value.retryable
    await telephony.aclose()
    assert ACCOUNT_SID in rest_fake.requests[-1].path


async def test_outbound_calls_need_a_public_url_and_a_caller_id(rest_fake: TwilioRestFake) -> None:
    app = make_app(new_runtime(), api_base_url=rest_fake.http_url)
    telephony: TwilioTelephony = app.state.telephony
    with pytest.raises(NotConfigured, match="CAP_PUBLIC_URL"):
        await telephony.place_call("+15551234567", "default")
    telephony.public_url = "https://cap.example.com"
    # An organisation's call never borrows the server's caller ID.
    with pytest.raises(NotConfigured, match="caller ID"):
        await telephony.place_call("+15551234567", "default", org_id="org-1")
    with pytest.raises(InvalidNumber):
        await telephony.place_call("12345", "default")
    assert rest_fake.calls == {}
    await telephony.aclose()


def test_the_full_app_mounts_the_telephony_routes(tmp_path: object) -> None:
    from control_plane.app import create_app
    from control_plane.settings import Settings

    app = create_app(Settings(data_dir=tmp_path))
    assert app.url_path_for("voice_webhook") == "/telephony/twilio/voice"
    assert app.url_path_for("media_stream") == "/telephony/twilio/media"
    assert app.url_path_for("calls.create") == "/v1/calls"
    assert app.url_path_for("numbers.list") == "/v1/numbers"
