"""The ingest hot path as the app's outermost ASGI layer.

``POST /api/v1/payments`` is by far the most frequent request. Going through
Starlette's stack costs about ten awaitable layers per request (error
middlewares, two of ours, the exception middleware, the exit stack, the
router) and as many wrapped ``send`` calls, which together cost more CPU
than the request's own work. :class:`IngestApp` therefore answers that one
route before the stack, doing what the layers would have done by hand:

* the body size limit (413, declared or streamed), as ``BodyLimitMiddleware``;
* the request metrics (same series), as ``MetricsMiddleware``;
* the error answers, through the app's own handlers (``api/errors.py``), so
  401/403/409/413/422/503 bodies are the same as on every other route.

Everything else goes to the normal FastAPI stack unchanged. Validation,
authentication, card hashing and the durable idempotency ledger are the
route's (``routes/payments.py``) and are not touched here.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from fraudstream.api.errors import _domain_error, _validation_error, error_body
from fraudstream.api.middleware import LATENCY, REQUESTS
from fraudstream.errors import FraudstreamError

logger = logging.getLogger(__name__)

PATH = "/api/v1/payments"
_JSON = (b"content-type", b"application/json")


class _TooLarge(Exception):
    pass


class IngestApp(FastAPI):
    """FastAPI with ``POST /api/v1/payments`` served ahead of the middleware stack.

    ``ingest`` is an async callable ``(services, api_key, idempotency_key, body) ->
    bytes`` (the JSON of the 202 answer) that raises domain or validation errors;
    ``create_app`` sets it and ``max_body_bytes``.

    Example:
        >>> app = IngestApp(title="x")
        >>> app.ingest is None
        True
    """

    ingest: Any = None
    max_body_bytes: int = 1_048_576
    _metrics: dict[int, tuple[Any, Any]]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.ingest is not None
            and scope["type"] == "http"
            and scope["path"] == PATH
            and scope["method"] == "POST"
            and not scope.get("root_path")
        ):
            await self._ingest(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def _ingest(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        scope["app"] = self
        status = 500
        try:
            status = await self._serve(scope, receive, send)
        finally:
            self._observe(status, time.perf_counter() - start)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> int:
        api_key = idem = None
        declared = 0
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                api_key = value.decode("latin-1")
            elif name == b"idempotency-key":
                idem = value.decode("latin-1")
            elif name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
        limit = self.max_body_bytes
        try:
            if declared > limit:
                raise _TooLarge
            chunks = []
            seen = 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return 499  # the client went away
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > limit:
                    raise _TooLarge
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = await self.ingest(self.state.services, api_key, idem, b"".join(chunks))
        except _TooLarge:
            too_large = error_body("payload_too_large", f"request body larger than {limit} bytes")
            await self._send(send, 413, _dumps(too_large))
            return 413
        except FraudstreamError as exc:
            response = await _domain_error(Request(scope), exc)
        except RequestValidationError as exc:
            response = await _validation_error(Request(scope), exc)
        else:
            await self._send(send, 202, body)
            return 202
        await response(scope, receive, send)
        return response.status_code

    @staticmethod
    async def _send(send: Send, status: int, body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [_JSON, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _observe(self, status: int, seconds: float) -> None:
        try:
            metrics = self._metrics
        except AttributeError:
            metrics = self._metrics = {}
        children = metrics.get(status)
        if children is None:  # labels() takes locks: resolve once per status
            children = metrics[status] = (
                LATENCY.labels(PATH),
                REQUESTS.labels("POST", PATH, str(status)),
            )
        children[0].observe(seconds)
        children[1].inc()


def _dumps(body: dict[str, object]) -> bytes:
    import orjson

    return orjson.dumps(body)
