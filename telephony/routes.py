"""HTTP and WebSocket routes of the Twilio integration, mounted under /telephony/twilio.

- ``POST /voice``: Twilio's voice webhook; answers TwiML.
- ``WS /media``: the Media Streams socket.
- ``POST /status``: Twilio's call status callbacks, recorded in the call log.

Every Twilio request is signature-checked before anything else (403). Placing,
transferring and hanging up calls is the control plane's API (``/v1/calls``,
authenticated with its credentials and scoped to an organisation).

The control plane lends the service its pieces through ``app.state`` (this
package never imports it): ``number_directory`` (its phone numbers),
``call_log`` (per-organisation call records) and ``telephony_host`` (a session
host resolving an agent's published version through the control plane).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, WebSocket
from starlette.datastructures import FormData

from telephony import metrics
from telephony.calls import CallLog
from telephony.host import SessionHost
from telephony.numbers import NumberDirectory
from telephony.service import PREFIX, BadWebhook, TwilioTelephony
from telephony.settings import TwilioSettings
from telephony.signature import SIGNATURE_HEADER, signed_url
from telephony.socket import serve_media_stream

MAX_WEBHOOK_BYTES = 64 * 1024  # Twilio's form bodies are a few hundred bytes
XML = "application/xml"


def build_telephony(app: FastAPI) -> TwilioTelephony:
    """From ``CAP_TWILIO_*``, the app's own settings (public URL, secret key) and
    whatever the control plane lent through ``app.state``."""
    app_settings = getattr(app.state, "settings", None)
    directory: NumberDirectory | None = getattr(app.state, "number_directory", None)
    calls: CallLog | None = getattr(app.state, "call_log", None)
    return TwilioTelephony(
        TwilioSettings(),
        public_url=getattr(app_settings, "public_url", None),
        secret_key=getattr(app_settings, "secret_key", "dev-insecure-change-me"),
        directory=directory,
        calls=calls,
    )


def telephony_of(app: FastAPI) -> TwilioTelephony:
    """The app's telephony service, built on first use (the lifespan builds it too)."""
    telephony: TwilioTelephony | None = getattr(app.state, "telephony", None)
    if telephony is None:
        telephony = build_telephony(app)
        app.state.telephony = telephony
    return telephony


def session_host_of(app: FastAPI) -> SessionHost:
    """The control plane's host when it lent one, else the voice runtime itself."""
    host: SessionHost | None = getattr(app.state, "telephony_host", None)
    if host is None:
        host = app.state.voice
    return host


@asynccontextmanager
async def telephony_lifespan(app: FastAPI) -> AsyncIterator[None]:
    telephony = telephony_of(app)
    try:
        yield
    finally:
        await telephony.aclose()


router = APIRouter(prefix=PREFIX, tags=["telephony"], lifespan=telephony_lifespan)


def _telephony(request: Request) -> TwilioTelephony:
    return telephony_of(request.app)


Telephony = Annotated[TwilioTelephony, Depends(_telephony)]


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
            host=session_host_of(request.app),
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
    await serve_media_stream(ws, telephony_of(ws.app), session_host_of(ws.app))
