"""Library entry points of the scoring worker: wire settings to a running loop.

``fraudstream score`` calls :func:`run_worker` on Kafka; ``fraudstream run`` calls
it in a thread on the shared in-process bus. Scorers come from a short key
(``pipeline.detector``) through a registry that imports lazily and refuses
unknown keys at start-up.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable

from fraudstream.bus.base import Bus
from fraudstream.detect.base import Detector
from fraudstream.errors import ConfigError
from fraudstream.events.registry import SchemaRegistry, open_registry
from fraudstream.pipeline.clicks import load_click_scorer
from fraudstream.pipeline.loop import ScoringWorker, WorkerConfig, WorkerStats
from fraudstream.pipeline.state import changelog_topic
from fraudstream.pipeline.wiring import build_processor
from fraudstream.settings import Settings

logger = logging.getLogger(__name__)

# key -> "module:factory"; the factory takes the Settings and returns a Detector.
DETECTORS: dict[str, str] = {
    "amount-rule": "fraudstream.pipeline.service:_amount_rule",
    "ensemble": "fraudstream.detect:load_detector",
}


def _amount_rule(_settings: Settings) -> Detector:
    from fraudstream.detect.amount_rule import AmountRuleDetector

    return AmountRuleDetector()


def load_detector(settings: Settings) -> Detector:
    """The detector named by ``settings.pipeline.detector``."""
    key = settings.pipeline.detector
    target = DETECTORS.get(key)
    if target is None:
        raise ConfigError(f"unknown detector {key!r}; known: {', '.join(sorted(DETECTORS))}")
    module, _, attr = target.partition(":")
    try:
        factory: Callable[[Settings], Detector] = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"detector {key!r} is not available: {exc}") from exc
    detector = factory(settings)
    logger.info("scoring with %s (%s)", key, detector.version)
    return detector


def changelogs(settings: Settings) -> dict[str, str]:
    """Input topic -> its compacted state changelog topic."""
    t, group = settings.topics, settings.pipeline.group_id
    out = {t.transactions: changelog_topic(group)}
    if settings.pipeline.score_user_events:
        out[t.user_events] = changelog_topic(group, t.user_events)
    return out


def ensure_topics(bus: Bus, settings: Settings) -> None:
    """Create the pipeline's topics, with the compacted state changelogs (idempotent)."""
    counts = settings.topics.partition_counts()
    logs = changelogs(settings)
    bus.create_topics(
        {**counts, **{cl: counts[topic] for topic, cl in logs.items()}},
        compacted=list(logs.values()),
    )


def make_worker(
    bus: Bus,
    settings: Settings,
    *,
    detector: Detector | None = None,
    registry: SchemaRegistry | None = None,
    clock: Callable[[], float] | None = None,
) -> ScoringWorker:
    """A worker for ``settings.pipeline`` (its transactional id is group + worker id)."""
    p = settings.pipeline
    processor = build_processor(
        settings.topics,
        detector or load_detector(settings),
        codec=p.codec,
        registry=registry or open_registry(settings.kafka),
        worker=p.worker_id,
        user_events=p.score_user_events,
        click_score=load_click_scorer(settings.model_dir) if p.score_user_events else None,
    )
    logs = changelogs(settings)
    config = WorkerConfig(
        group_id=p.group_id,
        worker_id=p.worker_id,
        input_topics=list(logs),
        changelog_topics=logs,
        max_batch_records=p.max_batch_records,
        commit_interval_ms=p.commit_interval_ms,
        poll_timeout_s=p.poll_timeout_ms / 1000,
        producers=p.txn_producers,
    )
    kwargs = {} if clock is None else {"clock": clock}
    return ScoringWorker(bus, processor, config, **kwargs)


def run_worker(
    bus: Bus,
    settings: Settings,
    stop: threading.Event,
    *,
    detector: Detector | None = None,
    idle_exit_s: float | None = None,
    create_topics: bool = True,
) -> WorkerStats:
    """Run one exactly-once scoring worker until ``stop`` is set; return its stats."""
    if create_topics:
        ensure_topics(bus, settings)
    worker = make_worker(bus, settings, detector=detector)
    logger.info(
        "worker %s joining group %s (transactional ids %s)",
        settings.pipeline.worker_id,
        settings.pipeline.group_id,
        ", ".join(worker.cfg.transactional_ids),
    )
    stats = worker.run(stop, idle_exit_s=idle_exit_s)
    logger.info("worker %s stopped (%s): %s", settings.pipeline.worker_id, stats.exit_reason, stats)
    return stats
