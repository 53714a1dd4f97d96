"""Turns SDK, HTTP and WebSocket failures into the pipelines error tree.

The retry decision is made here once: an HTTP status travels as
``ProviderStatusError`` (4xx final except 408/429/499), a missed deadline as
``ProviderTimeout``, a dropped connection as a retryable ``ProviderError``.
The message is rebuilt from the status and the provider's error text only:
SDK exceptions can carry request headers (Deepgram's ``ApiError`` does), so
they are never chained or echoed, and every known secret is masked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import anthropic
import httpx
import openai
import websockets.exceptions

from pipelines.errors import ProviderError, ProviderStatusError, ProviderTimeout

MAX_DETAIL_CHARS = 200
MASK = "***"

# Error "type" names in streamed error bodies (HTTP 200 already sent) and the
# HTTP status each stands for, from the providers' error docs.
_TYPE_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "requests": 429,
    "tokens": 429,
    "api_error": 500,
    "server_error": 500,
    "overloaded_error": 529,
}

_TIMEOUTS: tuple[type[BaseException], ...] = (
    TimeoutError,
    openai.APITimeoutError,
    anthropic.APITimeoutError,
    httpx.TimeoutException,
)
try:  # the openai/anthropic SDKs moved to the httpx2 fork; older ones use httpx
    import httpx2

    _TIMEOUTS += (httpx2.TimeoutException,)
except ImportError:  # pragma: no cover - depends on the installed SDK generation
    pass


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def to_provider_error(
    exc: BaseException, provider: str, *, secrets: Iterable[str] = ()
) -> ProviderError:
    """The ``ProviderError`` for ``exc``; raise it ``from None``."""
    secrets = tuple(secrets)
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, _TIMEOUTS):
        return ProviderTimeout(f"{provider}: timed out", provider=provider)
    status = _status_of(exc)
    detail = redact(_detail_of(exc), secrets)
    if status is not None and status >= 400:
        message = f"{provider}: HTTP {status}" + (f": {detail}" if detail else "")
        return ProviderStatusError(message, status=status, provider=provider)
    streamed = _streamed_error_status(exc)
    if streamed is not None:
        message = f"{provider}: stream error {streamed}" + (f": {detail}" if detail else "")
        return ProviderStatusError(message, status=streamed, provider=provider)
    kind = type(exc).__name__
    return ProviderError(
        f"{provider}: {kind}: {detail}" if detail else f"{provider}: {kind}",
        provider=provider,
        retryable=True,
    )


def streamed_error(body: Mapping[str, Any], provider: str) -> ProviderStatusError:
    """An error event inside an HTTP 200 stream (``{"error": {"type", "message"}}``)."""
    inner = body.get("error", body)
    inner = inner if isinstance(inner, Mapping) else {}
    kind = inner.get("type") if isinstance(inner.get("type"), str) else inner.get("code")
    status = _TYPE_STATUS.get(kind if isinstance(kind, str) else "", 500)
    detail = _message_in(body) or "error event in stream"
    detail = " ".join(detail.split())[:MAX_DETAIL_CHARS]
    return ProviderStatusError(
        f"{provider}: stream error {status}: {detail}", status=status, provider=provider
    )


def _status_of(exc: BaseException) -> int | None:
    if isinstance(exc, websockets.exceptions.InvalidStatus):
        return int(exc.response.status_code)
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _streamed_error_status(exc: BaseException) -> int | None:
    """An error event inside a 200 stream names its type in the body."""
    body = getattr(exc, "body", None)
    if not isinstance(body, Mapping):
        return None
    inner = body.get("error", body)
    kind = inner.get("type") if isinstance(inner, Mapping) else None
    if not isinstance(kind, str):
        code = inner.get("code") if isinstance(inner, Mapping) else None
        kind = code if isinstance(code, str) else None
    return _TYPE_STATUS.get(kind or "", 500 if isinstance(exc, openai.APIError) else None)


def _detail_of(exc: BaseException) -> str:
    """The provider's own error message, from the parsed body when there is one."""
    body = getattr(exc, "body", None)
    text = _message_in(body)
    if text is None:
        if isinstance(exc, (openai.APIStatusError, anthropic.APIStatusError)):
            text = ""
        elif isinstance(exc, websockets.exceptions.ConnectionClosed):
            rcvd = exc.rcvd
            text = f"connection closed ({rcvd.code} {rcvd.reason})" if rcvd else "connection lost"
        elif _status_of(exc) is None:
            text = str(exc)
        else:
            text = ""
    text = " ".join(text.split())
    return text[:MAX_DETAIL_CHARS]


def _message_in(body: Any) -> str | None:
    if isinstance(body, str):
        return body
    if not isinstance(body, Mapping):
        return None
    for key in ("error", "detail"):
        inner = body.get(key)
        if isinstance(inner, Mapping):
            found = _message_in(inner)
            if found:
                return found
        elif isinstance(inner, str) and inner:
            return inner
    for key in ("message", "err_msg", "description", "msg"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
    return None
