"""The dashboard's page, static files and read-only routes (the browser tier is tests/e2e)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from fraudstream.store.models import Payment
from fraudstream.store.repository import SinkBatch, write_batch
from tests.unit.api.conftest import Api, headers

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _seed(api: Api) -> None:
    """t1..t3 share device d1 (three cards); t4 shares t1's card only; s1 is stream-only."""
    engine = api.client.app.state.services.engine  # type: ignore[attr-defined]
    spec = [("t1", "c1", "d1", "ip1"), ("t2", "c2", "d1", "ip2"), ("t3", "c3", "d1", "ip2"),
            ("t4", "c1", "d4", "ip4")]  # fmt: skip
    with Session(engine) as db, db.begin():
        for i, (tid, card, dev, ip) in enumerate(spec):
            db.add(
                Payment(payment_id=f"p-{tid}", transaction_id=tid, card_hash=card,
                        card_last4=card[-1] * 4, amount=Decimal("10.00"), currency="EUR",
                        merchant_id=f"m-{tid}", merchant_category="x", merchant_country="FR",
                        customer_country="FR", customer_id="u", account_id="a", channel="ECOM",
                        tx_type="PURCHASE", device_id=dev, ip_address=ip, status="SCORED",
                        event_time=T0, created_at=T0 + timedelta(seconds=i))
            )  # fmt: skip
    rows: list[dict[str, Any]] = [
        {"transaction_id": tid, "card_id": card, "amount": 10.0, "fraud_score": 0.9 - i / 10,
         "risk_level": "HIGH", "action": "BLOCK" if i == 1 else "ALLOW", "reasons": ["rule:x"],
         "model_version": "v1"}
        for i, (tid, card) in enumerate([("t1", "c1"), ("t2", "c2"), ("t3", "c3"), ("t4", "c1"),
                                         ("s1", "c9"), ("s2", "c9")])
    ]  # fmt: skip
    scores = [{**r, "scored_at": T0 + timedelta(seconds=i)} for i, r in enumerate(rows)]
    alerts = [{**rows[0], "action": "REVIEW", "created_at": T0}]
    write_batch(engine, SinkBatch(scores=scores, alerts=alerts))


def test_the_page_and_its_static_files_are_served(api: Api) -> None:
    page = api.client.get("/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="/dashboard/static/dashboard.js"' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    for name, kind in [("dashboard.js", "javascript"), ("graph.js", "javascript"),
                       ("dashboard.css", "text/css")]:  # fmt: skip
        r = api.client.get(f"/dashboard/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"], name
    assert api.client.get("/dashboard/static/nope.js").status_code == 404
    assert "/dashboard" not in api.client.get("/openapi.json").json()["paths"]


def test_me_names_the_key_and_needs_the_analyst_role(api: Api) -> None:
    assert api.client.get("/api/v1/me", headers=headers("analyst")).json() == {
        "name": "analyst-user",
        "roles": ["analyst"],
    }
    r = api.client.get("/api/v1/me", headers=headers("ingest"))
    assert r.status_code == 403 and "lacks the role" in r.json()["detail"]
    r = api.client.get("/api/v1/me", headers={"X-API-Key": "wrong"})
    assert r.status_code == 401 and r.json() == {
        "error": "unauthenticated",
        "detail": "unknown API key",
    }


def test_a_transaction_joins_alert_score_payment_and_case(api: Api) -> None:
    _seed(api)
    h = headers("analyst")
    tx = api.client.get("/api/v1/transactions/t1", headers=h).json()
    assert tx["alert"]["action"] == "REVIEW" and tx["score"]["action"] == "ALLOW"
    assert tx["payment"]["device_id"] == "d1" and tx["payment"]["card_last4"] == "1111"
    assert "card_hash" not in tx["payment"]
    assert tx["case"]["status"] == "OPEN" and tx["case"]["notes"] == []
    stream_only = api.client.get("/api/v1/transactions/s1", headers=h).json()
    assert stream_only["payment"] is None and stream_only["case"] is None
    assert stream_only["score"]["model_version"] == "v1" and stream_only["event_time"] is None
    r = api.client.get("/api/v1/transactions/nope", headers=h)
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    assert api.client.get("/api/v1/transactions/t1", headers=headers("ingest")).status_code == 403


