"""Dead letters: listed with their origin, replayed (repaired) to the source topic."""

from __future__ import annotations

from typing import Any

import orjson

from fraudstream.pipeline.dlq import read_dead_letters, replay
from fraudstream.pipeline.harness import read_topic, run_pipeline
from fraudstream.pipeline.routes import json_decode_transactions

from .conftest import tx


def _decode(values: Any) -> list[Any]:
    return [orjson.loads(v) for v in values]


def test_list_then_replay_a_repaired_record(clock: Any) -> None:
    good = [tx(i) for i in range(5)]
    bad = tx(99, currency="EURO")
    run = run_pipeline([*good, bad, b"\xff\xfe not json"], partitions=2, clock=clock)
    letters = [rec for _m, rec in read_dead_letters(run.bus, "dead-letter", _decode)]
    assert sorted(d["reason"] for d in letters) == ["undecodable", "validation_failed"]
    invalid = next(d for d in letters if d["reason"] == "validation_failed")
    assert invalid["field"] == "currency" and invalid["source_topic"] == "transactions"

    def repair(letter: dict[str, Any]) -> bytes | None:
        if letter["reason"] != "validation_failed":
            return None  # garbage stays dead
        rec = orjson.loads(letter["original_value"].encode("latin-1"))
        return orjson.dumps({**rec, "currency": "EUR"})

    assert replay(run.bus, letters, repair=repair) == 1
    back = [m for m in read_topic(run.bus, "transactions") if m.key == b"c1"]
    replayed = json_decode_transactions([back[-1].value])[0]
    assert isinstance(replayed, dict)
    assert replayed["transaction_id"] == "t99" and replayed["currency"] == "EUR"
