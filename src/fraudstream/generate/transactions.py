"""The transaction generator: legitimate traffic plus injected, labelled fraud.

Work is done in chunks of ``chunk_size`` legitimate events (numpy throughout):
arrival times from the daily clock, legitimate events for those times, enough
fraud scenario instances to keep the fraud share at ``fraud_rate``, then a sort
by event time. Scenario events that fall after the chunk's last legitimate event
wait in a pending buffer for a later chunk, so the stream's event time never
goes backwards.

Determinism: the population comes from ``seed`` alone; worker ``w`` of ``N``
draws its events from ``SeedSequence(seed).spawn(N)[w]`` over its own slice of
cards. The same seed, worker count, population sizes, start time and chunk size
give the same records in the same order (``batch_size`` and ``count`` only cut
the same stream differently). Wall-clock pacing never changes the records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import numpy as np

from fraudstream.errors import ConfigError
from fraudstream.generate.columns import SCENARIOS, Columns, IdTables
from fraudstream.generate.legit import (
    PEAK_INTENSITY,
    SHOPPING_SESSION_P,
    DailyClock,
    legit_events,
    shopping_session,
)
from fraudstream.generate.population import Population
from fraudstream.generate.scenarios import MEAN_LENGTH, SCENARIO_FUNCTIONS
from fraudstream.settings import GeneratorSettings

logger = logging.getLogger(__name__)

GeneratorConfig = GeneratorSettings


def format_ids(raw: np.ndarray) -> list[str]:
    """Transaction ids as strings: ``tx_`` and 16 hex digits."""
    return [f"tx_{x:016x}" for x in raw.tolist()]


class TransactionGenerator:
    """A seeded, endless stream of ``transaction.avsc`` records with ground truth.

    Args:
        config: population sizes, seed, fraud rate, start time, scenario mix.
        worker: this worker's index (0-based) when ``workers`` processes share the work.
        workers: how many workers split the population.
        population: a prebuilt population (it must come from the same config).

    Example:
        >>> gen = TransactionGenerator(GeneratorConfig(seed=1, n_customers=500, n_merchants=300))
        >>> batch = next(gen.batches(count=100, batch_size=100))
        >>> len(batch), sorted(batch[0])[:3]
        (100, ['account_id', 'amount', 'card_id'])
    """

    def __init__(
        self,
        config: GeneratorConfig,
        *,
        worker: int = 0,
        workers: int = 1,
        population: Population | None = None,
    ) -> None:
        if not 0 <= worker < workers:
            raise ConfigError(f"worker index {worker} is not in [0, {workers})")
        unknown = set(config.scenario_weights) - set(SCENARIOS)
        if unknown:
            raise ConfigError(f"unknown fraud scenarios {sorted(unknown)}; known: {SCENARIOS}")
        weights = np.array([max(0.0, config.scenario_weights.get(s, 0.0)) for s in SCENARIOS])
        if config.fraud_rate > 0 and weights.sum() <= 0:
            raise ConfigError("scenario_weights must give at least one scenario a positive weight")
        self.config = config
        self.pop = population or Population.build(
            config.seed, config.n_customers, config.n_merchants
        )
        self.shard = self.pop.shard(worker, workers, config.tx_per_customer_per_day)
        if len(self.shard.legit_cards) == 0:
            raise ConfigError(f"worker {worker} of {workers} has no customers; use fewer workers")
        self.rng = np.random.default_rng(np.random.SeedSequence(config.seed).spawn(workers)[worker])
        start_ms = int(config.start_time.timestamp() * 1000)
        # Candidates at the peak rate, thinned to each customer's local hour (see legit.py).
        self.clock = DailyClock(
            start_ms, self.shard.activity_per_day * PEAK_INTENSITY, hourly=np.ones(24)
        )
        # Weights are shares of fraud *records*; instances differ in length.
        per_instance = weights / np.array([MEAN_LENGTH[s] for s in SCENARIOS])
        total = per_instance.sum()
        self._scenario_p = per_instance / total if total > 0 else per_instance
        self.ids = IdTables(self.pop)
        self._salt = config.seed * 7919 + worker
        self._pending = Columns.empty()
        self.legit_total = 0
        self.fraud_total = 0

    def _fraud(self, t0: int, t1: int, n_legit: int) -> list[Columns]:
        rate = self.config.fraud_rate
        wanted = rate / (1.0 - rate) * (self.legit_total + n_legit) - self.fraud_total
        parts: list[Columns] = []
        while wanted > 0:
            name = SCENARIOS[int(self.rng.choice(len(SCENARIOS), p=self._scenario_p))]
            start = int(self.rng.integers(t0, max(t0 + 1, t1)))
            part = SCENARIO_FUNCTIONS[name](self.rng, self.pop, self.shard, start)
            parts.append(part)
            wanted -= len(part)
            self.fraud_total += len(part)
        return parts

    def chunks(self) -> Iterator[Columns]:
        """Endless chunks of events in event-time order (columnar fast path)."""
        size = self.config.chunk_size
        while True:
            t = self.clock.arrivals(self.rng, size)
            t0, t1 = int(t[0]), int(t[-1]) + 1
            legit = [legit_events(self.rng, self.pop, self.shard, t, self._salt)]
            sessions = self.rng.poisson(len(legit[0]) * SHOPPING_SESSION_P)
            for start in self.rng.integers(t0, t1, sessions):
                legit.append(shopping_session(self.rng, self.pop, self.shard, int(start)))
            n_legit = sum(len(c) for c in legit)
            merged = Columns.concat([self._pending, *legit, *self._fraud(t0, t1, n_legit)])
            self.legit_total += n_legit
            order = np.argsort(merged.t, kind="stable")
            due = int(np.searchsorted(merged.t[order], t1, side="left"))
            self._pending = merged.take(order[due:])
            yield merged.take(order[:due])

    def transaction_ids(self, n: int) -> np.ndarray:
        """``n`` fresh, seed-determined transaction id numbers (see :func:`format_ids`)."""
        return self.rng.integers(0, np.iinfo(np.int64).max, n, dtype=np.int64)

    def column_batches(self, count: int) -> Iterator[tuple[Columns, np.ndarray]]:
        """Chunks of events with their id numbers, ``count`` events in all."""
        left = count
        for chunk in self.chunks():
            if left <= 0:
                return
            part = chunk if len(chunk) <= left else chunk.take(np.arange(left))
            left -= len(part)
            yield part, self.transaction_ids(len(part))

    def batches(self, count: int, batch_size: int = 1000) -> Iterator[list[dict[str, Any]]]:
        """``count`` records as lists of at most ``batch_size`` dicts, in event-time order."""
        if count < 0 or batch_size < 1:
            raise ConfigError("count must be >= 0 and batch_size >= 1")
        buffer: list[dict[str, Any]] = []
        for cols, ids in self.column_batches(count):
            buffer.extend(self.ids.to_records(cols, format_ids(ids)))
            full = len(buffer) - len(buffer) % batch_size
            for lo in range(0, full, batch_size):
                yield buffer[lo : lo + batch_size]
            del buffer[:full]
        if buffer:
            yield buffer

    def stream(self) -> Iterator[dict[str, Any]]:
        """An endless iterator of records in event-time order."""
        for chunk in self.chunks():
            yield from self.ids.to_records(chunk, format_ids(self.transaction_ids(len(chunk))))
