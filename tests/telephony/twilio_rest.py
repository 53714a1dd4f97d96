"""A local fake of Twilio's REST API (the Calls resource), speaking its wire format.

Form-encoded requests with HTTP basic auth (account SID, auth token), JSON
responses shaped like Twilio's, Twilio's JSON error body on failure. Fault
knobs come from the shared fake-server skeleton (``error_status``, latency).
``on_update`` lets a test play Twilio's part when a live call is redirected
(Twilio ends the media stream with ``stop``) or completed.
"""

from __future__ import annotations

import base64
import itertools
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.server import FakeServer

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token-0123456789abcdef"


@dataclass
class FakeCall:
    sid: str
    to: str
    from_: str
    url: str
    status: str = "queued"
    status_callback: str | None = None
    status_events: list[str] = field(default_factory=list)
    twiml_updates: list[str] = field(default_factory=list)


UpdateHook = Callable[[FakeCall, dict[str, str]], Awaitable[None]]


class TwilioRestFake(FakeServer):
    name = "twilio"

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        super().__init__(api_key=auth_token)
        self.account_sid = account_sid
        self.calls: dict[str, FakeCall] = {}
        self.on_update: UpdateHook | None = None
        self._sids = itertools.count(1)
        self._sid_prefix = secrets.token_hex(8)

    def routes(self) -> list[web.RouteDef]:
        base = "/2010-04-01/Accounts/{account}/Calls"
        return [
            web.post(base + ".json", self._create),
            web.post(base + "/{sid}.json", self._update),
        ]

    def _error(self, status: int, code: int, message: str) -> web.Response:
        body = {"code": code, "message": message, "more_info": "", "status": status}
        return web.json_response(body, status=status)

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        expected = base64.b64encode(f"{self.account_sid}:{self.api_key}".encode()).decode()
        return header == f"Basic {expected}" and request.match_info["account"] == self.account_sid

    def _resource(self, call: FakeCall) -> dict[str, object]:
        return {
            "sid": call.sid,
            "account_sid": self.account_sid,
            "to": call.to,
            "from": call.from_,
            "status": call.status,
            "direction": "outbound-api",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{call.sid}.json",
        }

    async def _create(self, request: web.Request) -> web.Response:
        form = await request.post()
        await self.record(request, {k: form.getall(k) for k in form})
        await self.before_first_byte()
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        if self.knobs.error_status:
            return self._error(self.knobs.error_status, 20500, "Internal Server Error")
        to, from_, url = form.get("To"), form.get("From"), form.get("Url")
        if not (isinstance(to, str) and isinstance(from_, str) and isinstance(url, str)):
            return self._error(400, 21201, "No 'To', 'From' or 'Url' specified")
        # Twilio's SIDs are unique everywhere (tests share one database across fakes).
        sid = f"CA{self._sid_prefix}{next(self._sids):016x}"
        callback = form.get("StatusCallback")
        call = FakeCall(
            sid,
            to,
            from_,
            url,
            status_callback=callback if isinstance(callback, str) else None,
            status_events=[str(e) for e in form.getall("StatusCallbackEvent", [])],
        )
        self.calls[sid] = call
        return web.json_response(self._resource(call), status=201)

    async def _update(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {k: str(v) for k, v in form.items()}
        await self.record(request, fields)
        await self.before_first_byte()
        if not self._authorized(request):
            return self._error(401, 20003, "Authenticate")
        call = self.calls.get(request.match_info["sid"])
        if call is None:
            return self._error(404, 20404, "The requested resource was not found")
        if call.status == "completed":
            return self._error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if "Twiml" in fields:
            call.twiml_updates.append(fields["Twiml"])
            call.status = "in-progress"
        if fields.get("Status") == "completed":
            call.status = "completed"
        if self.on_update is not None:
            await self.on_update(call, fields)
        return web.json_response(self._resource(call))

    def add_live_call(
        self, sid: str, to: str = "+15550001111", from_: str = "+15557770000"
    ) -> None:
        """An inbound call Twilio knows about (so updates to it succeed)."""
        self.calls[sid] = FakeCall(sid, to, from_, url="", status="in-progress")
