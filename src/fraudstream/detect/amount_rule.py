"""PLACEHOLDER scorer: the seed tutorial's amount rule plus a per-card velocity counter.

This is not the product's detector (features + rules + models + ensemble come from
the detection package). It exists so that the exactly-once pipeline, its state
store and its changelog can be built and tested end to end before that lands:
the rule is stateless (``amount >= 900``), the velocity counter is per-card state
kept in the partition's :class:`~fraudstream.detect.base.KeyValueStore`.

State per card (key ``card:<card_id>``): int64 little-endian words
``[total_count, t_1, ..., t_k]`` where ``t_i`` are the event times (ms) of the
card's transactions within the last ``window_ms``, oldest first, at most
``max_events`` of them. Time is the event time, never the wall clock, so the
state after any prefix of the stream is a pure function of that prefix.
"""

from __future__ import annotations

from array import array

import numpy as np

from fraudstream.detect.base import Decisions, KeyValueStore
from fraudstream.events.batch import TransactionBatch

FEATURE_NAMES = ("amount", "card_tx_count_10m", "card_tx_count_total")


class AmountRuleDetector:
    """Seed-tutorial amount rule (``amount >= 900``) + card velocity. Placeholder scorer.

    Risk: ``amount >= high_amount`` -> HIGH (REVIEW); if the card also made at least
    ``velocity_block`` transactions within the window -> CRITICAL (BLOCK); a card
    with at least ``velocity_review`` transactions in the window -> HIGH.

    Example:
        >>> from fraudstream.pipeline.state import PartitionStore
        >>> det = AmountRuleDetector()
        >>> b = TransactionBatch([
        ...     {"card_id": "c1", "amount": 950.0, "event_time": 1_000},
        ...     {"card_id": "c1", "amount": 12.5, "event_time": 2_000},
        ... ])
        >>> d = det.score(b, PartitionStore(0))
        >>> d.action.tolist(), d.features[:, 1].tolist()
        (['REVIEW', 'ALLOW'], [1.0, 2.0])
    """

    name = "amount-rule"

    def __init__(
        self,
        *,
        high_amount: float = 900.0,
        window_ms: int = 600_000,
        max_events: int = 32,
        velocity_review: int = 10,
        velocity_block: int = 3,
    ) -> None:
        self.high_amount = high_amount
        self.window_ms = window_ms
        self.max_events = max_events
        self.velocity_review = velocity_review
        self.velocity_block = velocity_block

    @property
    def version(self) -> str:
        return "amount-rule-placeholder-v1"

    def score(self, batch: TransactionBatch, state: KeyValueStore) -> Decisions:
        n = len(batch)
        amount = batch.col("amount")
        if not np.all(np.isfinite(amount)):
            raise ValueError("amount must be finite")
        velocity, totals = self._update_velocity(batch, state)

        high_amount = amount >= self.high_amount
        critical = high_amount & (velocity >= self.velocity_block)
        high = (high_amount | (velocity >= self.velocity_review)) & ~critical
        medium = ~critical & ~high & (amount >= self.high_amount / 2)

        score = np.clip(0.8 * amount / self.high_amount, 0.0, 0.9)
        score = np.where(critical, 0.97, np.where(high, np.maximum(score, 0.8), score))
        score = np.minimum(score + 0.01 * np.minimum(velocity, 5), 1.0)

        risk = np.full(n, "LOW", dtype=object)
        risk[medium] = "MEDIUM"
        risk[high] = "HIGH"
        risk[critical] = "CRITICAL"
        action = np.full(n, "ALLOW", dtype=object)
        action[high] = "REVIEW"
        action[critical] = "BLOCK"

        reasons: list[list[str]] = [[] for _ in range(n)]
        for i in np.flatnonzero(high_amount | (velocity >= self.velocity_review)):
            r = reasons[int(i)]
            if high_amount[i]:
                r.append(f"AMOUNT_GE_{int(self.high_amount)}")
            if velocity[i] >= self.velocity_block:
                r.append("CARD_VELOCITY_10M")
        features = np.column_stack([amount, velocity, totals]).astype(np.float64)
        return Decisions(
            fraud_score=score.astype(np.float64),
            risk_level=risk,
            action=action,
            reasons=reasons,
            model_version=self.version,
            features=features,
            feature_names=FEATURE_NAMES,
        )

    def _update_velocity(
        self, batch: TransactionBatch, state: KeyValueStore
    ) -> tuple[np.ndarray, np.ndarray]:
        """Count each record into its card's window, in batch order (per-key order kept)."""
        cards = batch.col("card_id")
        times = batch.col("event_time")
        n = len(batch)
        velocity = np.empty(n, dtype=np.float64)
        totals = np.empty(n, dtype=np.float64)
        window, cap = self.window_ms, self.max_events
        cache: dict[str, array[int]] = {}
        for i in range(n):
            key = f"card:{cards[i]}"
            words = cache.get(key)
            if words is None:
                raw = state.get(key)
                words = array("q")
                if raw:
                    words.frombytes(raw)
                else:
                    words.append(0)
                cache[key] = words
            t = int(times[i])
            words[0] += 1
            # Drop events that left the window; keep the newest `cap` events.
            recent = [x for x in words[1:] if x > t - window]
            recent.append(t)
            if len(recent) > cap:
                recent = recent[-cap:]
            del words[1:]
            words.extend(recent)
            velocity[i] = len(recent)
            totals[i] = words[0]
        for key, words in cache.items():
            state.put(key, words.tobytes())
        return velocity, totals


def card_velocity_state(value: bytes) -> tuple[int, list[int]]:
    """Decode one card's state value: (total count, recent event times)."""
    words = array("q")
    words.frombytes(value)
    return int(words[0]), [int(x) for x in words[1:]]
