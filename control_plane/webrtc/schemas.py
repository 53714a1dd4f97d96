"""HTTP edge of the WebRTC endpoint: the offer/answer bodies and ICE server settings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from control_plane.webrtc.keys import MAX_KEY_CHARS

# A browser's audio-plus-data-channel offer is 2-6 KB; far larger is abuse.
MAX_SDP_CHARS = 32 * 1024
ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")


class IceServer(BaseModel):
    """One STUN or TURN server, as both the browser and aiortc take it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    urls: str = Field(min_length=6, max_length=512)
    username: str | None = Field(default=None, max_length=256)
    credential: str | None = Field(default=None, max_length=256)

    @field_validator("urls")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if not value.startswith(ICE_SCHEMES):
            raise ValueError(f"ICE server URL must start with one of {ICE_SCHEMES}")
        return value


class OfferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sdp: str = Field(min_length=1, max_length=MAX_SDP_CHARS)
    type: Literal["offer"] = "offer"
    agent: str = Field(default="default", min_length=1, max_length=128)
    key: str = Field(min_length=1, max_length=MAX_KEY_CHARS)


class AnswerResponse(BaseModel):
    sdp: str
    type: Literal["answer"] = "answer"
    session_id: str


class WidgetConfig(BaseModel):
    """What the widget needs before its first call: branding defaults and ICE servers."""

    agent: str
    title: str
    greeting: str | None
    ice_servers: list[IceServer]
    websocket_path: str = "/v1/ws"
    offer_path: str = "/v1/webrtc/offer"
