"""Ops endpoints: /metrics for Prometheus, JSON latency figures, the dashboard page.

Access (``control_plane.ops.access``): /metrics for platform administrators and
the ops token; latency and turns for platform administrators (every
organisation) and holders of ``ops.read`` (their organisation's calls only).
"""

from __future__ import annotations

from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from control_plane.ops.access import OpsView, metrics_reader, ops_reader, page
from control_plane.ops.latency import summary, timeline
from control_plane.voice.runtime import TurnRecord, VoiceRuntime

router = APIRouter(tags=["ops"])

MAX_TURNS = 500
Viewer = Annotated[OpsView, ops_reader()]


def _runtime(request: Request) -> VoiceRuntime | None:
    runtime: VoiceRuntime | None = getattr(request.app.state, "voice", None)
    return runtime


def _turns(request: Request, view: OpsView) -> list[TurnRecord]:
    runtime = _runtime(request)
    if runtime is None:
        return []
    return [r for r in runtime.recent_turns if view.sees(r.org_id)]


@router.get("/metrics", include_in_schema=False, dependencies=[metrics_reader()])
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/ops/latency", name="ops.latency")
async def latency(request: Request, view: Viewer) -> dict[str, object]:
    """p50/p95 of every pipeline span over the recent turns, plus live load."""
    result = summary(_turns(request, view))
    result["organisation"] = view.org_id  # None: every organisation
    runtime = _runtime(request)
    if runtime is None:
        result["live_sessions"] = 0
        result["clock"] = None
    elif view.org_id is None:
        result["live_sessions"] = len(runtime.sessions)
        result["clock"] = {"ticks": runtime.clock.ticks, "late_ticks": runtime.clock.late_ticks}
    else:
        # The playout clock is shared by every organisation: only admins see it.
        result["live_sessions"] = runtime.live_sessions_of(view.org_id)
        result["clock"] = None
    return result


@router.get("/v1/ops/turns", name="ops.turns")
async def turns(
    request: Request, view: Viewer, limit: int = 50, session_id: str | None = None
) -> list[object]:
    """Per-call timelines, newest first."""
    if not 1 <= limit <= MAX_TURNS:
        raise HTTPException(422, f"limit must be between 1 and {MAX_TURNS}")
    records = [
        r
        for r in reversed(_turns(request, view))
        if session_id is None or r.session_id == session_id
    ]
    return [timeline(r) for r in records[:limit]]


@router.get(
    "/dashboard/latency",
    response_class=HTMLResponse,
    include_in_schema=False,
    dependencies=[page()],
)
async def dashboard() -> HTMLResponse:
    page_html = files("control_plane.ops").joinpath("latency.html").read_text(encoding="utf-8")
    return HTMLResponse(page_html, headers={"Cache-Control": "no-store"})
