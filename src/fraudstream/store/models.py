"""The system of record: SQLAlchemy 2 models shared by the API, the sink and Alembic.

Every table that the stream writes is keyed by ``transaction_id`` so that the
sink's writes are idempotent upserts: replaying a topic never duplicates a row.
Timestamps are timezone-aware UTC. JSON columns hold reason codes and the
feature vector the online learner needs.

The first Alembic revision (``migrations/versions/0001_initial.py``) mirrors
these models; ``tests/integration/test_store_migrations.py`` fails if they drift.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

PAYMENT_STATUSES = ("RECEIVED", "SCORED")
CASE_STATUSES = ("OPEN", "IN_REVIEW", "CLOSED")
VERDICTS = ("FRAUD", "LEGITIMATE")
FEEDBACK_LABELS = ("fraud", "legitimate")

# Stable constraint names, so migrations can refer to them on every dialect.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Now, timezone-aware UTC (the only clock the store uses)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with the naming convention above."""

    metadata = MetaData(naming_convention=NAMING)


_TS = DateTime(timezone=True)


class Payment(Base):
    """A payment accepted by ``POST /api/v1/payments``. The PAN is never stored."""

    __tablename__ = "payments"

    payment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)
    card_hash: Mapped[str] = mapped_column(String(64), index=True)
    card_last4: Mapped[str | None] = mapped_column(String(4))
    amount: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    currency: Mapped[str] = mapped_column(String(3))
    merchant_id: Mapped[str] = mapped_column(String(64))
    merchant_category: Mapped[str] = mapped_column(String(32))
    merchant_country: Mapped[str] = mapped_column(String(2))
    customer_country: Mapped[str] = mapped_column(String(2))
    customer_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    tx_type: Mapped[str] = mapped_column(String(16))
    device_id: Mapped[str | None] = mapped_column(String(64))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    status: Mapped[str] = mapped_column(String(16), default="RECEIVED")
    event_time: Mapped[datetime] = mapped_column(_TS)
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)


class Score(Base):
    """One scored transaction, as written by the sink from ``fraud-scores``."""

    __tablename__ = "scores"

    transaction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    card_id: Mapped[str | None] = mapped_column(String(128), index=True)
    amount: Mapped[float | None] = mapped_column(Float)
    fraud_score: Mapped[float] = mapped_column(Float)
    risk_level: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    model_version: Mapped[str] = mapped_column(String(64))
    event_time: Mapped[datetime | None] = mapped_column(_TS)
    scored_at: Mapped[datetime] = mapped_column(_TS, index=True)
    # The graph links of the dashboard's neighbourhood (migration 0002), also for
    # transactions that never had a ``payments`` row.
    merchant_id: Mapped[str | None] = mapped_column(String(64), index=True)
    device_id: Mapped[str | None] = mapped_column(String(64), index=True)
    ip_address: Mapped[str | None] = mapped_column(String(45), index=True)
    # Feature vector as scored ({name: value}); the online learner joins it with feedback.
    features: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Alert(Base):
    """A transaction flagged REVIEW or BLOCK, from ``fraud-alerts``."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_created_at_risk", "created_at", "risk_level"),)

    transaction_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    card_id: Mapped[str | None] = mapped_column(String(128))
    amount: Mapped[float | None] = mapped_column(Float)
    fraud_score: Mapped[float] = mapped_column(Float)
    risk_level: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    model_version: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(_TS)


class Case(Base):
    """An analyst's investigation of one alert (opened by the sink with the alert)."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="OPEN", index=True)
    assignee: Mapped[str | None] = mapped_column(String(64))
    verdict: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)


class CaseNote(Base):
    """A free-text note on a case; notes are append-only."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)


class AuditEvent(Base):
    """Who changed what: one row per changed field, with old and new values."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(_TS, default=utcnow)


class Feedback(Base):
    """An analyst's verdict on a transaction; one per (transaction, analyst), latest wins."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("transaction_id", "analyst"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str] = mapped_column(String(16))
    analyst: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(_TS)


class ModelVersion(Base):
    """A scorer version seen in the scores (or registered by training)."""

    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="ensemble")
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)


class IdempotencyKey(Base):
    """An ``Idempotency-Key`` seen by the ingest API, scoped by the caller's key name."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    payment_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(_TS, default=utcnow)
