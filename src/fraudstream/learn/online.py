"""Feedback -> online learning: analysts' verdicts update the scoring model while it serves.

:class:`OnlineLearner` consumes the ``feedback`` topic, joins each verdict with the
feature vector the transaction was *scored* with (the ``scores.features`` column the
sink stores from ``fraud-scores``), buffers the labelled rows and, per batch, runs
one ``partial_fit`` of the online model, registers the result as a new registry
version with its lineage and, by default, promotes it; the scorers' champion
watcher swaps it in without a restart.

What is updated:

* the champion is a :class:`~fraudstream.detect.models.ensemble.WeightedEnsemble`
  with an ``online`` member: that member (SGD logistic regression) learns; the
  other members and the calibrator stay as trained;
* the champion is an :class:`OnlineLogisticModel`: it learns directly;
* there is no champion: a fresh online model over the feature contract is
  started (cold start) and becomes the champion after its first update.

Guarantees:

* offsets are committed only after the version that contains a verdict is saved
  (and promoted), never for rows still buffered, held back or waiting for their
  features, so a crash re-reads them (at-least-once; a replayed verdict is one
  more SGD step on the same row, which is harmless);
* one-class guard: an unfitted model holds single-class batches until the other
  class arrives (``OnlineLogisticModel``); ``require_both_classes`` holds them
  even after that;
* a human promotion or rollback is never overridden: before each update the
  learner rebases on the current champion when it is not the learner's parent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fraudstream.bus.base import Consumer, Message, TopicPartition
from fraudstream.detect.models.online import OnlineLogisticModel
from fraudstream.detect.registry import ModelRegistry
from fraudstream.errors import BusError, FraudstreamError, RecordError
from fraudstream.features.contract import FEATURE_CONTRACT_VERSION, FEATURE_NAMES
from fraudstream.learn.lookup import DbFeatureLookup, DictFeatureLookup, FeatureLookup
from fraudstream.observe.metrics import (
    CONSUMER_LAG,
    LEARNER_BUFFER,
    LEARNER_FEEDBACK,
    LEARNER_UPDATE_SECONDS,
    LEARNER_UPDATES,
    MODEL_VERSION,
    version_number,
)
from fraudstream.settings import OnlineLearningSettings

logger = logging.getLogger(__name__)

__all__ = ["DbFeatureLookup", "DictFeatureLookup", "FeatureLookup", "LearnerStats", "OnlineLearner"]

Decode = Callable[[Message], Mapping[str, Any]]
_LABELS = {"fraud": 1, "legitimate": 0}


@dataclass(slots=True)
class _Row:
    tp: TopicPartition
    offset: int
    transaction_id: str
    label: int
    first_seen: float


@dataclass(slots=True)
class LearnerStats:
    """What the learner did so far."""

    received: int = 0
    applied: int = 0
    invalid: int = 0
    no_features: int = 0
    updates: int = 0
    versions: list[str] = field(default_factory=list)


class OnlineLearner:
    """Feedback consumer that keeps the online model learning.

    Args:
        consumer: subscribed to the feedback topic; offsets are committed by the learner.
        decode: message -> feedback record (``transaction_id``, ``label``, ...).
        lookup: where the scored features come from (:class:`DbFeatureLookup`).
        registry: the model registry the scorers watch.
        settings: batch size, waits, promotion policy.
        clock: monotonic seconds (tests inject one).

    Example:
        >>> import tempfile; from pathlib import Path
        >>> from fraudstream.bus.memory import MemoryBus
        >>> bus = MemoryBus(); bus.create_topics({"feedback": 1})
        >>> c = bus.consumer("learner"); c.subscribe(["feedback"])
        >>> lr = OnlineLearner(c, lambda m: {}, DictFeatureLookup({}),
        ...                    ModelRegistry(Path(tempfile.mkdtemp())), OnlineLearningSettings())
        >>> lr.step(timeout_s=0.01), lr.stats.updates
        (0, 0)
    """

    def __init__(
        self,
        consumer: Consumer,
        decode: Decode,
        lookup: FeatureLookup,
        registry: ModelRegistry,
        settings: OnlineLearningSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consumer = consumer
        self.decode = decode
        self.lookup = lookup
        self.registry = registry
        self.settings = settings
        self._clock = clock
        self.stats = LearnerStats()
        self._buffer: list[_Row] = []  # waiting for a flush (features looked up then)
        self._held: list[_Row] = []  # inside the model's one-class hold
        self._polled: dict[TopicPartition, int] = {}  # next offset after the last polled
        self._model: Any = None
        self._parent: str | None = None  # registry version the model descends from
        self._last_saved: str | None = None
        self._contract: str | None = FEATURE_CONTRACT_VERSION
        # The champion the learner expects (its parent or its last promoted update); any
        # other champion means an operator promoted or rolled back: rebase on it.
        self._serving: str | None = None
        self._foreign: str | None = None  # a champion without an online member
        self._lag_at = -float("inf")
        self.lag_interval_s = 5.0

    # -- model lineage ---------------------------------------------------------------
    def _online_member(self) -> OnlineLogisticModel:
        m = self._model
        if isinstance(m, OnlineLogisticModel):
            return m
        member: OnlineLogisticModel = m.members["online"]
        return member

    def _rebase(self) -> None:
        """Start from the champion when it is not what the learner last saved or loaded."""
        champ = self.registry.champion_version()
        if self._model is not None and champ in (self._serving, self._foreign):
            return
        if champ is None:
            if self._model is None:
                logger.info("learner: no champion, cold start on the feature contract")
                self._model = OnlineLogisticModel(
                    FEATURE_NAMES, positive_weight=self.settings.positive_weight
                )
            return
        model = self.registry.load(champ)
        members = getattr(model, "members", None)
        if not isinstance(model, OnlineLogisticModel) and not (
            isinstance(members, dict) and isinstance(members.get("online"), OnlineLogisticModel)
        ):
            self._foreign = champ
            if self._model is None:
                logger.warning(
                    "learner: champion %s (%s) has no online member; learning a separate "
                    "online model that is registered as a candidate only",
                    champ,
                    type(model).__name__,
                )
                self._model = OnlineLogisticModel(
                    FEATURE_NAMES, positive_weight=self.settings.positive_weight
                )
            return
        if self._model is not None:
            logger.info("learner: champion changed to %s, rebasing (was %s)", champ, self._parent)
        self._model, self._parent, self._last_saved = model, champ, None
        self._serving, self._foreign = champ, None
        self._contract = self.registry.metadata(champ).get("feature_contract_version")
        self._held = []  # the rows inside the old model's hold are re-read after a restart
        MODEL_VERSION.labels(component="learner").set(version_number(champ))

    # -- loop ------------------------------------------------------------------------
    def step(self, timeout_s: float = 0.5) -> int:
        """Poll once, buffer the verdicts, flush when due; returns records polled."""
        # Poll no more than fills the batch, so one update is one batch of verdicts.
        room = max(self.settings.batch_size - len(self._buffer), 1)
        msgs = self.consumer.poll_batch(room, timeout_s)
        now = self._clock()
        for msg in msgs:
            self._polled[msg.tp] = msg.offset + 1
            self.stats.received += 1
            try:
                rec = self.decode(msg)
                label = _LABELS[str(rec["label"])]
                tx_id = str(rec["transaction_id"])
            except (RecordError, KeyError, TypeError) as exc:
                self.stats.invalid += 1
                LEARNER_FEEDBACK.labels(outcome="invalid").inc()
                logger.error("learner: bad feedback %s[%d]@%d: %s",
                             msg.topic, msg.partition, msg.offset, exc)  # fmt: skip
                continue
            self._buffer.append(_Row(msg.tp, msg.offset, tx_id, label, now))
        LEARNER_BUFFER.set(len(self._buffer))
        if now - self._lag_at >= self.lag_interval_s:
            self._export_lag(now)
        if self._due(now):
            self.flush()
        elif not self._buffer and not self._held:
            self._commit()  # only invalid records were polled
        return len(msgs)

    def _export_lag(self, now: float) -> None:
        """``fraudstream_pipeline_consumer_lag{worker="learner"}``: verdicts not yet read."""
        self._lag_at = now
        try:
            for tp in self.consumer.assignment():
                low, high = self.consumer.watermarks(tp)
                lag = max(high - self._polled.get(tp, low), 0)
                CONSUMER_LAG.labels("learner", tp.topic, str(tp.partition)).set(lag)
        except BusError as exc:  # metrics must never stop learning
            logger.warning("learner: cannot read watermarks: %s", exc)

    def _due(self, now: float) -> bool:
        if not self._buffer:
            return False
        if len(self._buffer) >= self.settings.batch_size:
            return True
        return now - min(r.first_seen for r in self._buffer) >= self.settings.max_wait_s

    def flush(self) -> str | None:
        """Look up features, ``partial_fit``, save (and promote); returns the new version."""
        if not self._buffer:
            return None
        started = time.perf_counter()
        self._rebase()
        model = self._model
        found = self.lookup.features_for([r.transaction_id for r in self._buffer])
        now = self._clock()
        ready, waiting = [], []
        for row in self._buffer:
            if row.transaction_id in found:
                ready.append(row)
            elif now - row.first_seen < self.settings.feature_wait_s:
                waiting.append(row)  # the sink may not have stored the score yet
            else:
                self.stats.no_features += 1
                LEARNER_FEEDBACK.labels(outcome="no_features").inc()
                logger.warning(
                    "learner: no scored features for %s (%s[%d]@%d), skipped",
                    row.transaction_id, row.tp.topic, row.tp.partition, row.offset,
                )  # fmt: skip
        self._buffer = waiting
        LEARNER_BUFFER.set(len(waiting))
        version = None
        if ready:
            version = self._learn(model, ready, found)
        self._commit()
        LEARNER_UPDATE_SECONDS.observe(time.perf_counter() - started)
        return version

    def _learn(
        self, model: Any, rows: list[_Row], found: Mapping[str, Mapping[str, float]]
    ) -> str | None:
        names = model.feature_names
        x = np.array(
            [[_num(found[r.transaction_id].get(n)) for n in names] for r in rows], dtype=np.float64
        )
        y = np.array([r.label for r in rows], dtype=np.int8)
        both = y.min() != y.max()
        if self.settings.require_both_classes and not both:
            self._buffer.extend(rows)  # back into the buffer until the other class arrives
            LEARNER_FEEDBACK.labels(outcome="held").inc(len(rows))
            return None
        if not self._online_member().learn_many(x, y):
            self._held.extend(rows)
            LEARNER_FEEDBACK.labels(outcome="held").inc(len(rows))
            return None
        applied = [*self._held, *rows]
        self._held = []
        self.stats.applied += len(applied)
        LEARNER_FEEDBACK.labels(outcome="applied").inc(len(applied))
        return self._save(model, applied)

    def _save(self, model: Any, applied: list[_Row]) -> str:
        n_fraud = sum(r.label for r in applied)
        member = self._online_member()
        meta = {
            "dataset": "feedback",
            "feature_contract_version": self._contract,
            "parent_version": self._last_saved or self._parent,
            "metrics": {},
            "online_update": {
                "rows": len(applied),
                "fraud": n_fraud,
                "legitimate": len(applied) - n_fraud,
                "n_updates": member.n_updates,
                "n_seen": member.n_seen,
                "last_offsets": {f"{r.tp.topic}:{r.tp.partition}": r.offset for r in applied},
            },
        }
        version = self.registry.register(model, meta)
        champ = self.registry.champion_version()
        promote = self.settings.auto_promote and champ == self._serving
        if promote:
            self.registry.promote(version)
            self._serving = version
        self._last_saved = version
        self.stats.updates += 1
        self.stats.versions.append(version)
        LEARNER_UPDATES.labels(label="both" if 0 < n_fraud < len(applied) else "one").inc()
        MODEL_VERSION.labels(component="learner").set(version_number(version))
        logger.info("learner: %s from %d verdicts (%d fraud)%s", version, len(applied), n_fraud,
                    ", promoted" if promote else ", candidate")  # fmt: skip
        return version

    def _commit(self) -> None:
        """Commit up to the oldest row not yet inside a saved version, per partition."""
        pending: dict[TopicPartition, int] = {}
        for r in (*self._buffer, *self._held):
            pending[r.tp] = min(pending.get(r.tp, r.offset), r.offset)
        offsets = {tp: pending.get(tp, nxt) for tp, nxt in self._polled.items()}
        if offsets:
            self.consumer.commit(offsets)

    def close(self) -> None:
        """Close the consumer and the feature lookup (its database connections)."""
        self.consumer.close()
        close = getattr(self.lookup, "close", None)
        if close is not None:
            close()

    def run(
        self,
        stop: threading.Event,
        *,
        idle_exit_s: float | None = None,
        max_updates: int | None = None,
    ) -> LearnerStats:
        """Loop until ``stop`` is set, idle for ``idle_exit_s`` or ``max_updates`` saved."""
        idle_since = self._clock()
        while not stop.is_set():
            try:
                n = self.step()
            except FraudstreamError as exc:
                logger.error("learner: %s; retrying", exc)
                stop.wait(1.0)
                continue
            now = self._clock()
            if n:
                idle_since = now
            elif idle_exit_s is not None and now - idle_since >= idle_exit_s:
                self.flush()
                break
            if max_updates is not None and self.stats.updates >= max_updates:
                break
        return self.stats


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)
