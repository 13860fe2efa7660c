"""``/api/v1/cases``: assign, move, decide and annotate cases, with an audit trail.

Every change writes one ``audit_events`` row per changed field (who, old value,
new value, when) in the same transaction as the change. A verdict closes the
case and publishes the matching label to the ``feedback`` topic.
"""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fraudstream.api.deps import Analyst, DbSession, ServicesDep
from fraudstream.api.schemas import (
    AuditEventPublic,
    CaseAssign,
    CaseNoteCreate,
    CaseNotePublic,
    CasePublic,
    CaseStatusUpdate,
    CaseVerdict,
    ErrorPublic,
    Page,
)
from fraudstream.errors import NotFoundError
from fraudstream.store.models import AuditEvent, Case, CaseNote, utcnow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorPublic} for code in (401, 403, 404, 422, 503)
}
CaseId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _case(db: Session, case_id: int) -> Case:
    case = db.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    return case


def _public(db: Session, case: Case) -> CasePublic:
    out = CasePublic.model_validate(case)
    notes = db.scalars(select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.id))
    out.notes = [CaseNotePublic.model_validate(n) for n in notes]
    return out


def _change(db: Session, case: Case, actor: str, **changes: str | None) -> None:
    """Apply ``changes`` to ``case``, auditing each field whose value differs."""
    now = utcnow()
    changed = False
    for name, new in changes.items():
        old = getattr(case, name)
        if old == new:
            continue
        setattr(case, name, new)
        db.add(
            AuditEvent(
                actor=actor,
                entity="case",
                entity_id=str(case.id),
                field=name,
                old_value=old,
                new_value=new,
                at=now,
            )
        )
        changed = True
    if changed:
        case.updated_at = now


@router.get("", response_model=Page[CasePublic], responses=ERRORS)
def list_cases(
    user: Analyst,
    db: DbSession,
    case_status: Annotated[
        Literal["OPEN", "IN_REVIEW", "CLOSED"] | None, Query(alias="status")
    ] = None,
    assignee: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[CasePublic]:
    """Cases, newest first."""
    stmt = select(Case)
    if case_status is not None:
        stmt = stmt.where(Case.status == case_status)
    if assignee is not None:
        stmt = stmt.where(Case.assignee == assignee)
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    cases = db.scalars(stmt.order_by(Case.id.desc()).limit(limit).offset(offset)).all()
    return Page[CasePublic](
        items=[_public(db, c) for c in cases], total=total, limit=limit, offset=offset
    )


@router.get("/{case_id}", response_model=CasePublic, responses=ERRORS)
def get_case(case_id: CaseId, user: Analyst, db: DbSession) -> CasePublic:
    """One case with its notes."""
    return _public(db, _case(db, case_id))


@router.post("/{case_id}/assign", response_model=CasePublic, responses=ERRORS)
def assign_case(case_id: CaseId, body: CaseAssign, user: Analyst, db: DbSession) -> CasePublic:
    """Assign the case; an OPEN case moves to IN_REVIEW."""
    case = _case(db, case_id)
    new_status = "IN_REVIEW" if case.status == "OPEN" else case.status
    _change(db, case, user.name, assignee=body.assignee, status=new_status)
    db.commit()
    return _public(db, case)


@router.post("/{case_id}/status", response_model=CasePublic, responses=ERRORS)
def set_case_status(
    case_id: CaseId, body: CaseStatusUpdate, user: Analyst, db: DbSession
) -> CasePublic:
    """Move the case to another status (reopening a closed case is allowed and audited)."""
    case = _case(db, case_id)
    _change(db, case, user.name, status=body.status)
    db.commit()
    return _public(db, case)


@router.post("/{case_id}/verdict", response_model=CasePublic, responses=ERRORS)
def set_case_verdict(
    case_id: CaseId, body: CaseVerdict, user: Analyst, db: DbSession, services: ServicesDep
) -> CasePublic:
    """Record the verdict, close the case and publish the label to ``feedback``."""
    case = _case(db, case_id)
    _change(db, case, user.name, verdict=body.verdict, status="CLOSED")
    db.commit()
    services.publisher.feedback(
        {
            "transaction_id": case.transaction_id,
            "label": body.verdict.lower(),
            "analyst": user.name,
            "comment": f"case {case.id} verdict",
            "created_at": int(utcnow().timestamp() * 1000),
        }
    )
    return _public(db, case)


@router.post(
    "/{case_id}/notes",
    response_model=CaseNotePublic,
    status_code=status.HTTP_201_CREATED,
    responses=ERRORS,
)
def add_case_note(
    case_id: CaseId, body: CaseNoteCreate, user: Analyst, db: DbSession
) -> CaseNotePublic:
    """Append a note (audited as a change of the ``notes`` field)."""
    case = _case(db, case_id)
    note = CaseNote(case_id=case.id, author=user.name, body=body.body, created_at=utcnow())
    db.add(note)
    db.add(
        AuditEvent(
            actor=user.name,
            entity="case",
            entity_id=str(case.id),
            field="notes",
            old_value=None,
            new_value=body.body,
            at=note.created_at,
        )
    )
    db.commit()
    return CaseNotePublic.model_validate(note)


@router.get("/{case_id}/audit", response_model=list[AuditEventPublic], responses=ERRORS)
def case_audit(case_id: CaseId, user: Analyst, db: DbSession) -> list[AuditEventPublic]:
    """The case's audit trail, oldest first."""
    case = _case(db, case_id)
    events = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity == "case", AuditEvent.entity_id == str(case.id))
        .order_by(AuditEvent.id)
    )
    return [AuditEventPublic.model_validate(e) for e in events]
