"""Twilio settings, read from ``CAP_TWILIO_*`` environment variables.

Kept in this package (not in the control plane's settings) so telephony never
imports the control plane; the app passes its public URL and secret key in.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TwilioSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAP_TWILIO_", env_file=None, extra="ignore")

    account_sid: str | None = None
    # Signs every webhook Twilio sends; without it no webhook is accepted.
    auth_token: str | None = None
    # Twilio's REST API root; tests and staging point it at a local fake.
    api_base_url: str | None = None
    # Number -> local agent map (TOML or JSON), the fallback for numbers the
    # control plane does not hold; see docs/telephony.md.
    numbers_file: Path | None = None
    # Local agent that answers numbers neither the control plane nor the numbers
    # file lists (None: they are "not in service"). Off by default: on a shared
    # server an unlisted number must not reach anyone's agent.
    default_agent: str | None = None
    # Caller ID of outbound calls when the request names none.
    caller_id: str | None = None
    # Twilio opens the stream within a second of reading the TwiML; a minute is generous.
    stream_token_ttl_secs: float = Field(default=60.0, gt=0)
    # One mark per this many 20 ms frames: the resolution of "what the caller heard".
    mark_every_frames: int = Field(default=5, ge=1, le=50)
    rest_timeout_secs: float = Field(default=10.0, gt=0)
