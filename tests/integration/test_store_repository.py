"""Idempotent bulk upserts and migrations, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from fraudstream.store.migrate import current_revision, downgrade, head_revision, upgrade
from fraudstream.store.models import Base, Case, Feedback, ModelVersion, Score
from fraudstream.store.repository import SinkBatch, count_rows, write_batch
from tests.integration._db import db_url_fixture, engine_fixture  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _score(tid: str, score: float = 0.1, version: str = "v1") -> dict[str, object]:
    return {
        "transaction_id": tid,
        "card_id": "c1",
        "amount": 12.5,
        "fraud_score": score,
        "risk_level": "LOW",
        "action": "ALLOW",
        "reasons": ["amount_high"],
        "model_version": version,
        "event_time": NOW,
        "scored_at": NOW,
        "features": {"amount": 12.5},
    }


def _alert(tid: str) -> dict[str, object]:
    return {
        "transaction_id": tid,
        "card_id": "c1",
        "amount": 900.0,
        "fraud_score": 0.97,
        "risk_level": "CRITICAL",
        "action": "BLOCK",
        "reasons": ["r"],
        "model_version": "v1",
        "created_at": NOW,
    }


def test_migrations_reach_head_and_match_the_models(engine: Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    upgrade(engine)  # idempotent
    downgrade(engine, "base")
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_replayed_batches_leave_one_row_per_transaction(engine: Engine) -> None:
    batch = SinkBatch(
        scores=[_score(f"t{i}") for i in range(500)],
        alerts=[_alert(f"t{i}") for i in range(0, 500, 50)],
        feedback=[
            {"transaction_id": "t0", "label": "fraud", "analyst": "ann", "at": NOW},
        ],
    )
    write_batch(engine, batch)
    write_batch(engine, batch)  # a replay after a crash
    assert count_rows(engine) == {
        "scores": 500,
        "alerts": 10,
        "feedback": 1,
        "cases": 10,
        "payments": 0,
    }


def test_duplicates_inside_one_batch_keep_the_last(engine: Engine) -> None:
    write_batch(engine, SinkBatch(scores=[_score("t1", 0.1), _score("t1", 0.9, "v2")]))
    with Session(engine) as s:
        rows = s.scalars(select(Score)).all()
        assert [(r.transaction_id, r.fraud_score, r.model_version) for r in rows] == [
            ("t1", 0.9, "v2")
        ]
        assert rows[0].reasons == ["amount_high"] and rows[0].features == {"amount": 12.5}
        assert rows[0].scored_at.replace(tzinfo=UTC) == NOW
        assert sorted(s.scalars(select(ModelVersion.version)).all()) == ["v1", "v2"]


def test_feedback_is_unique_per_transaction_and_analyst(engine: Engine) -> None:
    fb = [
        {"transaction_id": "t1", "label": "fraud", "analyst": "ann", "at": NOW},
        {"transaction_id": "t1", "label": "legitimate", "analyst": "bob", "at": NOW},
    ]
    write_batch(engine, SinkBatch(feedback=fb))
    fb2 = [{"transaction_id": "t1", "label": "legitimate", "analyst": "ann", "at": NOW}]
    write_batch(engine, SinkBatch(feedback=fb2))
    with Session(engine) as s:
        got = {(f.analyst, f.label) for f in s.scalars(select(Feedback))}
    assert got == {("ann", "legitimate"), ("bob", "legitimate")}


def test_an_alert_opens_one_case_and_a_replay_keeps_its_state(engine: Engine) -> None:
    write_batch(engine, SinkBatch(alerts=[_alert("t9")]))
    with Session(engine) as s, s.begin():
        case = s.scalars(select(Case)).one()
        case.status, case.assignee = "IN_REVIEW", "ann"
    write_batch(engine, SinkBatch(alerts=[_alert("t9")]))
    with Session(engine) as s:
        case = s.scalars(select(Case)).one()
    assert (case.status, case.assignee) == ("IN_REVIEW", "ann")
