"""Routes for voice sessions over the developer WebSocket protocol."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from control_plane.voice.runtime import VoiceRuntime
from control_plane.voice.ws import VoiceConnection

router = APIRouter()


@router.websocket("/v1/ws")
async def voice_websocket(ws: WebSocket) -> None:
    runtime: VoiceRuntime = ws.app.state.voice
    await VoiceConnection(ws, runtime).serve()
