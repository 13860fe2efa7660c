"""The e2e tier: the real API (uvicorn on a free port, SQLite, memory bus) and headless Chromium.

The browser is Debian's ``/usr/bin/chromium`` (``scripts/bootstrap-test-deps.sh``
installs it) driven by the ``playwright`` package's own driver; nothing is
downloaded (``playwright install`` is never run). Without the binary the tests
fail with that hint rather than skip.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from fraudstream.api.app import create_app
from fraudstream.bus.local_kafka import free_port
from fraudstream.bus.memory import MemoryBus
from fraudstream.settings import Settings
from fraudstream.store.models import Payment
from fraudstream.store.repository import SinkBatch, write_batch

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEYS = {"analyst": "e2e-analyst-key", "ingest": "e2e-ingest-key"}
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)

# (tid, card, last4, device, ip, merchant, amount, score, action, reasons)
SEED: list[tuple[str, str, str, str, str, str, float, float, str, list[str]]] = [
    ("tx-1001", "card-a", "4821", "dev-ring-7", "203.0.113.9", "m-electro", 1890.0, 0.97, "BLOCK",
     ["rule:device_shared_velocity", "graph:device_shared_by_4_cards", "amount_zscore_by_card",
      "score_band:CRITICAL"]),
    ("tx-1002", "card-b", "1177", "dev-ring-7", "203.0.113.9", "m-giftcards", 940.0, 0.91, "BLOCK",
     ["rule:device_shared_velocity", "rule:amount_ge_900"]),
    ("tx-1003", "card-c", "3090", "dev-ring-7", "198.51.100.4", "m-electro", 612.5, 0.74, "REVIEW",
     ["rule:high_amount_for_card", "graph:device_shared_with_2_flagged_cards_24h"]),
    ("tx-1004", "card-d", "5512", "dev-d", "203.0.113.9", "m-grocer", 1.0, 0.68, "REVIEW",
     ["rule:micro_amount_burst", "rule:card_velocity_1m"]),
    ("tx-1005", "card-e", "7003", "dev-e", "192.0.2.44", "m-travel", 3200.0, 0.88, "BLOCK",
     ["rule:round_amount_high", "amount"]),
    ("tx-1006", "card-f", "2468", "dev-f", "192.0.2.50", "m-grocer", 84.2, 0.61, "REVIEW",
     ["rule:new_device_cash_out", "blocklist:ip_address"]),
    # Scored but not alerted: neighbours in the graph, never in the queue.
    ("tx-0990", "card-g", "8080", "dev-ring-7", "203.0.113.9", "m-electro", 45.0, 0.12, "ALLOW",
     []),
    ("tx-0991", "card-a", "4821", "dev-a", "198.51.100.7", "m-grocer", 23.9, 0.05, "ALLOW", []),
]  # fmt: skip
ALERTED = [s for s in SEED if s[8] != "ALLOW"]


def seed(engine: Engine) -> None:
    """Payments (device/IP/merchant), their scores, and alerts (which open cases)."""
    scores, alerts, payments = [], [], []
    for i, (tid, card, last4, dev, ip, merchant, amount, score, action, reasons) in enumerate(SEED):
        at = T0 + timedelta(minutes=i)
        level = "CRITICAL" if score > 0.85 else "HIGH" if action != "ALLOW" else "LOW"
        payments.append(
            Payment(payment_id=f"p-{tid}", transaction_id=tid, card_hash=card, card_last4=last4,
                    amount=Decimal(str(amount)), currency="EUR", merchant_id=merchant,
                    merchant_category="electronics", merchant_country="NL", customer_country="FR",
                    customer_id=f"cust-{card}", account_id=f"acct-{card}", channel="ECOM",
                    tx_type="PURCHASE", device_id=dev, ip_address=ip, status="SCORED",
                    event_time=at, created_at=at)
        )  # fmt: skip
        row: dict[str, Any] = {
            "transaction_id": tid, "card_id": card, "amount": amount, "fraud_score": score,
            "risk_level": level, "action": action, "reasons": reasons, "model_version": "ens-e2e-1",
        }  # fmt: skip
        scores.append({**row, "event_time": at, "scored_at": at, "features": {"amount": amount}})
        if action != "ALLOW":
            alerts.append({**row, "created_at": at})
    with Session(engine) as session, session.begin():
        session.add_all(payments)
    write_batch(engine, SinkBatch(scores=scores, alerts=alerts))


@dataclass
class LiveApi:
    url: str
    bus: MemoryBus
    engine: Engine
    settings: Settings


@pytest.fixture(scope="session")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """The real app under uvicorn in a thread, seeded once for the session."""
    db = tmp_path_factory.mktemp("e2e") / "dashboard.db"
    settings = Settings(
        bus="memory",
        database={"url": f"sqlite:///{db}"},
        api={
            "api_keys": [
                {"name": "ann.analyst", "key": KEYS["analyst"], "roles": ["analyst"]},
                {"name": "shop", "key": KEYS["ingest"], "roles": ["ingest"]},
            ],
            "card_hash_key": "e2e-card-key",
        },
        detection={"use_model": False},
    )
    bus = MemoryBus()
    app = create_app(settings, bus=bus)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    )
    thread = threading.Thread(target=server.run, name="e2e-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start (see the log above)")
        time.sleep(0.05)
    engine: Engine = app.state.services.engine
    seed(engine)
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", bus, engine, settings)
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/bootstrap-test-deps.sh (apt chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, live_api: LiveApi) -> Iterator[Any]:
    """A fresh browser context (empty sessionStorage) on the dashboard."""
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    problems: list[str] = []  # script errors and CSP violations fail the test
    pg.on("pageerror", lambda err: problems.append(str(err)))
    pg.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    pg.goto(f"{live_api.url}/dashboard")
    try:
        yield pg
    finally:
        context.close()
    # 401/403/404 answers are expected where a test provokes them on purpose.
    unexpected = [p for p in problems if not re.search(r"status of 40[134]", p)]
    assert not unexpected, unexpected


def sign_in(page: Any, key: str = KEYS["analyst"]) -> None:
    page.fill("#api-key", key)
    page.click("#key-submit")
