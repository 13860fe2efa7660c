"""The investigation dashboard in real headless Chromium against the real API."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from fastavro import schemaless_reader
from sqlalchemy import select
from sqlalchemy.orm import Session

from fraudstream.events.contracts import load_reader_schema
from fraudstream.store.models import AuditEvent, Case, CaseNote
from tests.e2e.conftest import ALERTED, KEYS, LiveApi, sign_in

pytestmark = pytest.mark.e2e

# Set to a path (docs/img/dashboard.png) to refresh the screenshot in the docs.
SCREENSHOT_ENV = "FRAUDSTREAM_DASHBOARD_SCREENSHOT"


def _feedback(api: LiveApi) -> list[dict[str, Any]]:
    schema = load_reader_schema("feedback")
    consumer = api.bus.consumer("e2e-feedback-reader")
    consumer.subscribe([api.settings.topics.feedback])
    out = []
    for _ in range(3):
        for m in consumer.poll_batch(1000, 0.2):
            assert m.value is not None and m.value[0] == 0  # Confluent wire format
            out.append(schemaless_reader(io.BytesIO(m.value[5:]), schema, None))
    return out


def test_the_queue_lists_the_alerts_with_block_and_review_marked(page: Any) -> None:
    sign_in(page)
    page.wait_for_selector("#alert-rows tr")
    rows = page.locator("#alert-rows tr")
    assert rows.count() == len(ALERTED)
    assert page.locator("#whoami").inner_text().startswith("ann.analyst")
    shown = dict(
        zip(
            rows.evaluate_all("rs => rs.map(r => r.dataset.tid)"),
            rows.evaluate_all("rs => rs.map(r => r.querySelector('.badge').textContent)"),
            strict=True,
        )
    )
    assert shown == {s[0]: s[8] for s in ALERTED}
    # BLOCK and REVIEW look different (colour of the badge), not only in words.
    colour = "el => getComputedStyle(el).backgroundColor"
    block = page.locator("tr[data-action=BLOCK] .badge.BLOCK").first.evaluate(colour)
    review = page.locator("tr[data-action=REVIEW] .badge.REVIEW").first.evaluate(colour)
    assert block != review
    page.select_option("#filter-action", "REVIEW")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#alert-rows tr')]"
        ".every(r => r.dataset.action === 'REVIEW')"
    )
    assert page.locator("#alert-rows tr").count() == sum(s[8] == "REVIEW" for s in ALERTED)
    assert "live" in page.locator("#live-text").inner_text()


def test_a_case_shows_its_reasons_fields_and_graph_neighbourhood(page: Any) -> None:
    sign_in(page)
    page.click("#alert-rows tr[data-tid=tx-1001]")
    page.wait_for_selector("#detail-tid")
    assert page.locator("#detail-tid").inner_text() == "tx-1001"
    assert page.locator("#detail-score").inner_text() == "0.970"
    assert page.locator("#risk-level").inner_text() == "CRITICAL"
    chips = page.locator("#reasons .chip").all_inner_texts()
    assert chips == [
        "Device shared by many cards",
        "Device shared by 4 cards",
        "Model: amount zscore by card",
        "Score band CRITICAL",
    ]
    kinds = page.locator("#reasons .chip").evaluate_all("cs => cs.map(c => c.className)")
    assert kinds == ["chip rule", "chip graph", "chip model", "chip model"]
    readable = page.evaluate(
        """async (codes) => {
            const m = await import('/dashboard/static/dashboard.js');
            return codes.map((c) => `${m.readableReason(c).kind}|${m.readableReason(c).text}`);
        }""",
        ["shadow:card_velocity_1h", "blocklist:device_id", "AMOUNT_GE_900", "no_risk_signal"],
    )
    assert readable == [
        "shadow|Card velocity (1 h) (shadow rule)",
        "list|On blocklist: device id",
        "rule|Amount ≥ 900",
        "shadow|No risk signal",
    ]
    fields = page.locator("dl.fields").inner_text()
    assert "dev-ring-7" in fields and "203.0.113.9" in fields and "··4821" in fields
    graph = page.locator("#graph svg.graph")
    # The card's device is shared with tx-1002, tx-1003 and tx-0990: three other cards.
    nodes = graph.locator("g.node").evaluate_all("ns => ns.map(n => n.dataset.kind)")
    assert {"transaction", "card", "device", "ip", "merchant"} <= set(nodes)
    ids = set(graph.locator("g.node").evaluate_all("ns => ns.map(n => n.dataset.id)"))
    assert {"tx:tx-1002", "tx:tx-1003", "tx:tx-0990", "card:card-b", "card:card-c"} <= ids
    assert "tx:tx-0991" in ids  # same card, other device: linked through the card
    assert "tx:tx-1005" not in ids  # shares nothing
    blocked = graph.locator("g.node[data-id='tx:tx-1002']").get_attribute("data-action")
    assert blocked == "BLOCK"
    assert graph.locator("line").count() >= 10
    counts = page.locator("#graph-counts").inner_text()
    assert "device: 3 other transactions, 3 cards" in counts
    audit = page.locator("#audit").inner_text()
    assert "No changes yet" in audit
    target = os.environ.get(SCREENSHOT_ENV)
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=target, type="png", full_page=True)


def test_a_verdict_closes_the_case_audits_it_and_publishes_feedback(
    page: Any, live_api: LiveApi
) -> None:
    sign_in(page)
    page.click("#alert-rows tr[data-tid=tx-1003]")
    page.wait_for_selector("#assign-me:enabled")
    page.click("#add-note")  # empty: refused in the page, nothing sent
    assert "write a note first" in page.locator("#error-text").inner_text()
    page.fill("#verdict-note", "Called the cardholder.")
    page.click("#add-note")
    page.wait_for_selector("#audit li")
    assert "Called the cardholder." in page.locator("#audit").inner_text()
    page.click("#assign-me")
    page.wait_for_function(
        "() => document.querySelector('#case-assignee')?.textContent === 'assigned to ann.analyst'"
    )
    assert page.locator("#case-status").inner_text() == "IN REVIEW"
    page.fill("#verdict-note", "Same device as two blocked cards; customer denies it.")
    page.click("#verdict-fraud")
    page.wait_for_selector("#case-verdict")
    assert page.locator("#case-verdict").inner_text() == "FRAUD"
    assert page.locator("#case-status").inner_text() == "CLOSED"
    assert page.locator("#verdict-fraud").is_disabled()
    assert "verdict" in page.locator("#audit").inner_text()
    # The queue row follows (next poll at the latest).
    page.wait_for_function(
        "() => document.querySelector('tr[data-tid=\"tx-1003\"]')?.textContent.includes('CLOSED')"
    )

    with Session(live_api.engine) as db:
        case = db.scalars(select(Case).where(Case.transaction_id == "tx-1003")).one()
        assert (case.status, case.verdict, case.assignee) == ("CLOSED", "FRAUD", "ann.analyst")
        changes = db.execute(
            select(AuditEvent.actor, AuditEvent.field, AuditEvent.new_value)
            .where(AuditEvent.entity == "case", AuditEvent.entity_id == str(case.id))
            .order_by(AuditEvent.id)
        ).all()
        assert [tuple(c) for c in changes] == [
            ("ann.analyst", "notes", "Called the cardholder."),
            ("ann.analyst", "assignee", "ann.analyst"),
            ("ann.analyst", "status", "IN_REVIEW"),
            ("ann.analyst", "notes", "Same device as two blocked cards; customer denies it."),
            ("ann.analyst", "verdict", "FRAUD"),
            ("ann.analyst", "status", "CLOSED"),
        ]
        notes = db.scalars(select(CaseNote.body).where(CaseNote.case_id == case.id)).all()
        assert notes == [
            "Called the cardholder.",
            "Same device as two blocked cards; customer denies it.",
        ]
    (fb,) = [f for f in _feedback(live_api) if f["transaction_id"] == "tx-1003"]
    assert (fb["label"], fb["analyst"]) == ("fraud", "ann.analyst")


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("not-a-key", "401 unauthenticated: unknown API key"),
        (KEYS["ingest"], "403 forbidden: API key 'shop' lacks the role this route needs"),
    ],
)
def test_a_wrong_key_shows_the_apis_reason(page: Any, key: str, reason: str) -> None:
    sign_in(page, key)
    page.wait_for_selector("#key-error:not([hidden])")
    assert page.locator("#key-error").inner_text().startswith(reason)
    assert page.locator("#key-dialog").evaluate("d => d.open")
    assert page.evaluate("() => sessionStorage.getItem('fraudstream.apiKey')") is None
    assert page.locator("#alert-rows tr").count() == 0
    sign_in(page)  # the right key then works in the same tab
    page.wait_for_selector("#alert-rows tr")
    assert not page.locator("#key-dialog").evaluate("d => d.open")


def test_an_api_error_on_a_case_is_shown_with_its_reason(page: Any, live_api: LiveApi) -> None:
    sign_in(page)
    page.wait_for_selector("#alert-rows tr")
    page.goto(f"{live_api.url}/dashboard#/tx/no-such-tx")
    page.wait_for_selector("#error:not([hidden])")
    assert page.locator("#error-text").inner_text() == (
        "404 not_found: no transaction 'no-such-tx'"
    )
    page.click("#error-close")
    assert page.locator("#error").is_hidden()
