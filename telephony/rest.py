"""Live-call control through Twilio's REST API: place, transfer, hang up.

``CallControl`` is the interface the rest of telephony uses. ``TwilioCallControl``
drives twilio's own ``Client`` (so request shapes, auth and error parsing are
Twilio's), through an asyncio HTTP client of ours built on httpx: twilio's
``http_client`` hook is the supported way to swap transports, and its API
domain's ``base_url`` is how tests point it at a local fake of the REST API.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import httpx
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from telephony import metrics
from telephony.errors import CallControlError

log = logging.getLogger(__name__)

STATUS_EVENTS: Sequence[str] = ("initiated", "ringing", "answered", "completed")


class CallControl(Protocol):
    async def create_call(
        self, *, to: str, from_: str, url: str, status_callback: str | None = None
    ) -> str:
        """Place a call whose TwiML comes from ``url``; returns the call SID."""
        ...

    async def update_twiml(self, call_sid: str, twiml: str) -> None:
        """Replace what a live call is doing (a transfer is a ``<Dial>``)."""
        ...

    async def hang_up(self, call_sid: str) -> None: ...

    async def aclose(self) -> None: ...


class HttpxTwilioClient(AsyncHttpClient):  # type: ignore[misc]
    """twilio's async HTTP client contract, over one pooled ``httpx.AsyncClient``."""

    def __init__(self, timeout: float = 10.0) -> None:
        super().__init__(log, True, timeout)
        self._client = httpx.AsyncClient(timeout=timeout)

    # The signature is twilio's HttpClient contract, positional arguments and all.
    async def request(  # noqa: PLR0917
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
        allow_redirects: bool = False,
    ) -> Response:
        response = await self._client.request(
            method,
            url,
            params=params,  # type: ignore[arg-type]
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout or self.timeout,
            follow_redirects=allow_redirects,
        )
        return Response(response.status_code, response.text, response.headers)

    async def aclose(self) -> None:
        await self._client.aclose()


class TwilioCallControl:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        api_base_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._http = HttpxTwilioClient(timeout)
        self.client: Any = Client(account_sid, auth_token, http_client=self._http)
        if api_base_url:
            self.client.api.base_url = api_base_url.rstrip("/")

    async def create_call(
        self, *, to: str, from_: str, url: str, status_callback: str | None = None
    ) -> str:
        extra: dict[str, Any] = {}
        if status_callback:
            extra = {
                "status_callback": status_callback,
                "status_callback_event": list(STATUS_EVENTS),
                "status_callback_method": "POST",
            }
        call = await self._run(
            "create", self.client.calls.create_async(to=to, from_=from_, url=url, **extra)
        )
        sid: str = call.sid
        return sid

    async def update_twiml(self, call_sid: str, twiml: str) -> None:
        await self._run("update", self.client.calls(call_sid).update_async(twiml=twiml))

    async def hang_up(self, call_sid: str) -> None:
        await self._run("hangup", self.client.calls(call_sid).update_async(status="completed"))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _run(self, operation: str, request: Any) -> Any:
        try:
            result = await request
        except TwilioRestException as exc:
            metrics.REST_CALLS.labels(operation, "error").inc()
            raise CallControlError(f"twilio {operation}: {exc.msg}", status=exc.status) from exc
        except (TwilioException, httpx.HTTPError) as exc:
            metrics.REST_CALLS.labels(operation, "error").inc()
            raise CallControlError(f"twilio {operation}: {exc}") from exc
        metrics.REST_CALLS.labels(operation, "ok").inc()
        return result
