"""Twilio request signatures and the URL they were computed over.

Twilio signs each webhook with HMAC-SHA1 of the full URL it requested plus the
sorted POST parameters, keyed with the account's auth token, and it signs the
Media Streams WebSocket upgrade the same way (URL only). Behind a proxy or a
TLS terminator the URL this process sees differs from the one Twilio used, so
the configured public base URL wins when it is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "x-twilio-signature"
MAX_SIGNATURE_CHARS = 128  # a base64 SHA-1 or SHA-256 MAC is 28 or 44 characters


def signed_url(public_url: str | None, request_url: str, *, websocket: bool = False) -> str:
    """The URL Twilio computed its signature over.

    ``request_url`` is the URL as this process saw it (scheme, host, path,
    query). With ``public_url`` set, only its path and query are kept and the
    scheme and host come from ``public_url`` (``https`` becomes ``wss`` for the
    media stream upgrade, as in the TwiML we handed out).
    """
    if not public_url:
        return request_url
    seen = urlsplit(request_url)
    base = public_url.rstrip("/")
    if websocket:
        if base.startswith("https://"):
            base = "wss://" + base.removeprefix("https://")
        elif base.startswith("http://"):
            base = "ws://" + base.removeprefix("http://")
    return base + seen.path + (f"?{seen.query}" if seen.query else "")


class SignatureChecker:
    """Checks ``X-Twilio-Signature`` against the auth token (constant-time)."""

    def __init__(self, auth_token: str) -> None:
        if not auth_token:
            raise ValueError("an auth token is needed to check Twilio signatures")
        self._validator = RequestValidator(auth_token)

    def sign(self, url: str, params: Mapping[str, Any] | None = None) -> str:
        """What Twilio would send (used by tests and the fake peer)."""
        signature: str = self._validator.compute_signature(url, dict(params or {}))
        return signature

    def check(self, url: str, params: Mapping[str, Any] | None, signature: str | None) -> bool:
        if not signature or len(signature) > MAX_SIGNATURE_CHARS:
            return False
        # ``params`` may be a multi-dict (repeated keys); the validator reads getlist().
        return bool(self._validator.validate(url, params or {}, signature))
