"""Prometheus metrics of fraudstream, defined in one place (names prefixed ``fraudstream_``).

Metrics live in the default registry so one ``/metrics`` endpoint (or
:func:`serve_metrics`) exposes everything the process does. Every metric of the
scoring loop carries a ``worker`` label so several workers in one process (the
harness, tests) stay apart.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge, Histogram, start_http_server

logger = logging.getLogger(__name__)

_LATENCY_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
_BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)

# -- exactly-once scoring loop ------------------------------------------------------
RECORDS_IN = Counter(
    "fraudstream_pipeline_records_in_total", "Records consumed", ["worker", "topic"]
)
RECORDS_OUT = Counter(
    "fraudstream_pipeline_records_out_total", "Records produced (committed or not)",
    ["worker", "topic"],
)  # fmt: skip
DEAD_LETTERS = Counter(
    "fraudstream_pipeline_dead_letters_total", "Records sent to the dead-letter topic",
    ["worker", "reason"],
)  # fmt: skip
BATCH_SIZE = Histogram(
    "fraudstream_pipeline_batch_records", "Records per polled batch", ["worker"],
    buckets=_BATCH_BUCKETS,
)  # fmt: skip
PROCESSING_SECONDS = Histogram(
    "fraudstream_pipeline_processing_seconds",
    "Time to decode, validate, score and route one batch", ["worker"],
    buckets=_LATENCY_BUCKETS_S,
)  # fmt: skip
END_TO_END_SECONDS = Histogram(
    "fraudstream_pipeline_end_to_end_seconds",
    "From the input record's timestamp to the commit that made its outputs visible",
    ["worker"], buckets=_LATENCY_BUCKETS_S,
)  # fmt: skip
TXN_COMMITS = Counter(
    "fraudstream_pipeline_transactions_committed_total", "Transactions committed", ["worker"]
)
TXN_ABORTS = Counter(
    "fraudstream_pipeline_transactions_aborted_total", "Transactions aborted", ["worker", "cause"]
)
TXN_COMMIT_SECONDS = Histogram(
    "fraudstream_pipeline_commit_seconds", "send_offsets + commit_transaction time",
    ["worker"], buckets=_LATENCY_BUCKETS_S,
)  # fmt: skip
CONSUMER_LAG = Gauge(
    "fraudstream_pipeline_consumer_lag", "High watermark minus position, per partition",
    ["worker", "topic", "partition"],
)  # fmt: skip
REBALANCES = Counter(
    "fraudstream_pipeline_rebalances_total", "Rebalance callbacks", ["worker", "kind"]
)
ASSIGNED_PARTITIONS = Gauge(
    "fraudstream_pipeline_assigned_partitions", "Input partitions this worker owns", ["worker"]
)
STATE_RESTORED = Counter(
    "fraudstream_pipeline_state_restored_records_total",
    "Changelog records replayed into state stores", ["worker"],
)  # fmt: skip

# -- detection (features, rules, decision) ----------------------------------------------
RULE_HITS = Counter(
    "fraudstream_rule_hits_total", "Transactions a rule fired on (shadow rules included)",
    ["rule", "ruleset_version", "shadow"],
)  # fmt: skip
RULESET_RELOADS = Counter(
    "fraudstream_ruleset_reloads_total", "Rule-set reload attempts by outcome", ["outcome"]
)
LIST_HITS = Counter(
    "fraudstream_list_hits_total", "Transactions matched by an allow/block list",
    ["list", "field"],
)  # fmt: skip
DECISIONS = Counter(
    "fraudstream_decisions_total", "Decisions by action", ["action", "model_version"]
)
ALERTS_DOWNGRADED = Counter(
    "fraudstream_alerts_downgraded_total", "REVIEW decisions downgraded by the alert budget"
)
ADAPTIVE_THRESHOLD = Gauge(
    "fraudstream_adaptive_threshold", "Current adaptive REVIEW threshold on the fraud score"
)
DETECTOR_MODEL_SWAPS = Counter(
    "fraudstream_detector_model_swaps_total", "Champion models hot-swapped into scoring",
    ["model_version"],
)  # fmt: skip


# -- feedback learner, drift (learn/) -------------------------------------------------------
LEARNER_FEEDBACK = Counter(
    "fraudstream_learner_feedback_total",
    "Feedback records by outcome (applied, held, no_features, invalid)", ["outcome"],
)  # fmt: skip
LEARNER_UPDATES = Counter(
    "fraudstream_learner_updates_total", "Online model updates saved to the registry", ["label"]
)
LEARNER_BUFFER = Gauge(
    "fraudstream_learner_buffer_rows", "Labelled rows waiting for the next partial_fit"
)
LEARNER_UPDATE_SECONDS = Histogram(
    "fraudstream_learner_update_seconds", "Feature lookup + partial_fit + save per update",
    buckets=_LATENCY_BUCKETS_S,
)  # fmt: skip
MODEL_VERSION = Gauge(
    "fraudstream_model_version", "Registry version number (v0012 -> 12) in force, by component",
    ["component"],
)  # fmt: skip
DRIFT_PSI = Gauge(
    "fraudstream_drift_psi", "Population stability index vs the training reference", ["feature"]
)
DRIFT_KS = Gauge(
    "fraudstream_drift_ks", "Kolmogorov-Smirnov statistic vs the training reference", ["feature"]
)
DRIFT_DRIFTED = Gauge("fraudstream_drift_drifted_features", "Features over the PSI or KS threshold")
DRIFT_RETRAINS = Counter(
    "fraudstream_drift_retrains_total", "Retraining runs started by the drift trigger", ["outcome"]
)
ALERTS_SEEN = Counter(
    "fraudstream_alerts_tailed_total", "Alerts printed by `fraudstream alerts tail`", ["action"]
)


def version_number(version: str | None) -> int:
    """``"v0012"`` -> 12 (0 for None or a name that is not a registry version), for gauges.

    Example:
        >>> version_number("v0012"), version_number(None), version_number("online-ab12")
        (12, 0, 0)
    """
    if version and version[0] == "v" and version[1:].isdigit():
        return int(version[1:])
    return 0


def serve_metrics(port: int, addr: str = "127.0.0.1") -> None:
    """Expose the default registry on ``http://addr:port/metrics`` (a daemon thread)."""
    start_http_server(port, addr=addr)
    logger.info("metrics on http://%s:%d/metrics", addr, port)
