"""Routes for voice sessions (filled in by the voice WebSocket protocol)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
