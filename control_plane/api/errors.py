"""One place that maps errors to HTTP answers: ``{"error": {code, message}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.errors import ProviderError
from tenancy.errors import RateLimited, TenancyError

log = logging.getLogger("cap.api")


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else err.get("msg", ""))
    return "; ".join(parts) or "invalid request"


def _safe_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # The raw input is left out: it may be huge or unprintable.
    return [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
        for e in exc.errors()[:20]
    ]


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        body = error_body(code, str(exc.detail))
        body["detail"] = exc.detail
        return JSONResponse(body, exc.status_code, headers=exc.headers)

    @app.exception_handler(TenancyError)
    async def tenancy_error(_request: Request, exc: TenancyError) -> JSONResponse:
        headers = {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
        if exc.status == 500:
            log.error("internal tenancy error: %s", exc.message)
            return JSONResponse(error_body(exc.code, "internal error"), status_code=500)
        return JSONResponse(error_body(exc.code, exc.message), exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        body = error_body("invalid", _validation_message(exc))
        body["detail"] = _safe_errors(exc)
        return JSONResponse(body, status_code=422)

    @app.exception_handler(IntegrityError)
    async def integrity_error(_request: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error mapped to 409: %s", exc.orig)
        return JSONResponse(
            error_body("conflict", "conflicts with existing data (duplicate or in use)"), 409
        )

    @app.exception_handler(ProviderError)
    async def provider_error(_request: Request, exc: ProviderError) -> JSONResponse:
        return JSONResponse(
            error_body("provider_error", f"{exc.provider or 'provider'}: {exc}"), 502
        )
