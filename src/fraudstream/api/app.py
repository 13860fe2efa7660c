"""The FastAPI application: one app, OpenAPI at ``/openapi.json``, docs at ``/docs``.

:func:`create_app` builds the app from :class:`~fraudstream.settings.Settings`.
Its lifespan opens, once per process, the database engine (migrating it when
``database.migrate_on_start``), the bus with ONE long-lived producer, the
payment ledger's writer thread and the detector; it closes them on shutdown
after flushing the producer.

Tests and embedders inject a shared bus (``bus=MemoryBus()``) and a detector
(any :class:`~fraudstream.detect.base.Detector`); without one the lifespan tries
``fraudstream.detect.load_detector(settings)`` and, failing that, ``/score``
answers 503 while everything else works.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.routing import Route

from fraudstream import __version__
from fraudstream.api.deps import Services
from fraudstream.api.errors import install_error_handlers
from fraudstream.api.fastpath import IngestApp
from fraudstream.api.ingest import Publisher
from fraudstream.api.ledger import IngestLedger
from fraudstream.api.middleware import BodyLimitMiddleware, MetricsMiddleware
from fraudstream.api.routes import alerts, cases, feedback, health, payments, score
from fraudstream.api.routes.dashboard import install_dashboard
from fraudstream.api.security import KeyRing
from fraudstream.bus import open_bus
from fraudstream.bus.base import Bus, Producer
from fraudstream.detect.base import Detector
from fraudstream.errors import FraudstreamError
from fraudstream.events.registry import open_registry
from fraudstream.pipeline.state import PartitionStore
from fraudstream.pipeline.wiring import register_all
from fraudstream.settings import Settings
from fraudstream.store.db import make_engine, make_session_factory
from fraudstream.store.migrate import upgrade

logger = logging.getLogger(__name__)

DELIVERY_CHECK_S = 1.0


def _load_detector(settings: Settings) -> Detector | None:
    try:
        load = importlib.import_module("fraudstream.detect").load_detector
    except AttributeError:
        logger.warning("no fraudstream.detect.load_detector yet: /score is disabled")
        return None
    try:
        detector: Detector = load(settings)
    except FraudstreamError as err:
        logger.warning("no detector loaded (%s): /score answers 503", err)
        return None
    return detector


async def _watch_deliveries(producer: Producer) -> None:
    """Surface asynchronous delivery failures in the log (the producer keeps them)."""
    while True:
        await asyncio.sleep(DELIVERY_CHECK_S)
        try:
            await asyncio.to_thread(producer.flush, 0.0)
        except FraudstreamError as err:
            logger.error("api: records not delivered to Kafka: %s", err)


def create_app(
    settings: Settings, *, bus: Bus | None = None, detector: Detector | None = None
) -> FastAPI:
    """Build the API.

    Args:
        settings: the configuration (read once by the caller).
        bus: a bus to share (the memory bus in tests); default ``open_bus(settings)``.
        detector: the scorer behind ``/score``; default ``load_detector(settings)``.

    Example:
        >>> from fraudstream.bus.memory import MemoryBus
        >>> app = create_app(Settings(database={"url": "sqlite://"}), bus=MemoryBus())
        >>> app.title, "/api/v1/payments" in app.openapi()["paths"]
        ('fraudstream', True)
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database)
        if settings.database.migrate_on_start:
            await asyncio.to_thread(upgrade, engine)
        the_bus = bus if bus is not None else open_bus(settings)
        the_bus.create_topics(settings.topics.partition_counts())
        producer = the_bus.producer()
        registry = open_registry(settings.kafka)
        register_all(registry, settings.topics)  # stable schema ids across processes
        publisher = Publisher(
            producer,
            registry,
            settings.topics.transactions,
            settings.topics.feedback,
        )
        ledger = IngestLedger(
            engine,
            max_batch=settings.api.ledger_max_batch,
            coalesce_ms=settings.api.ledger_coalesce_ms,
        )
        ledger.start()
        the_detector = detector if detector is not None else _load_detector(settings)
        app.state.services = Services(
            settings=settings,
            engine=engine,
            sessions=make_session_factory(engine),
            bus=the_bus,
            publisher=publisher,
            ledger=ledger,
            keyring=KeyRing(settings.api.api_keys),
            card_key=settings.api.card_hash_key.get_secret_value().encode(),
            detector=the_detector,
            detector_state=PartitionStore(partition=0) if the_detector is not None else None,
        )
        watcher = asyncio.create_task(_watch_deliveries(producer))
        # Start-up objects (modules, models, schemas) live as long as the process: move
        # them out of the collector's generations so full collections under load scan
        # only what requests allocate (they caused the longest latency stalls).
        gc.collect()
        gc.freeze()
        logger.info("api: ready (bus=%s, database=%s)", settings.bus, engine.url.get_backend_name())
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            ledger.stop()
            try:
                producer.flush(10.0)
            except FraudstreamError as err:
                logger.error("api: records not delivered at shutdown: %s", err)
            producer.close()
            if bus is None:
                the_bus.close()
            engine.dispose()

    app = IngestApp(
        title="fraudstream",
        version=__version__,
        description="Real-time fraud detection: ingest, scoring, alerts, cases and feedback.",
        lifespan=lifespan,
        # Prometheus (``/metrics``) is our telemetry; FastAPI's built-in OpenTelemetry
        # spans and meters would cost CPU on every request for nothing exported.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install_error_handlers(app)
    for module in (payments, score, alerts, cases, feedback, health):
        app.include_router(module.router)
    install_dashboard(app)  # /dashboard and the read-only routes it needs
    # The ingest hot path, ahead of its (documenting) FastAPI twin; see IngestEndpoint.
    app.router.routes.insert(
        0, Route("/api/v1/payments", payments.IngestEndpoint(), methods=["POST"])
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api.max_body_bytes)
    app.add_middleware(MetricsMiddleware)
    # ... and ahead of the whole stack (same limit, metrics and error answers); see fastpath.
    app.ingest = payments.ingest_json
    app.max_body_bytes = settings.api.max_body_bytes
    return app
