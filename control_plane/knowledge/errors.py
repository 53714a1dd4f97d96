"""rag/'s errors as HTTP answers, in the control plane's ``{"error": {...}}`` shape.

The status follows the error's class (the caller's fault is a 4xx and not
retryable); server-side faults keep their message out of the response.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from control_plane.api.errors import error_body
from rag.errors import (
    ArchiveBomb,
    EmbeddingError,
    InputRejected,
    InvalidScope,
    NotFound,
    ParseError,
    QueueFull,
    QuotaExceeded,
    RagError,
    StoreError,
    TooLarge,
    UnsupportedType,
)

log = logging.getLogger("cap.knowledge")
QUEUE_RETRY_AFTER_SECS = 5

# Most specific first: the first class the error is an instance of decides.
_STATUS: tuple[tuple[type[RagError], int, str], ...] = (
    (UnsupportedType, 415, "unsupported_media_type"),
    (TooLarge, 413, "too_large"),
    (QuotaExceeded, 413, "quota_exceeded"),
    (ArchiveBomb, 422, "archive_rejected"),
    (ParseError, 422, "unreadable_document"),
    (InvalidScope, 400, "bad_request"),
    (InputRejected, 400, "bad_request"),
    (QueueFull, 429, "queue_full"),
    (NotFound, 404, "not_found"),
)


def status_of(exc: RagError) -> tuple[int, str]:
    for cls, status, code in _STATUS:
        if isinstance(exc, cls):
            return status, code
    if isinstance(exc, EmbeddingError | StoreError) and exc.retryable:
        return 503, "unavailable"
    return 500, "internal"


def install_rag_errors(app: FastAPI) -> None:
    @app.exception_handler(RagError)
    async def rag_error(_request: Request, exc: RagError) -> JSONResponse:
        status, code = status_of(exc)
        headers = {"Retry-After": str(QUEUE_RETRY_AFTER_SECS)} if status in (429, 503) else {}
        if status >= 500:
            log.error("knowledge error: %r", exc)
            return JSONResponse(error_body(code, "knowledge service error"), status, headers)
        return JSONResponse(error_body(code, str(exc)), status, headers)
