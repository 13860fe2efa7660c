"""Fast Avro encoding of scored transactions: reuse the input's bytes.

``scored_transaction.avsc`` starts with every field of ``transaction.avsc``, in
the same order and with the same types, then the decision. An Avro record body
is the concatenation of its fields, so the body of a scored transaction is the
body of the transaction as it arrived followed by the encoded decision fields.
Re-encoding the 19 transaction fields was the largest cost of the hot path; this
skips it. It applies only when the input was written with our own schema id
(the same writer schema); anything else takes the full encode.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fraudstream.events.codec import Codec, compile_codec
from fraudstream.events.contracts import SCORED_TRANSACTION, TRANSACTION, schema_dict
from fraudstream.events.serde import HEADER_SIZE, AvroSerde

logger = logging.getLogger(__name__)

Record = dict[str, Any]


def _suffix_codec() -> Codec | None:
    """A codec of the decision fields alone, if the schemas line up as described."""
    tx_fields = schema_dict(TRANSACTION)["fields"]
    scored = schema_dict(SCORED_TRANSACTION)
    head, tail = scored["fields"][: len(tx_fields)], scored["fields"][len(tx_fields) :]
    same = [(f["name"], f["type"]) for f in head] == [(f["name"], f["type"]) for f in tx_fields]
    if not same:
        logger.warning("scored_transaction does not start with transaction's fields: slow path")
        return None
    return compile_codec({"type": "record", "name": "ScoredSuffix", "fields": tail})


class ScoredEncoder:
    """Encode (transaction, decision fields, original bytes) as scored-transaction bytes.

    Example:
        >>> from fraudstream.events.registry import InProcessRegistry
        >>> reg = InProcessRegistry()
        >>> tx = AvroSerde("transaction", reg, "transactions-value")
        >>> out = AvroSerde("scored_transaction", reg, "fraud-scores-value")
        >>> rec = {"transaction_id": "t1", "event_time": 1, "card_id": "c", "account_id": "a",
        ...     "customer_id": "u", "merchant_id": "m", "merchant_category": "grocery",
        ...     "merchant_country": "FR", "customer_country": "FR", "amount": 2.5,
        ...     "currency": "EUR", "channel": "POS", "tx_type": "PURCHASE"}
        >>> dec = {"fraud_score": 0.1, "risk_level": "LOW", "action": "ALLOW", "reasons": [],
        ...     "model_version": "v", "scored_at": 2, "latency_ms": 0.5, "model_scores": None,
        ...     "features": {"amount": 2.5}}
        >>> raw = tx.encode(rec)
        >>> enc = ScoredEncoder(tx, out)
        >>> enc([tx.decode(raw)], [dec], [raw]) == out.encode_many([{**tx.decode(raw), **dec}])
        True
    """

    def __init__(self, tx_serde: AvroSerde, scored_serde: AvroSerde) -> None:
        self._tx_header = bytes([0]) + tx_serde.schema_id.to_bytes(4, "big")
        self._header = bytes([0]) + scored_serde.schema_id.to_bytes(4, "big")
        self._scored = scored_serde
        self._suffix = _suffix_codec()

    def __call__(
        self,
        records: Sequence[Record],
        extra: Sequence[Record],
        raw: Sequence[bytes | None],
    ) -> list[bytes]:
        suffix = self._suffix
        if suffix is None:
            return self._scored.encode_many(
                [{**r, **x} for r, x in zip(records, extra, strict=True)]
            )
        out: list[bytes] = []
        header, tx_header, encode = self._header, self._tx_header, suffix.encode
        for rec, x, value in zip(records, extra, raw, strict=True):
            if value is not None and value[:HEADER_SIZE] == tx_header:
                buf = bytearray(header)
                buf += memoryview(value)[HEADER_SIZE:]
                try:
                    out.append(bytes(encode(x, buf)))
                    continue
                except Exception as exc:  # name the field through the slow path below
                    logger.debug("fast scored encode failed: %r", exc)
            out.append(self._scored.encode({**rec, **x}))  # SchemaValidationError names the field
        return out
