"""HTTP routes of WebRTC calls: offer/answer and hang-up."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from control_plane.webrtc.cors import allow_any_origin, preflight
from control_plane.webrtc.gateway import OfferRejected, WebRtcGateway
from control_plane.webrtc.schemas import AnswerResponse, OfferRequest

router = APIRouter(prefix="/v1/webrtc", tags=["webrtc"])


def _gateway(request: Request) -> WebRtcGateway:
    gateway: WebRtcGateway = request.app.state.webrtc
    return gateway


def _error(rejected: OfferRejected) -> JSONResponse:
    body = {"error": {"code": rejected.code, "message": rejected.message}}
    response = JSONResponse(body, status_code=rejected.status)
    allow_any_origin(response)
    return response


@router.post(
    "/offer",
    response_model=AnswerResponse,
    responses={400: {}, 403: {}, 404: {}, 503: {}},
    summary="Start a voice call: send an SDP offer, get the answer",
)
async def offer(
    body: OfferRequest, request: Request, response: Response
) -> AnswerResponse | JSONResponse:
    allow_any_origin(response)
    try:
        return await _gateway(request).offer(body, request.headers.get("origin"))
    except OfferRejected as rejected:
        return _error(rejected)


@router.options("/offer", include_in_schema=False)
async def offer_preflight() -> Response:
    return preflight("POST, OPTIONS")


@router.delete("/sessions/{session_id}", status_code=204, summary="Hang up a call")
async def hang_up(session_id: str, request: Request) -> Response:
    # The session id is an unguessable token handed only to the caller.
    found = await _gateway(request).hang_up(session_id)
    response = Response(status_code=204 if found else 404)
    return allow_any_origin(response)


@router.options("/sessions/{session_id}", include_in_schema=False)
async def hang_up_preflight() -> Response:
    return preflight("DELETE, OPTIONS")
