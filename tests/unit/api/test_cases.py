"""Alerts, cases with their audit trail, feedback, /score and the health routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fraudstream.store.repository import SinkBatch, write_batch
from tests.unit.api.conftest import Api, headers, payment
from tests.unit.api.test_payments import published

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _seed_alerts(api: Api, n: int = 6) -> None:
    alerts = [
        {
            "transaction_id": f"t{i}",
            "card_id": "c",
            "amount": 100.0 + i,
            "fraud_score": 0.5 + i / 20,
            "risk_level": "CRITICAL" if i % 2 else "HIGH",
            "action": "BLOCK" if i % 2 else "REVIEW",
            "reasons": ["r1"],
            "model_version": "v1",
            "created_at": T0 + timedelta(minutes=i),
        }
        for i in range(n)
    ]
    write_batch(api.client.app.state.services.engine, SinkBatch(alerts=alerts))  # type: ignore[attr-defined]


def test_alerts_are_filtered_paginated_and_need_the_analyst_role(api: Api) -> None:
    _seed_alerts(api)
    h = headers("analyst")
    page = api.client.get("/api/v1/alerts", params={"limit": 4}, headers=h).json()
    assert page["total"] == 6 and [a["transaction_id"] for a in page["items"]] == [
        "t5",
        "t4",
        "t3",
        "t2",
    ]
    assert page["items"][0]["case"]["status"] == "OPEN"
    page2 = api.client.get("/api/v1/alerts", params={"limit": 4, "offset": 4}, headers=h).json()
    assert [a["transaction_id"] for a in page2["items"]] == ["t1", "t0"]
    crit = api.client.get("/api/v1/alerts", params={"risk_level": "CRITICAL"}, headers=h).json()
    assert {a["transaction_id"] for a in crit["items"]} == {"t1", "t3", "t5"}
    hi = api.client.get("/api/v1/alerts", params={"min_score": 0.7}, headers=h).json()
    assert {a["transaction_id"] for a in hi["items"]} == {"t4", "t5"}
    since = (T0 + timedelta(minutes=4)).isoformat()
    recent = api.client.get("/api/v1/alerts", params={"since": since}, headers=h).json()
    assert recent["total"] == 2
    bad = api.client.get("/api/v1/alerts", params={"limit": 0}, headers=h)
    assert bad.status_code == 422 and "limit" in bad.json()["detail"]
    assert api.client.get("/api/v1/alerts", headers=headers("ingest")).status_code == 403


def test_case_workflow_is_audited_and_the_verdict_becomes_feedback(api: Api) -> None:
    _seed_alerts(api, 1)
    h = headers("analyst")
    case = api.client.get("/api/v1/cases", headers=h).json()["items"][0]
    cid = case["id"]
    r = api.client.post(f"/api/v1/cases/{cid}/assign", json={"assignee": "ann"}, headers=h)
    assert r.status_code == 200 and r.json()["status"] == "IN_REVIEW"
    r = api.client.post(f"/api/v1/cases/{cid}/notes", json={"body": "called the bank"}, headers=h)
    assert r.status_code == 201 and r.json()["author"] == "analyst-user"
    r = api.client.post(f"/api/v1/cases/{cid}/verdict", json={"verdict": "FRAUD"}, headers=h)
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["verdict"]) == ("CLOSED", "FRAUD")
    assert [n["body"] for n in r.json()["notes"]] == ["called the bank"]
    audit = api.client.get(f"/api/v1/cases/{cid}/audit", headers=h).json()
    changes = [(a["actor"], a["field"], a["old_value"], a["new_value"]) for a in audit]
    assert changes == [
        ("analyst-user", "assignee", None, "ann"),
        ("analyst-user", "status", "OPEN", "IN_REVIEW"),
        ("analyst-user", "notes", None, "called the bank"),
        ("analyst-user", "verdict", None, "FRAUD"),
        ("analyst-user", "status", "IN_REVIEW", "CLOSED"),
    ]
    assert all(a["at"] for a in audit)
    (fb,) = published(api.bus, "feedback")
    assert (fb["transaction_id"], fb["label"], fb["analyst"]) == ("t0", "fraud", "analyst-user")
    # Setting the same status again changes nothing and audits nothing.
    api.client.post(f"/api/v1/cases/{cid}/status", json={"status": "CLOSED"}, headers=h)
    assert len(api.client.get(f"/api/v1/cases/{cid}/audit", headers=h).json()) == 5


def test_case_errors_have_reasons(api: Api) -> None:
    h = headers("analyst")
    r = api.client.post("/api/v1/cases/999/assign", json={"assignee": "ann"}, headers=h)
    assert r.status_code == 404 and r.json() == {"error": "not_found", "detail": "no case 999"}
    _seed_alerts(api, 1)
    r = api.client.post("/api/v1/cases/1/status", json={"status": "DONE"}, headers=h)
    assert r.status_code == 422 and "status" in r.json()["detail"]
    r = api.client.post("/api/v1/cases/1/notes", json={"body": "a\x00b"}, headers=h)
    assert r.status_code == 422


def test_feedback_is_published_with_the_analyst_name(api: Api) -> None:
    body = {"transaction_id": "tx-9", "label": "legitimate", "comment": "customer confirmed"}
    r = api.client.post("/api/v1/feedback", json=body, headers=headers("analyst"))
    assert r.status_code == 202 and r.json()["analyst"] == "analyst-user"
    (fb,) = published(api.bus, "feedback")
    assert fb["label"] == "legitimate" and fb["comment"] == "customer confirmed"
    r = api.client.post(
        "/api/v1/feedback", json={**body, "label": "maybe"}, headers=headers("analyst")
    )
    assert r.status_code == 422 and "label" in r.json()["detail"]


def test_score_answers_inline_without_publishing(api: Api) -> None:
    r = api.client.post("/api/v1/score", json=payment(amount="950.00"), headers=headers("ingest"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["action"] == "BLOCK" and body["risk_level"] == "CRITICAL"
    assert abs(body["fraud_score"] - 0.95) < 1e-9 and body["model_version"] == "test-amount-1"
    low = api.client.post("/api/v1/score", json=payment(amount="5.00"), headers=headers("ingest"))
    assert low.json()["action"] == "ALLOW"
    assert published(api.bus) == []


def test_payment_shows_its_score_once_the_sink_stored_it(api: Api) -> None:
    pid = api.client.post("/api/v1/payments", json=payment(), headers=headers("ingest")).json()[
        "payment_id"
    ]
    score = {
        "transaction_id": pid,
        "card_id": "c",
        "amount": 42.5,
        "fraud_score": 0.12,
        "risk_level": "LOW",
        "action": "ALLOW",
        "reasons": [],
        "model_version": "v1",
        "event_time": T0,
        "scored_at": T0,
        "features": None,
    }
    write_batch(api.client.app.state.services.engine, SinkBatch(scores=[score]))  # type: ignore[attr-defined]
    got = api.client.get(f"/api/v1/payments/{pid}", headers=headers("analyst")).json()
    assert got["status"] == "SCORED" and got["score"]["fraud_score"] == 0.12


def test_health_ready_metrics_and_openapi(api: Api) -> None:
    assert api.client.get("/health").json() == {"status": "ok"}
    ready = api.client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"] == {"kafka": "ok", "database": "ok"}
    api.client.post("/api/v1/payments", json=payment(), headers=headers("ingest"))
    metrics = api.client.get("/metrics").text
    assert (
        'fraudstream_api_requests_total{method="POST",route="/api/v1/payments",status="202"}'
        in metrics
    )
    spec = api.client.get("/openapi.json").json()
    assert {
        "/api/v1/payments",
        "/api/v1/payments/batch",
        "/api/v1/score",
        "/api/v1/alerts",
        "/api/v1/feedback",
        "/ready",
    } <= set(spec["paths"])
    unknown = api.client.get("/nope")
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
