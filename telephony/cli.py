"""``cap call <number> --agent <id>``: place an outbound call from the command line.

The call is placed through Twilio's REST API; once answered, Twilio fetches
the voice webhook of the running server (at the public URL), which connects
the callee to the agent.
"""

from __future__ import annotations

import asyncio
import sys

from telephony.errors import CallControlError, InvalidNumber, NotConfigured
from telephony.service import TwilioTelephony
from telephony.settings import TwilioSettings


def call_command(
    number: str,
    agent_id: str,
    from_: str | None = None,
    *,
    public_url: str | None,
    secret_key: str,
) -> int:
    """Returns a process exit status; prints the call SID or the reason it failed."""

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
