"""Ops endpoints: /metrics for Prometheus, JSON latency figures, the dashboard page."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from control_plane.ops.latency import summary, timeline
from control_plane.voice.runtime import VoiceRuntime

router = APIRouter(tags=["ops"])

MAX_TURNS = 500


def _runtime(request: Request) -> VoiceRuntime:
    runtime: VoiceRuntime = request.app.state.voice
    return runtime


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/ops/latency")
async def latency(request: Request) -> dict[str, object]:
    """p50/p95 of every pipeline span over the recent turns, plus live load."""
    runtime = _runtime(request)
    result = summary(runtime.recent_turns)
    clock = runtime.clock
    result["live_sessions"] = len(runtime.sessions)
    result["clock"] = {"ticks": clock.ticks, "late_ticks": clock.late_ticks}
    return result


@router.get("/v1/ops/turns")
async def turns(request: Request, limit: int = 50, session_id: str | None = None) -> list[object]:
    """Per-call timelines, newest first."""
    if not 1 <= limit <= MAX_TURNS:
        raise HTTPException(422, f"limit must be between 1 and {MAX_TURNS}")
    records = [
        r
        for r in reversed(_runtime(request).recent_turns)
        if session_id is None or r.session_id == session_id
    ]
    return [timeline(r) for r in records[:limit]]


@router.get("/dashboard/latency", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    page = files("control_plane.ops").joinpath("latency.html").read_text(encoding="utf-8")
    return HTMLResponse(page)
