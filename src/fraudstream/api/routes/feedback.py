"""``/api/v1/feedback``: an analyst's verdict, published to the ``feedback`` topic."""

from __future__ import annotations

from fastapi import APIRouter, status

from fraudstream.api.deps import Analyst, ServicesDep
from fraudstream.api.schemas import ErrorPublic, FeedbackAccepted, FeedbackCreate
from fraudstream.store.models import utcnow

router = APIRouter(prefix="/api/v1/feedback", tags=["feedback"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 413, 422, 503)
}


@router.post(
    "", status_code=status.HTTP_202_ACCEPTED, response_model=FeedbackAccepted, responses=ERRORS
)
def give_feedback(body: FeedbackCreate, user: Analyst, services: ServicesDep) -> FeedbackAccepted:
    """Publish the verdict (keyed by transaction id); the sink stores it, the learner learns."""
    services.publisher.feedback(
        {
            "transaction_id": body.transaction_id,
            "label": body.label,
            "analyst": user.name,
            "comment": body.comment,
            "created_at": int(utcnow().timestamp() * 1000),
        }
    )
    return FeedbackAccepted(transaction_id=body.transaction_id, label=body.label, analyst=user.name)
