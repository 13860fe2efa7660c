"""Typed dependencies: the app's services, the caller's API key and roles, a DB session.

Routes declare what they need with ``Annotated`` aliases::

    def list_alerts(user: Analyst, db: DbSession) -> ...
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from fraudstream.api.ingest import Publisher
from fraudstream.api.ledger import IngestLedger
from fraudstream.api.security import KeyRing, Principal
from fraudstream.bus.base import Bus
from fraudstream.detect.base import Detector, KeyValueStore
from fraudstream.errors import StoreError
from fraudstream.settings import Settings
from fraudstream.store.db import store_errors


@dataclass(slots=True)
class Services:
    """Everything the lifespan opens once and the routes share."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    bus: Bus
    publisher: Publisher
    ledger: IngestLedger
    keyring: KeyRing
    card_key: bytes
    detector: Detector | None = None
    detector_state: KeyValueStore | None = None
    detector_lock: threading.Lock = field(default_factory=threading.Lock)
    extra: dict[str, Any] = field(default_factory=dict)


# Dependencies are ``async def`` on purpose: FastAPI runs plain ``def`` dependencies in
# a worker thread, which would cost three thread hops per ingest request.
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="API key; its roles decide the routes."
)


def require(*roles: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that admits callers with one of ``roles`` (admin always), else 403.

    401 without a key or with an unknown one. One dependency with one sub-dependency
    (the header, declared so OpenAPI shows the scheme): the ingest path resolves
    nothing more per request.
    """

    async def dependency(
        request: Request, key: Annotated[str | None, Security(_api_key_header)]
    ) -> Principal:
        services: Services = request.app.state.services
        user = services.keyring.authenticate(key)
        user.require(*roles)
        return user

    return dependency


Ingestor = Annotated[Principal, Depends(require("ingest"))]
Analyst = Annotated[Principal, Depends(require("analyst"))]
Scorer = Annotated[Principal, Depends(require("ingest", "analyst"))]


def db_session(services: ServicesDep) -> Iterator[Session]:
    """One session per request; the route commits, errors roll back and become 503."""
    session = services.sessions()
    try:
        with store_errors("database request"):
            yield session
    except StoreError:
        session.rollback()
        raise
    finally:
        session.close()


DbSession = Annotated[Session, Depends(db_session)]
