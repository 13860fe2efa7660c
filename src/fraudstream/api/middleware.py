"""ASGI middleware: the request body size limit, and request metrics.

Both are plain ASGI (not ``BaseHTTPMiddleware``), so they add microseconds,
not a task per request, to the ingest hot path.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("fraudstream_api_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "fraudstream_api_request_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


_CHILDREN: dict[tuple[str, str, int], tuple[Any, Any]] = {}


class _TooLarge(Exception):
    pass


async def _send_413(send: Send, limit: int) -> None:
    body = orjson.dumps(
        {"error": "payload_too_large", "detail": f"request body larger than {limit} bytes"}
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Answer 413 with a reason when a body exceeds ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await _send_413(send, self.max_bytes)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_413(send, self.max_bytes)


class MetricsMiddleware:
    """Count requests and time them per route template (not per raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route: Any = scope.get("route")
            # FastAPI routes leave their template in scope["route"]; the plain ingest
            # route has a fixed path; anything else is one label (bounded cardinality).
            name = getattr(route, "path", None) or (
                scope["path"] if "endpoint" in scope else "unmatched"
            )
            key = (scope["method"], name, status[0])
            children = _CHILDREN.get(key)
            if children is None:  # labels() costs a lookup with locks: resolve once per key
                children = _CHILDREN[key] = (
                    LATENCY.labels(name),
                    REQUESTS.labels(scope["method"], name, str(status[0])),
                )
            children[0].observe(time.perf_counter() - start)
            children[1].inc()
