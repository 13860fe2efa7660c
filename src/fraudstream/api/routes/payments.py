"""``/api/v1/payments``: ingest (single and batch, idempotent) and status lookup."""

from __future__ import annotations

import logging
import re
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from starlette.types import Receive, Scope, Send

from fraudstream.api.deps import DbSession, Ingestor, Scorer, Services, ServicesDep
from fraudstream.api.ingest import prepare
from fraudstream.api.ledger import Entry
from fraudstream.api.schemas import (
    ErrorPublic,
    PaymentAccepted,
    PaymentBatchAccepted,
    PaymentBatchCreate,
    PaymentCreate,
    PaymentPublic,
    ScorePublic,
)
from fraudstream.api.security import Principal
from fraudstream.errors import BusError, NotFoundError, StoreError, ValidationError
from fraudstream.store.models import Payment, Score, utcnow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/payments", tags=["payments"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 409, 413, 422, 503)
}
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[!-~]+$",
        description="Same key and body: same payment id, published once.",
    ),
]


async def _ingest(
    services: Services,
    user: Principal,
    items: list[tuple[PaymentCreate, str | None]],
    raw_body: bytes | None = None,
) -> list[Entry]:
    """Record and publish; entries come back with ``payment_id`` and ``created`` or ``error``."""
    now = utcnow()
    entries, records = [], []
    for p, key in items:
        prep = prepare(p, card_key=services.card_key, now=now, raw_body=raw_body)
        scoped = f"{user.name}:{key}" if key is not None else None
        entries.append(Entry(prep.row, scoped, prep.request_hash))
        records.append(prep.record)
    await services.ledger.record(entries)
    failed = [e.error for e in entries if isinstance(e.error, StoreError)]
    if failed:
        raise failed[0]
    fresh = [(e, rec) for e, rec in zip(entries, records, strict=True) if e.created]
    if fresh:
        try:
            services.publisher.transactions([rec for _, rec in fresh])
        except BusError:
            services.ledger.forget([e.payment_id for e, _ in fresh])
            raise
    return entries


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PaymentAccepted,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/PaymentCreate"}}
            },
        }
    },
)
async def create_payment(
    request: Request, user: Ingestor, idempotency_key: IdemKey = None
) -> Response:
    """Validate a payment (``PaymentCreate``), record it and publish it to ``transactions``.

    Answers 202 with the payment id. (Requests are served by :class:`IngestEndpoint`,
    mounted ahead of this route; this declaration documents the contract in OpenAPI.)
    """
    body = await _accept(request.app.state.services, user, idempotency_key, await request.body())
    return Response(body, status_code=202, media_type="application/json")


_IDEMPOTENCY_KEY = re.compile(r"^[!-~]{1,128}$")


async def ingest_json(
    services: Services, api_key: str | None, idem: str | None, raw: bytes
) -> bytes:
    """The ingest hot path: authenticate, check the ``Idempotency-Key``, accept ``raw``.

    Returns the JSON of the 202 answer; raises domain errors (401/403/409/503) and
    ``RequestValidationError`` (422) for the app's handlers. FastAPI's per-request
    dependency solving costs more CPU than the rest of the request together, so the
    hot path does the same checks by hand: 401/403 from the key ring, 422 for a
    malformed ``Idempotency-Key``, the body parsed straight from bytes into
    ``PaymentCreate`` (one pass, no intermediate dict). ``IngestApp`` (``api/fastpath.py``)
    calls it ahead of the middleware stack; :class:`IngestEndpoint` behind it.
    """
    user = services.keyring.authenticate(api_key)
    user.require("ingest")
    if idem is not None and not _IDEMPOTENCY_KEY.match(idem):
        raise ValidationError(
            "must be 1 to 128 printable ASCII characters", field="Idempotency-Key"
        )
    return await _accept(services, user, idem, raw)


class IngestEndpoint:
    """``POST /api/v1/payments`` as a bare ASGI app (the route behind the middleware stack,
    used when the app is mounted under a root path; see :func:`ingest_json`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api_key = idem = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                api_key = value.decode("latin-1")
            elif name == b"idempotency-key":
                idem = value.decode("latin-1")
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        services: Services = scope["app"].state.services
        body = await ingest_json(services, api_key, idem, b"".join(chunks))
        response = Response(body, status_code=202, media_type="application/json")
        await response(scope, receive, send)


async def _accept(services: Services, user: Principal, key: str | None, raw: bytes) -> bytes:
    try:
        payment = PaymentCreate.model_validate_json(raw)
    except PydanticValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None
    (entry,) = await _ingest(services, user, [(payment, key)], raw)
    if entry.error is not None:
        raise entry.error
    body = {
        "payment_id": entry.payment_id,
        "status": "RECEIVED",
        "replayed": not entry.created,
        "error": None,
    }
    return orjson.dumps(body)


@router.post(
    "/batch",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PaymentBatchAccepted,
    responses=ERRORS,
)
async def create_payments(
    batch: PaymentBatchCreate, services: ServicesDep, user: Ingestor
) -> PaymentBatchAccepted:
    """Bulk ingest; each item may carry its own ``idempotency_key``.

    An item whose key was used with another body is not published and carries ``error``.
    """
    limit = services.settings.api.max_batch_payments
    if len(batch.payments) > limit:
        raise ValidationError(f"at most {limit} payments per batch", field="payments")
    entries = await _ingest(services, user, [(p, p.idempotency_key) for p in batch.payments])
    return PaymentBatchAccepted(
        payments=[
            PaymentAccepted(
                payment_id=e.payment_id,
                replayed=not e.created,
                error=None if e.error is None else e.error.message,
            )
            for e in entries
        ]
    )


@router.get(
    "/{payment_id}", response_model=PaymentPublic, responses=ERRORS | {404: {"model": ErrorPublic}}
)
def get_payment(payment_id: str, user: Scorer, db: DbSession) -> PaymentPublic:
    """A payment's status and, once the stream scored it, its score."""
    payment = db.get(Payment, payment_id)
    if payment is None:
        raise NotFoundError(f"no payment {payment_id!r}")
    score = db.scalars(select(Score).where(Score.transaction_id == payment.transaction_id)).first()
    out = PaymentPublic.model_validate(payment)
    if score is not None:
        out.status = "SCORED"
        out.score = ScorePublic.model_validate(score)
    return out