def test_the_neighbourhood_links_shared_devices_ips_merchants_and_cards(api: Api) -> None:
    _seed(api)
    h = headers("analyst")
    g = api.client.get("/api/v1/transactions/t1/neighbourhood", headers=h).json()
    nodes = {n["id"]: n for n in g["nodes"]}
    edges = {(e["source"], e["target"]) for e in g["edges"]}
    assert {"tx:t2", "tx:t3", "tx:t4", "card:c2", "card:c3", "device:d1", "ip:ip1"} <= set(nodes)
    assert nodes["tx:t1"]["center"] and nodes["tx:t1"]["action"] == "REVIEW"  # alert wins
    assert nodes["tx:t2"]["action"] == "BLOCK" and nodes["card:c2"]["label"] == "card ··2222"
    assert {("tx:t2", "device:d1"), ("tx:t3", "device:d1"), ("tx:t4", "card:c1")} <= edges
    assert ("tx:t4", "device:d1") not in edges  # t4 shares the card, not the device
    assert g["counts"]["device"] == {"value": "d1", "transactions": 2, "cards": 2}
    assert g["counts"]["card"]["transactions"] == 1 and g["counts"]["merchant"]["transactions"] == 0
    assert all(s in nodes and t in nodes for s, t in edges)
    small = api.client.get(
        "/api/v1/transactions/t1/neighbourhood", params={"per_link": 1}, headers=h
    ).json()
    assert sum(e["target"] == "device:d1" and e["source"] != "tx:t1" for e in small["edges"]) == 1
    assert small["counts"]["device"]["transactions"] == 2  # counts stay whole
    # A transaction only the stream saw: its card's other transactions.
    s = api.client.get("/api/v1/transactions/s1/neighbourhood", headers=h).json()
    assert {n["id"] for n in s["nodes"]} == {"tx:s1", "card:c9", "tx:s2"}
    assert set(s["counts"]) == {"card"}
    bad = api.client.get("/api/v1/transactions/t1/neighbourhood?per_link=0", headers=h)
    assert bad.status_code == 422
    assert api.client.get("/api/v1/transactions/nope/neighbourhood", headers=h).status_code == 404


def test_stream_only_transactions_link_by_the_device_ip_and_merchant_of_their_score(
    api: Api,
) -> None:
    _seed(api)
    engine = api.client.app.state.services.engine  # type: ignore[attr-defined]
    base = {"amount": 5.0, "fraud_score": 0.5, "risk_level": "LOW", "action": "ALLOW",
            "reasons": [], "model_version": "v1", "scored_at": T0}  # fmt: skip
    links = {"merchant_id": "m-x", "device_id": "dx", "ip_address": "10.9.9.9"}
    scores = [
        {**base, **links, "transaction_id": "s3", "card_id": "c30"},
        {**base, **links, "transaction_id": "s4", "card_id": "c40"},
        # t2 again, now with its links in the score row too: still one neighbour of t1.
        {**base, "transaction_id": "t2", "card_id": "c2", "device_id": "d1", "ip_address": "ip2",
         "merchant_id": "m-t2"},
        # A stream-only transaction on t1's device.
        {**base, "transaction_id": "s5", "card_id": "c50", "device_id": "d1", "ip_address": None,
         "merchant_id": None},
    ]  # fmt: skip
    write_batch(engine, SinkBatch(scores=scores))
    h = headers("analyst")
    g = api.client.get("/api/v1/transactions/s3/neighbourhood", headers=h).json()
    nodes = {n["id"] for n in g["nodes"]}
    edges = {(e["source"], e["target"]) for e in g["edges"]}
    assert {"device:dx", "ip:10.9.9.9", "merchant:m-x", "tx:s4", "card:c40"} <= nodes
    assert {("tx:s4", "device:dx"), ("tx:s4", "ip:10.9.9.9"), ("tx:s4", "card:c40")} <= edges
    for kind, value in (("device", "dx"), ("ip", "10.9.9.9"), ("merchant", "m-x")):
        assert g["counts"][kind] == {"value": value, "transactions": 1, "cards": 1}
    # An ingested payment's device now also reaches stream-only transactions, once each.
    t1 = api.client.get("/api/v1/transactions/t1/neighbourhood", headers=h).json()
    assert t1["counts"]["device"] == {"value": "d1", "transactions": 3, "cards": 3}
    assert ("tx:s5", "device:d1") in {(e["source"], e["target"]) for e in t1["edges"]}
