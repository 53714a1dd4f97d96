"""HTTP and WebSocket routes of the Twilio integration, mounted under /telephony/twilio.

- ``POST /voice``: Twilio's voice webhook; answers TwiML.
- ``WS /media``: the Media Streams socket.
- ``POST /status``: Twilio's call status callbacks, recorded in the call log.
- ``POST /calls``, ``POST /calls/{sid}/transfer``, ``POST /calls/{sid}/hangup``:
  outbound calls and live-call control for API users (bearer token for now).

Every Twilio request is signature-checked before anything else (403).
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    HTTPException,
    Path,
    Request,
    Response,
    WebSocket,
)
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import FormData

from telephony import metrics
from telephony.errors import CallControlError, InvalidNumber, NotConfigured
from telephony.host import SessionHost
from telephony.service import PREFIX, BadWebhook, TwilioTelephony
from telephony.settings import TwilioSettings
from telephony.signature import SIGNATURE_HEADER, signed_url
from telephony.socket import serve_media_stream

T = TypeVar("T")

MAX_WEBHOOK_BYTES = 64 * 1024  # Twilio's form bodies are a few hundred bytes
XML = "application/xml"


def build_telephony(app: FastAPI) -> TwilioTelephony:
    """From ``CAP_TWILIO_*`` and the app's own settings (public URL, secret key)."""
    app_settings = getattr(app.state, "settings", None)
    return TwilioTelephony(
        TwilioSettings(),
        public_url=getattr(app_settings, "public_url", None),
        secret_key=getattr(app_settings, "secret_key", "dev-insecure-change-me"),
    )


@asynccontextmanager
async def telephony_lifespan(app: FastAPI) -> AsyncIterator[None]:
    telephony: TwilioTelephony | None = getattr(app.state, "telephony", None)
    if telephony is None:
        telephony = build_telephony(app)
        app.state.telephony = telephony
    try:
        yield
    finally:
        await telephony.aclose()


router = APIRouter(prefix=PREFIX, tags=["telephony"], lifespan=telephony_lifespan)


def _telephony(request: Request) -> TwilioTelephony:
    telephony: TwilioTelephony = request.app.state.telephony
    return telephony


def _host(request: Request) -> SessionHost:
    host: SessionHost = request.app.state.voice
    return host


Telephony = Annotated[TwilioTelephony, Depends(_telephony)]
CallSid = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{2,64}$")]


async def _signed_form(request: Request, telephony: TwilioTelephony, endpoint: str) -> FormData:
    if telephony.checker is None:
        metrics.WEBHOOKS.labels(endpoint, "not_configured").inc()
        raise HTTPException(503, "telephony is not configured (CAP_TWILIO_AUTH_TOKEN)")
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        metrics.WEBHOOKS.labels(endpoint, "bad_request").inc()
        raise HTTPException(411, "webhooks must declare their Content-Length")
    if int(length) > MAX_WEBHOOK_BYTES:
        metrics.WEBHOOKS.labels(endpoint, "bad_request").inc()
        raise HTTPException(413, f"webhook bodies are at most {MAX_WEBHOOK_BYTES} bytes")
    form = await request.form(max_files=0, max_fields=200)
    url = signed_url(telephony.public_url, str(request.url))
    if not telephony.verify(url, form, request.headers.get(SIGNATURE_HEADER)):
        metrics.WEBHOOKS.labels(endpoint, "bad_signature").inc()
        raise HTTPException(403, "invalid Twilio signature")
    return form


@router.post("/voice", response_class=Response)
async def voice_webhook(request: Request, telephony: Telephony) -> Response:
    form = await _signed_form(request, telephony, "voice")
    agent = request.query_params.get("agent")  # outbound calls: part of the signed URL
    try:
        answer = await telephony.answer(
            form,
            stream_url=telephony.stream_url(str(request.base_url)),
            agent_override=agent,
            host=_host(request),
        )
    except BadWebhook as exc:
        metrics.WEBHOOKS.labels("voice", "bad_request").inc()
        raise HTTPException(400, str(exc)) from exc
    return Response(answer.twiml, media_type=XML)


@router.post("/status", status_code=204, response_class=Response)
async def status_callback(request: Request, telephony: Telephony) -> Response:
    form = await _signed_form(request, telephony, "status")
    try:
        await telephony.record_status(form)
    except BadWebhook as exc:
        raise HTTPException(400, str(exc)) from exc
    return Response(status_code=204)


@router.websocket("/media")
async def media_stream(ws: WebSocket) -> None:
    await serve_media_stream(ws, ws.app.state.telephony, ws.app.state.voice)


# ---------------------------------------------------------------- API for users


async def require_api_token(request: Request, telephony: Telephony) -> None:
    """Bearer ``CAP_TWILIO_API_TOKEN`` until the control plane's scoped API keys take over."""
    expected = telephony.settings.api_token
    if not expected:
        raise HTTPException(503, "call control is disabled: set CAP_TWILIO_API_TOKEN")
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, "a valid bearer token is required")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlaceCall(_Body):
    to: str = Field(min_length=3, max_length=32)
    agent: str = Field(min_length=1, max_length=128)
    from_: str | None = Field(default=None, alias="from", max_length=32)


class Transfer(_Body):
    to: str = Field(min_length=3, max_length=32)


async def _control(work: Awaitable[T]) -> T:
    try:
        return await work
    except InvalidNumber as exc:
        raise HTTPException(422, str(exc)) from exc
    except NotConfigured as exc:
        raise HTTPException(503, str(exc)) from exc
    except CallControlError as exc:
        raise HTTPException(502 if exc.retryable else 409, str(exc)) from exc


@router.post("/calls", status_code=201, dependencies=[Depends(require_api_token)])
async def place_call(body: PlaceCall, request: Request, telephony: Telephony) -> dict[str, str]:
    try:
        await _host(request).resolve(body.agent, None)
    except (LookupError, PermissionError) as exc:
        raise HTTPException(404, f"no agent {body.agent!r}") from exc
    call_sid = await _control(telephony.place_call(body.to, body.agent, body.from_))
    return {"call_sid": call_sid}


@router.post("/calls/{call_sid}/transfer", dependencies=[Depends(require_api_token)])
async def transfer_call(call_sid: CallSid, body: Transfer, telephony: Telephony) -> dict[str, str]:
    await _control(telephony.transfer_now(call_sid, body.to))
    return {"call_sid": call_sid, "status": "transferring"}


@router.post("/calls/{call_sid}/hangup", dependencies=[Depends(require_api_token)])
async def hang_up_call(call_sid: CallSid, telephony: Telephony) -> dict[str, str]:
    await _control(telephony.hang_up_now(call_sid))
    return {"call_sid": call_sid, "status": "completed"}


@router.get("/calls/{call_sid}", dependencies=[Depends(require_api_token)])
async def get_call(call_sid: CallSid, telephony: Telephony) -> dict[str, Any]:
    record = await telephony.calls.get(call_sid)
    if record is None:
        raise HTTPException(404, "no such call")
    return {
        "call_sid": record.call_sid,
        "status": record.status,
        "direction": record.direction,
        "from": record.from_number,
        "to": record.to_number,
        "agent": record.agent_id,
        "started_at": record.started_at.isoformat() if record.started_at else None,
        "answered_at": record.answered_at.isoformat() if record.answered_at else None,
        "ended_at": record.ended_at.isoformat() if record.ended_at else None,
        "duration_secs": record.duration_secs,
    }
