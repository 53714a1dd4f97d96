"""``cap call <number> --agent <id>``: place an outbound call from the command line.

With an organisation's API key holding ``calls.write`` (``--api-key``, by
default ``CAP_API_KEY`` from the environment), the call goes through the
running server's API (``POST /v1/calls`` at ``CAP_PUBLIC_URL``): from one of
that organisation's numbers, with one of its published agents, logged and
billed to it. Without a key, the call is placed directly through Twilio's REST
API for a *local* agent (no organisation), from ``CAP_TWILIO_CALLER_ID``.
Either way, once answered Twilio fetches the voice webhook of the running
server, which connects the callee to the agent.
"""

from __future__ import annotations

import asyncio
import os
import sys

import httpx

from telephony.errors import CallControlError, InvalidNumber, NotConfigured
from telephony.service import TwilioTelephony
from telephony.settings import TwilioSettings

API_KEY_ENV = "CAP_API_KEY"
API_TIMEOUT_SECS = 30.0


def call_command(
    number: str,
    agent_id: str,
    from_: str | None = None,
    *,
    public_url: str | None,
    secret_key: str,
    api_key: str | None = None,
) -> int:
    """Returns a process exit status; prints the call SID or the reason it failed.

    ``api_key`` None: ``CAP_API_KEY`` from the environment, if set."""
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV)
    if api_key:
        return _through_api(number, agent_id, from_, public_url=public_url, api_key=api_key)

    async def place() -> str:
        telephony = TwilioTelephony(TwilioSettings(), public_url=public_url, secret_key=secret_key)
        try:
            return await telephony.place_call(number, agent_id, from_)
        finally:
            await telephony.aclose()

    try:
        call_sid = asyncio.run(place())
    except (NotConfigured, InvalidNumber) as exc:
        print(f"cap call: {exc}", file=sys.stderr)
        return 2
    except CallControlError as exc:
        print(f"cap call: Twilio refused the call: {exc}", file=sys.stderr)
        return 1
    print(call_sid)
    return 0


def _through_api(
    number: str, agent_id: str, from_: str | None, *, public_url: str | None, api_key: str
) -> int:
    if not public_url:
        print("cap call: set CAP_PUBLIC_URL: where the server's API is (an API key was given)",
              file=sys.stderr)  # fmt: skip
        return 2
    body: dict[str, str] = {"to": number, "agent_id": agent_id}
    if from_:
        body["from"] = from_
    try:
        response = httpx.post(
            f"{public_url.rstrip('/')}/v1/calls",
            json=body,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=API_TIMEOUT_SECS,
        )
    except httpx.HTTPError as exc:
        print(f"cap call: the server at {public_url} did not answer: {exc}", file=sys.stderr)
        return 1
    if response.status_code != 201:
        print(f"cap call: refused ({response.status_code}): {_message(response)}", file=sys.stderr)
        return 2 if response.status_code in (401, 403, 404, 409, 422) else 1
    print(response.json()["call_sid"])
    return 0


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
