"""``cap call``: places the call through Twilio's REST API (a local fake here)."""

from __future__ import annotations

import asyncio

import pytest

from control_plane.cli import main
from tests.telephony.support import AGENT_NUMBER
from tests.telephony.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, TwilioRestFake


@pytest.fixture
def twilio_env(monkeypatch: pytest.MonkeyPatch, rest_fake: TwilioRestFake) -> TwilioRestFake:
    monkeypatch.setenv("CAP_TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("CAP_TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("CAP_TWILIO_API_BASE_URL", rest_fake.http_url)
    monkeypatch.setenv("CAP_TWILIO_CALLER_ID", AGENT_NUMBER)
    monkeypatch.setenv("CAP_PUBLIC_URL", "https://cap.example.com")
    return rest_fake


async def test_cap_call_places_a_call_connected_to_the_agent(
    twilio_env: TwilioRestFake, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await asyncio.to_thread(main, ["call", "+1 555 123 4567", "--agent", "sales"])
    assert status == 0
    (call,) = twilio_env.calls.values()
    assert capsys.readouterr().out.strip() == call.sid
    assert (call.to, call.from_) == ("+15551234567", AGENT_NUMBER)
    assert call.url == "https://cap.example.com/telephony/twilio/voice?agent=sales"


async def test_cap_call_explains_what_is_missing(
    twilio_env: TwilioRestFake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CAP_PUBLIC_URL")
    assert await asyncio.to_thread(main, ["call", "+15551234567"]) == 2
    assert "CAP_PUBLIC_URL" in capsys.readouterr().err
    monkeypatch.setenv("CAP_PUBLIC_URL", "https://cap.example.com")
    assert await asyncio.to_thread(main, ["call", "12345"]) == 2
    assert "E.164" in capsys.readouterr().err
    twilio_env.knobs.error_status = 500
    assert await asyncio.to_thread(main, ["call", "+15551234567"]) == 1
    assert "refused" in capsys.readouterr().err
    assert twilio_env.calls == {}
