"""``/health`` (the process is up), ``/ready`` (Kafka and the database answer), ``/metrics``."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fraudstream.api.deps import Services, ServicesDep
from fraudstream.store.db import ping

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

READY_TIMEOUT_S = 3.0


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: answers while the event loop runs."""
    return {"status": "ok"}


def _check_bus(services: Services) -> None:
    services.bus.partitions_for(services.settings.topics.transactions)


async def _check(name: str, fn: object, services: Services) -> tuple[str, str]:
    try:
        await asyncio.wait_for(asyncio.to_thread(fn, services), READY_TIMEOUT_S)  # type: ignore[arg-type]
        return name, "ok"
    except TimeoutError:
        return name, f"no answer within {READY_TIMEOUT_S:.0f}s"
    except Exception as exc:
        return name, f"{type(exc).__name__}: {exc}"


@router.get("/ready")
async def ready(services: ServicesDep) -> JSONResponse:
    """Readiness: 200 when the bus and the database answer, else 503 naming what failed."""
    checks = dict(
        await asyncio.gather(
            _check("kafka", _check_bus, services),
            _check("database", lambda s: ping(s.engine), services),
        )
    )
    ok = all(v == "ok" for v in checks.values())
    body: dict[str, object] = {"status": "ready" if ok else "not_ready", "checks": checks}
    if not ok:
        body.update(error="not_ready", detail="; ".join(f"{k}: {v}" for k, v in checks.items()))
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
