"""The columnar encoder against the events serde (byte for byte, and decoded back)."""

from __future__ import annotations

from fraudstream.generate.encode import TransactionEncoder
from fraudstream.generate.transactions import TransactionGenerator, format_ids

from .conftest import small_config


def test_columnar_encoder_matches_the_serde_and_decodes_back() -> None:
    from fraudstream.events.registry import InProcessRegistry
    from fraudstream.events.serde import AvroSerde

    serde = AvroSerde("transaction", InProcessRegistry(), "transactions-value")
    gen = TransactionGenerator(small_config(fraud_rate=0.05))
    enc = TransactionEncoder(gen.ids, serde.schema_id)
    cols, raw = next(gen.column_batches(3000))
    _, values = enc.encode(cols, raw)
    records = gen.ids.to_records(cols, format_ids(raw))
    assert values == serde.encode_many(records)
    assert [serde.decode(v) for v in values] == records
