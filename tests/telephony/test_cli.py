"""``cap call``: places the call through Twilio's REST API (a local fake here), or
with an API key (``--api-key``, else ``CAP_API_KEY``) through the organisation's
``/v1/calls``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from control_plane.cli import main
from tests.telephony.platform import platform_app
from tests.telephony.support import AGENT_NUMBER
from tests.telephony.twilio_rest import ACCOUNT_SID, AUTH_TOKEN, TwilioRestFake
from tests.tenancy.backends import Backend


@pytest.fixture
def twilio_env(monkeypatch: pytest.MonkeyPatch, rest_fake: TwilioRestFake) -> TwilioRestFake:
    monkeypatch.setenv("CAP_TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("CAP_TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("CAP_TWILIO_API_BASE_URL", rest_fake.http_url)
    monkeypatch.setenv("CAP_TWILIO_CALLER_ID", AGENT_NUMBER)
    monkeypatch.setenv("CAP_PUBLIC_URL", "https://cap.example.com")
    monkeypatch.delenv("CAP_API_KEY", raising=False)  # the direct path, for a local agent
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


async def test_with_an_api_key_cap_call_goes_through_the_organisations_api(
    rest_fake: TwilioRestFake,
    sqlite_backend: Backend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with platform_app(
        sqlite_backend, tmp_path, rest_url=rest_fake.http_url, serve=True
    ) as platform:
        owner = await platform.api.person(tag="owner")
        agent_id = await platform.published_agent(owner)
        number = (await platform.number(owner, agent_id))["number"]
        monkeypatch.setenv("CAP_API_KEY", await platform.api.api_key(owner, ["calls.write"]))
        monkeypatch.setenv("CAP_PUBLIC_URL", platform.base)
        status = await asyncio.to_thread(main, ["call", "+15551234567", "--agent", agent_id])
        assert status == 0, capsys.readouterr().err
        (call,) = rest_fake.calls.values()
        assert capsys.readouterr().out.strip() == call.sid
        assert (call.to, call.from_) == ("+15551234567", number)
        record = await platform.api.call("GET", f"/v1/calls/{call.sid}", owner)
        assert record.json()["agent_id"] == agent_id

        # Another organisation's agent is not found; a key without calls.write is refused.
        assert await asyncio.to_thread(main, ["call", "+15551234567", "--agent", "ghost"]) == 2
        assert "(404)" in capsys.readouterr().err
        read_only = await platform.api.api_key(owner, ["calls.read"])
        monkeypatch.setenv("CAP_API_KEY", read_only)
        assert await asyncio.to_thread(main, ["call", "+15551234567", "--agent", agent_id]) == 2
        assert "(403)" in capsys.readouterr().err

        # --api-key is used instead of the environment's key, and without one.
        writer = await platform.api.api_key(owner, ["calls.write"])
        argv = ["call", "+15551234568", "--agent", agent_id, "--api-key", writer]
        assert await asyncio.to_thread(main, argv) == 0, capsys.readouterr().err
        monkeypatch.delenv("CAP_API_KEY")
        assert await asyncio.to_thread(main, [*argv[:-1], read_only]) == 2
        assert "(403)" in capsys.readouterr().err
        assert await asyncio.to_thread(main, argv) == 0, capsys.readouterr().err
    assert sorted(c.to for c in rest_fake.calls.values()) == [
        "+15551234567",
        "+15551234568",
        "+15551234568",
    ]


async def test_an_api_key_option_sends_the_call_to_the_api_not_twilio(
    twilio_env: TwilioRestFake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CAP_PUBLIC_URL")
    argv = ["call", "+15551234567", "--api-key", "cap_given"]
    assert await asyncio.to_thread(main, argv) == 2
    assert "an API key was given" in capsys.readouterr().err
    # An unreachable server is reported; Twilio is never asked directly.
    monkeypatch.setenv("CAP_PUBLIC_URL", "http://127.0.0.1:9")
    assert await asyncio.to_thread(main, argv) == 1
    assert "did not answer" in capsys.readouterr().err
    assert twilio_env.calls == {}
