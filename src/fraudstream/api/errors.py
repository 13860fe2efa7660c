"""One exception handler: every error answer has the same shape and a reason.

Domain errors (:class:`~fraudstream.errors.FraudstreamError`) carry their HTTP
status and reason code; request validation becomes 422 with one entry per bad
field (never echoing the input, which may hold a card number); Starlette's own
HTTP errors (404 for unknown routes, 405) keep their status with our shape.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fraudstream.errors import FraudstreamError

logger = logging.getLogger(__name__)

_HTTP_REASONS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
}


def error_body(
    error: str, detail: str, fields: list[dict[str, str]] | None = None
) -> dict[str, object]:
    """The JSON of an error answer (see ``ErrorPublic``)."""
    body: dict[str, object] = {"error": error, "detail": detail}
    if fields is not None:
        body["fields"] = fields
    return body


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FraudstreamError)
    if exc.http_status >= 500:
        logger.error("%s %s -> %d: %s", request.method, request.url.path, exc.http_status, exc)
    headers = {"WWW-Authenticate": "ApiKey"} if exc.http_status == 401 else None
    return JSONResponse(
        error_body(exc.reason_code, exc.message), status_code=exc.http_status, headers=headers
    )


def _loc(loc: tuple[int | str, ...]) -> str:
    # ("body", "payments", 3, "amount") -> "body.payments[3].amount"
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"field": _loc(tuple(e.get("loc", ()))), "reason": str(e.get("msg", "invalid"))}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{f['field']}: {f['reason']}" for f in fields[:5]) or "invalid request"
    return JSONResponse(error_body("validation_failed", detail, fields), status_code=422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    reason = _HTTP_REASONS.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(reason, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers above on ``app``."""
    app.add_exception_handler(FraudstreamError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
