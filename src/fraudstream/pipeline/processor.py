"""The pure batch step: decode -> validate -> score -> route.

:func:`process_batch` takes the messages of one poll and returns every record to
write (scores, alerts, dead letters) and the count of what happened. It does no
I/O: the loop (``pipeline.loop``) produces the records inside a Kafka
transaction, the harness (``pipeline.harness``) does the same on the in-process
bus. Errors are data here: a record that cannot be decoded, fails validation or
makes the scorer raise becomes a dead letter; the batch always completes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from fraudstream.bus.base import Message
from fraudstream.detect.base import Decisions
from fraudstream.errors import RecordError, ScoringError
from fraudstream.pipeline.dlq import dead_letter_record
from fraudstream.pipeline.state import PartitionStore

logger = logging.getLogger(__name__)

Record = dict[str, Any]
DecodeMany = Callable[[Sequence[bytes | None]], list[Record | RecordError]]
ValidateMany = Callable[[list[Record], int], Sequence[RecordError | None]]
EncodeMany = Callable[[Sequence[Record]], list[bytes]]
# (input records, their decision fields, their original bytes) -> output bytes
EncodeOutputs = Callable[[Sequence[Record], Sequence[Record], Sequence[bytes | None]], list[bytes]]
ScoreBatch = Callable[[list[Record], PartitionStore], Decisions]
BuildOutputs = Callable[[list[Record], Decisions, int, float], tuple[list[Record], list[int]]]
BuildAlert = Callable[[Record, Record], Record]


class OutRecord(NamedTuple):
    """One record to produce. ``partition`` None means: by key.

    The field order is what ``KafkaTransactionalProducer.produce_batch`` takes.
    """

    topic: str
    value: bytes
    key: bytes | None
    partition: int | None
    timestamp_ms: int | None


@dataclass(frozen=True)
class Route:
    """How one input topic is processed: its codec, validation, scorer and outputs.

    ``build`` turns decisions into the decision fields of each output record (the
    output is the input record plus these) and the indexes of those flagged;
    ``encode_output`` encodes input + decision fields (it may reuse the input's
    bytes); ``alert`` turns a flagged record and its decision fields into an alert.
    """

    input_topic: str
    output_topic: str
    key_field: str
    decode: DecodeMany
    validate: ValidateMany
    score: ScoreBatch
    build: BuildOutputs
    encode_output: EncodeOutputs
    alert_topic: str | None = None
    alert: BuildAlert | None = None
    encode_alert: EncodeMany | None = None


@dataclass
class BatchResult:
    """What one batch produced."""

    records: list[OutRecord] = field(default_factory=list)
    scored: Counter[str] = field(default_factory=Counter)  # input topic -> scored
    alerts: Counter[str] = field(default_factory=Counter)  # alert topic -> alerts
    dead: Counter[str] = field(default_factory=Counter)  # reason -> count
    outputs: list[Record] = field(default_factory=list)  # decoded outputs (harness/run view)


@dataclass
class Processor:
    """Runs :func:`process_batch` for the routes of a worker; pure apart from the stores.

    Example:
        See ``tests/unit/pipeline/test_processor.py``; the harness wires one up.
    """

    routes: dict[str, Route]
    dead_letter_topic: str
    encode_dead_letter: EncodeMany
    worker: str | None = None
    keep_outputs: bool = False

    def process(
        self,
        messages: Sequence[Message],
        stores: Callable[[str, int], PartitionStore],
        now_ms: int,
        read_ms: float | None = None,
    ) -> BatchResult:
        """Process one polled batch (messages of any routed topics and partitions)."""
        result = BatchResult()
        by_topic: dict[str, list[Message]] = {}
        for m in messages:
            by_topic.setdefault(m.topic, []).append(m)
        dead: list[Record] = []
        dead_src: list[Message] = []
        for topic, msgs in by_topic.items():
            route = self.routes.get(topic)
            if route is None:
                for m in msgs:
                    err = RecordError(f"no route for topic {topic!r}")
                    dead.append(dead_letter_record(m, err, now_ms, self.worker))
                    dead_src.append(m)
                continue
            self._route(route, msgs, stores, now_ms, read_ms, result, dead, dead_src)
        if dead:
            for rec in dead:
                result.dead[rec["reason"]] += 1
            values = self.encode_dead_letter(dead)
            for m, v in zip(dead_src, values, strict=True):
                result.records.append(OutRecord(self.dead_letter_topic, v, m.key, None, None))
        return result

    def _route(
        self,
        route: Route,
        msgs: list[Message],
        stores: Callable[[str, int], PartitionStore],
        now_ms: int,
        read_ms: float | None,
        result: BatchResult,
        dead: list[Record],
        dead_src: list[Message],
    ) -> None:
        decoded = route.decode([m.value for m in msgs])
        ok_msgs: list[Message] = []
        ok_recs: list[Record] = []
        for m, rec in zip(msgs, decoded, strict=True):
            if isinstance(rec, RecordError):
                dead.append(dead_letter_record(m, rec, now_ms, self.worker))
                dead_src.append(m)
            else:
                ok_msgs.append(m)
                ok_recs.append(rec)
        good: dict[int, tuple[list[Message], list[Record]]] = {}
        for m, rec, err in zip(ok_msgs, ok_recs, route.validate(ok_recs, now_ms), strict=True):
            if err is not None:
                dead.append(dead_letter_record(m, err, now_ms, self.worker))
                dead_src.append(m)
                continue
            slot = good.setdefault(m.partition, ([], []))
            slot[0].append(m)
            slot[1].append(rec)
        for partition, (pmsgs, precs) in good.items():
            store = stores(route.input_topic, partition)
            scored = self._score(route, pmsgs, precs, store, now_ms, dead, dead_src)
            if scored is None:
                continue
            smsgs, srecs, decisions = scored
            latency = 0.0 if read_ms is None else max(0.0, now_ms - read_ms)
            extra, flagged = route.build(srecs, decisions, now_ms, latency)
            raw = [m.value for m in smsgs]
            values = _encode_each(route.encode_output, srecs, extra, raw)
            ok: set[int] = set()
            for i, (m, v) in enumerate(zip(smsgs, values, strict=True)):
                if isinstance(v, Exception):  # the decision does not fit the output schema
                    logger.warning("offset %s[%d]@%d dead-lettered: output %r", m.topic,
                                   m.partition, m.offset, v)  # fmt: skip
                    dead.append(dead_letter_record(m, v, now_ms, self.worker))
                    dead_src.append(m)
                    continue
                ok.add(i)
                result.records.append(OutRecord(route.output_topic, v, m.key, None, m.timestamp_ms))
            result.scored[route.input_topic] += len(ok)
            if self.keep_outputs:
                result.outputs.extend({**srecs[i], **extra[i]} for i in sorted(ok))
            flagged = [i for i in flagged if i in ok]
            if flagged and route.alert is not None and route.alert_topic is not None:
                assert route.encode_alert is not None
                alerts = [route.alert(srecs[i], extra[i]) for i in flagged]
                encoded = _encode_each(route.encode_alert, alerts)
                for i, v in zip(flagged, encoded, strict=True):
                    m = smsgs[i]
                    if isinstance(v, Exception):  # the score record went out; the alert cannot
                        logger.error("offset %s[%d]@%d: alert not encodable: %r", m.topic,
                                     m.partition, m.offset, v)  # fmt: skip
                        continue
                    result.records.append(
                        OutRecord(route.alert_topic, v, m.key, None, m.timestamp_ms)
                    )
                    result.alerts[route.alert_topic] += 1

    def _score(
        self,
        route: Route,
        msgs: list[Message],
        records: list[Record],
        store: PartitionStore,
        now_ms: int,
        dead: list[Record],
        dead_src: list[Message],
    ) -> tuple[list[Message], list[Record], Decisions] | None:
        """Score the whole batch at once; if that raises, isolate the bad records."""
        store.savepoint()
        try:
            decisions = route.score(records, store)
            _check_decisions(decisions, len(records))
        except Exception as exc:  # the scorer is not ours: anything it raises is data
            store.rollback()
            logger.warning(
                "scoring a batch of %d from %s[%d] raised %r; isolating the bad records",
                len(records),
                route.input_topic,
                msgs[0].partition,
                exc,
            )
            return self._score_one_by_one(route, msgs, records, store, now_ms, dead, dead_src)
        store.release()
        return msgs, records, decisions

    def _score_one_by_one(
        self,
        route: Route,
        msgs: list[Message],
        records: list[Record],
        store: PartitionStore,
        now_ms: int,
        dead: list[Record],
        dead_src: list[Message],
    ) -> tuple[list[Message], list[Record], Decisions] | None:
        """Score record by record, in order, keeping the state of those that succeed."""
        ok_msgs: list[Message] = []
        ok_recs: list[Record] = []
        parts: list[Decisions] = []
        for m, rec in zip(msgs, records, strict=True):
            store.savepoint()
            try:
                one = route.score([rec], store)
                _check_decisions(one, 1)
            except Exception as exc:
                store.rollback()
                err = ScoringError(f"{type(exc).__name__}: {exc}")
                dead.append(dead_letter_record(m, err, now_ms, self.worker))
                dead_src.append(m)
                logger.warning(
                    "offset %s[%d]@%d dead-lettered: scoring raised %r",
                    m.topic,
                    m.partition,
                    m.offset,
                    exc,
                )
                continue
            store.release()
            ok_msgs.append(m)
            ok_recs.append(rec)
            parts.append(one)
        if not ok_recs:
            return None
        return ok_msgs, ok_recs, concat_decisions(parts)


def concat_decisions(parts: Sequence[Decisions]) -> Decisions:
    """Join per-record decisions back into one, in order."""
    feats = [p.features for p in parts]
    return Decisions(
        fraud_score=np.concatenate([p.fraud_score for p in parts]),
        risk_level=np.concatenate([p.risk_level for p in parts]),
        action=np.concatenate([p.action for p in parts]),
        reasons=[r for p in parts for r in p.reasons],
        model_version=parts[0].model_version,
        features=None if any(f is None for f in feats) else np.vstack(feats),  # type: ignore[arg-type]
        feature_names=parts[0].feature_names,
    )


def _encode_each(
    encode: Callable[..., list[bytes]], *cols: Sequence[Any]
) -> list[bytes | Exception]:
    """Encode the whole batch at once; if that raises, record by record (errors kept)."""
    try:
        return list(encode(*cols))
    except Exception:  # find the culprits; the rest still goes out
        out: list[bytes | Exception] = []
        for i in range(len(cols[0])):
            try:
                out.append(encode(*(c[i : i + 1] for c in cols))[0])
            except Exception as exc:
                out.append(exc)
        return out


def _check_decisions(decisions: Decisions, n: int) -> None:
    if len(decisions) != n:
        raise ScoringError(f"scorer returned {len(decisions)} decisions for {n} records")
