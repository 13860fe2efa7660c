"""``/api/v1/score``: a synchronous decision for callers that need it inline.

It runs the same :class:`~fraudstream.detect.base.Detector` as the stream
(loaded once by the lifespan, or injected through ``create_app(detector=...)``)
on a batch of one, with an in-process state store of its own: velocity
features see the payments this API process scored, not the stream's state.
Nothing is stored or published.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from fraudstream.api.deps import Scorer, Services, ServicesDep
from fraudstream.api.ingest import prepare
from fraudstream.api.schemas import ErrorPublic, PaymentCreate, ScorePublic
from fraudstream.errors import NotReadyError, ScoringError
from fraudstream.events.batch import TransactionBatch
from fraudstream.store.models import utcnow

router = APIRouter(prefix="/api/v1/score", tags=["score"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 413, 422, 503)
}


def _score(services: Services, record: dict[str, object]) -> ScorePublic:
    detector, state = services.detector, services.detector_state
    if detector is None or state is None:
        raise NotReadyError("no detector loaded: train a model or start the API with a detector")
    with services.detector_lock:  # detectors and their state are not thread-safe
        try:
            d = detector.score(TransactionBatch([record]), state)
        except Exception as exc:
            raise ScoringError(f"scoring failed: {type(exc).__name__}: {exc}") from exc
    return ScorePublic(
        transaction_id=str(record["transaction_id"]),
        fraud_score=float(d.fraud_score[0]),
        risk_level=str(d.risk_level[0]),
        action=str(d.action[0]),
        reasons=list(d.reasons[0]),
        model_version=d.model_version,
        scored_at=utcnow(),
    )


@router.post("", response_model=ScorePublic, responses=ERRORS)
async def score_payment(payment: PaymentCreate, user: Scorer, services: ServicesDep) -> ScorePublic:
    """Score one payment now (not stored, not published)."""
    prep = prepare(payment, card_key=services.card_key, now=utcnow())
    return await asyncio.to_thread(_score, services, prep.record)
