"""``/api/v1/alerts``: the analysts' queue, filtered and paginated."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from fraudstream.api.deps import Analyst, DbSession
from fraudstream.api.schemas import AlertPublic, CaseBrief, ErrorPublic, Page
from fraudstream.store.models import Alert, Case

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 422, 503)
}


@router.get("", response_model=Page[AlertPublic], responses=ERRORS)
def list_alerts(
    user: Analyst,
    db: DbSession,
    risk_level: Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"] | None = None,
    action: Literal["REVIEW", "BLOCK"] | None = None,
    case_status: Literal["OPEN", "IN_REVIEW", "CLOSED"] | None = None,
    assignee: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    min_score: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[AlertPublic]:
    """Alerts, newest first, with their cases."""
    stmt = select(Alert, Case).outerjoin(Case, Case.transaction_id == Alert.transaction_id)
    if risk_level is not None:
        stmt = stmt.where(Alert.risk_level == risk_level)
    if action is not None:
        stmt = stmt.where(Alert.action == action)
    if case_status is not None:
        stmt = stmt.where(Case.status == case_status)
    if assignee is not None:
        stmt = stmt.where(Case.assignee == assignee)
    if min_score is not None:
        stmt = stmt.where(Alert.fraud_score >= min_score)
    if since is not None:
        stmt = stmt.where(Alert.created_at >= since)
    if until is not None:
        stmt = stmt.where(Alert.created_at < until)
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.execute(
        stmt.order_by(Alert.created_at.desc(), Alert.transaction_id).limit(limit).offset(offset)
    ).all()
    items = []
    for alert, case in rows:
        item = AlertPublic.model_validate(alert)
        item.case = CaseBrief.model_validate(case) if case is not None else None
        items.append(item)
    return Page[AlertPublic](items=items, total=total, limit=limit, offset=offset)
