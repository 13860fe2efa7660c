"""The investigation dashboard: the page at ``/dashboard`` and the read-only routes it needs.

The page is static (plain HTML, JS and CSS in ``fraudstream/api/static``, no
build step) and asks the analyst for an API key, which it keeps in
``sessionStorage`` and sends as ``X-API-Key``; every data route below needs the
analyst role like the alert and case routes the page also calls.

- ``GET /api/v1/me``: who the key belongs to (the page's "assign to me").
- ``GET /api/v1/transactions/{id}``: the alert, score, payment fields and case.
- ``GET /api/v1/transactions/{id}/neighbourhood``: the graph around it
  (see :mod:`fraudstream.api.neighbourhood`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from fraudstream.api.deps import Analyst, DbSession
from fraudstream.api.neighbourhood import neighbourhood
from fraudstream.api.schemas import (
    AlertPublic,
    CaseNotePublic,
    CasePublic,
    ErrorPublic,
    ScorePublic,
)
from fraudstream.errors import NotFoundError
from fraudstream.store.models import Alert, Case, CaseNote, Payment, Score

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["dashboard"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 404, 422, 503)
}
TxId = Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[!-~]+$")]


class MePublic(BaseModel):
    """The caller behind the API key."""

    name: str
    roles: list[str]


class PaymentFields(BaseModel):
    """The stored payment behind a transaction (HTTP ingest); never the card number."""

    model_config = ConfigDict(from_attributes=True)

    payment_id: str
    card_last4: str | None
    amount: Decimal
    currency: str
    merchant_id: str
    merchant_category: str
    merchant_country: str
    customer_country: str
    customer_id: str
    account_id: str
    channel: str
    tx_type: str
    device_id: str | None
    ip_address: str | None
    event_time: datetime


class TransactionPublic(BaseModel):
    """Everything the store knows about one transaction."""

    transaction_id: str
    event_time: datetime | None = Field(None, description="When it happened (from the score).")
    alert: AlertPublic | None = None
    score: ScorePublic | None = None
    features: dict[str, Any] | None = None
    payment: PaymentFields | None = None
    case: CasePublic | None = None


class GraphNode(BaseModel):
    """A node: ``kind`` is transaction, card, device, ip or merchant."""

    model_config = ConfigDict(extra="allow")

    id: str
    kind: str
    label: str
    center: bool = False
    action: str | None = None
    fraud_score: float | None = None


class GraphEdge(BaseModel):
    """An edge from a transaction to one of its attributes."""

    source: str
    target: str
    kind: str


class NeighbourhoodPublic(BaseModel):
    """The graph around a transaction and, per shared attribute, how many others share it."""

    transaction_id: str
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    counts: dict[str, dict[str, Any]]


@router.get("/api/v1/me", response_model=MePublic, responses=ERRORS)
async def me(user: Analyst) -> MePublic:
    """The name and roles of the API key (analyst role needed)."""
    return MePublic(name=user.name, roles=sorted(user.roles))


@router.get("/api/v1/transactions/{transaction_id}", response_model=TransactionPublic,
            responses=ERRORS)  # fmt: skip
def get_transaction(transaction_id: TxId, user: Analyst, db: DbSession) -> TransactionPublic:
    """The alert, score, payment and case of one transaction (404 if none is stored)."""
    alert = db.get(Alert, transaction_id)
    score = db.get(Score, transaction_id)
    payment = db.scalars(select(Payment).where(Payment.transaction_id == transaction_id)).first()
    case = db.scalars(select(Case).where(Case.transaction_id == transaction_id)).first()
    if alert is None and score is None and payment is None:
        raise NotFoundError(f"no transaction {transaction_id!r}")
    out = TransactionPublic(transaction_id=transaction_id)
    if alert is not None:
        out.alert = AlertPublic.model_validate(alert)
    if score is not None:
        out.score = ScorePublic.model_validate(score)
        out.features = score.features
        out.event_time = score.event_time
    if payment is not None:
        out.payment = PaymentFields.model_validate(payment)
    if case is not None:
        out.case = CasePublic.model_validate(case)
        notes = db.scalars(
            select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.id)
        )
        out.case.notes = [CaseNotePublic.model_validate(n) for n in notes]
    return out


@router.get("/api/v1/transactions/{transaction_id}/neighbourhood",
            response_model=NeighbourhoodPublic, responses=ERRORS)  # fmt: skip
def get_neighbourhood(
    transaction_id: TxId,
    user: Analyst,
    db: DbSession,
    per_link: Annotated[int, Query(ge=1, le=50)] = 8,
) -> NeighbourhoodPublic:
    """Card, device, IP and merchant of the transaction and the others sharing them."""
    return NeighbourhoodPublic.model_validate(neighbourhood(db, transaction_id, per_link=per_link))


# Scripts only from our own files (an injected string can never run), no framing
# (clickjacking), and the key header never leaves for another origin.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@router.get("/dashboard", include_in_schema=False)
async def dashboard_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


@router.get("/dashboard/", include_in_schema=False)
async def dashboard_slash() -> RedirectResponse:
    return RedirectResponse("/dashboard")


def install_dashboard(app: FastAPI) -> None:
    """Add the dashboard routes and serve ``static/`` under ``/dashboard/static``."""
    app.include_router(router)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
