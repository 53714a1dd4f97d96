"""The exception tree of the telephony package.

Errors that come from Twilio's REST API carry the retry decision with them,
so callers never re-derive it from status codes.
"""

from __future__ import annotations


class TelephonyError(Exception):
    """Base of every telephony error."""


class NotConfigured(TelephonyError):
    """A Twilio feature was used without the settings it needs (auth token, account)."""


class InvalidNumber(TelephonyError, ValueError):
    """A phone number that is not E.164 (``+`` and 3 to 15 digits)."""


class InvalidRoute(TelephonyError, ValueError):
    """A number-directory entry that cannot be used (bad hours, bad DTMF rule)."""


class CallControlError(TelephonyError):
    """Twilio's REST API refused or failed a call operation."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        # 4xx are final (bad number, call already over) except rate limits and timeouts.
        self.retryable = status is None or status >= 500 or status in (408, 429)


class StreamClosed(TelephonyError):
    """The media stream must end: ``code`` and ``reason`` go in the WebSocket close frame."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
