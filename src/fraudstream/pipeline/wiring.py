"""Assemble a :class:`Processor` from settings: codec, validator, detector, topics.

Two codecs: ``avro`` (Confluent wire format via ``events.serde.AvroSerde``, the
product) and ``json`` (the seed-style baseline and some unit tests). With no
schema registry configured every process uses an in-process registry, whose ids
follow the order of registration, so every fraudstream process registers the
packaged schemas in the one order of ``contracts.SCHEMA_NAMES``: ids then agree
across processes (transaction = 1, ...).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

from fraudstream.detect.base import Detector
from fraudstream.errors import ConfigError, RecordError
from fraudstream.events.contracts import (
    ALERT,
    DEAD_LETTER,
    SCHEMA_NAMES,
    SCORED_TRANSACTION,
    SCORED_USER_EVENT,
    TRANSACTION,
    USER_EVENT,
    schema_dict,
)
from fraudstream.events.registry import SchemaRegistry, subject_for
from fraudstream.events.serde import AvroSerde
from fraudstream.events.validate import validate_transactions
from fraudstream.pipeline.clicks import merge_encoder, user_event_route
from fraudstream.pipeline.encoders import ScoredEncoder
from fraudstream.pipeline.processor import (
    DecodeMany,
    EncodeMany,
    EncodeOutputs,
    Processor,
    Record,
    ScoreBatch,
)
from fraudstream.pipeline.routes import (
    json_decode_transactions,
    json_encode,
    json_encode_outputs,
    transaction_route,
)
from fraudstream.settings import TopicSettings

logger = logging.getLogger(__name__)

Codec = Literal["avro", "json"]


def register_all(registry: SchemaRegistry, topics: TopicSettings) -> None:
    """Register every packaged schema in the canonical order (stable in-process ids)."""
    subjects = {
        TRANSACTION: topics.transactions,
        SCORED_TRANSACTION: topics.scores,
        ALERT: topics.alerts,
        DEAD_LETTER: topics.dead_letter,
        USER_EVENT: topics.user_events,
        SCORED_USER_EVENT: topics.user_events_scored,
    }
    for name in SCHEMA_NAMES:
        registry.register(subject_for(subjects.get(name, name)), schema_dict(name))


def avro_decoder(serde: AvroSerde) -> DecodeMany:
    """``AvroSerde.decode_many`` as one list of record-or-error."""

    def decode(values: Sequence[bytes | None]) -> list[Record | RecordError]:
        records, errors = serde.decode_many(values)
        out: list[Record | RecordError] = []
        for r, e in zip(records, errors, strict=True):
            out.append(e if e is not None else r if r is not None else RecordError("no record"))
        return out

    return decode


def serde_for(name: str, topic: str, registry: SchemaRegistry) -> AvroSerde:
    return AvroSerde(name, registry, subject_for(topic))


def build_processor(
    topics: TopicSettings,
    detector: Detector,
    *,
    codec: Codec = "avro",
    registry: SchemaRegistry | None = None,
    worker: str | None = None,
    keep_outputs: bool = False,
    user_events: bool = False,
    click_score: ScoreBatch | None = None,
) -> Processor:
    """The transactions route (and, with ``user_events``, the click-stream route).

    ``click_score`` scores user events (``clicks.load_click_scorer``); None: the placeholder.
    """
    decode: DecodeMany
    enc_scored: EncodeOutputs
    enc_alert: EncodeMany
    enc_dead: EncodeMany
    if codec == "avro":
        if registry is None:
            from fraudstream.events.registry import InProcessRegistry

            registry = InProcessRegistry()
        register_all(registry, topics)
        tx_serde = serde_for(TRANSACTION, topics.transactions, registry)
        decode = avro_decoder(tx_serde)
        enc_scored = ScoredEncoder(tx_serde, serde_for(SCORED_TRANSACTION, topics.scores, registry))
        enc_alert = serde_for(ALERT, topics.alerts, registry).encode_many
        enc_dead = serde_for(DEAD_LETTER, topics.dead_letter, registry).encode_many
    else:
        decode = json_decode_transactions
        enc_scored = json_encode_outputs
        enc_alert = enc_dead = json_encode
    route = transaction_route(
        input_topic=topics.transactions,
        scores_topic=topics.scores,
        alerts_topic=topics.alerts,
        detector=detector,
        decode=decode,
        encode_scored=enc_scored,
        encode_alert=enc_alert,
        validate=validate_transactions,
    )
    routes = {route.input_topic: route}
    if user_events:
        if codec != "avro" or registry is None:
            raise ConfigError("the user-events route needs the avro codec")
        routes[topics.user_events] = user_event_route(
            input_topic=topics.user_events,
            output_topic=topics.user_events_scored,
            score=click_score,
            decode=avro_decoder(serde_for(USER_EVENT, topics.user_events, registry)),
            encode=merge_encoder(
                serde_for(SCORED_USER_EVENT, topics.user_events_scored, registry).encode_many
            ),
        )
    return Processor(
        routes=routes,
        dead_letter_topic=topics.dead_letter,
        encode_dead_letter=enc_dead,
        worker=worker,
        keep_outputs=keep_outputs,
    )
