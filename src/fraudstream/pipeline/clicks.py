"""The click-stream route: ``user-events`` -> ``user-events-scored``.

The scorer is the graph model (:class:`~fraudstream.detect.gnn.clickstream.GraphClickScorer`:
the live user-session-product graph kept in the partition's state store, so in
the changelog, and one GNN call per batch), loaded by :func:`load_click_scorer`
from the champion of ``<model_dir>/clickstream``. Only when there is no trained
click model (or torch is not installed) does the route fall back, with a
warning in the log, to the PLACEHOLDER :func:`score_user_events`: a per-user
error velocity (ERROR events of the user within ten minutes) plus a penalty for
failed payments. Output records follow ``scored_user_event.avsc``; ``is_fraud``
is the scorer's HIGH risk level; user events raise no alerts.
"""

from __future__ import annotations

import logging
from array import array
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fraudstream.detect.base import Decisions
from fraudstream.errors import RecordError, ValidationError
from fraudstream.pipeline.processor import EncodeOutputs, Route, ScoreBatch
from fraudstream.pipeline.state import PartitionStore

logger = logging.getLogger(__name__)

Record = dict[str, Any]

WINDOW_MS = 600_000
MAX_FUTURE_MS = 5 * 60_000
MODEL_VERSION = "click-rule-placeholder-v1"


def validate_user_events(records: list[Record], now_ms: int) -> list[RecordError | None]:
    """Domain checks the schema cannot express; one error or None per record.

    Example:
        >>> validate_user_events([{"user_id": "", "event_timestamp": 0,
        ...     "request_latency_ms": 50, "status": "SUCCESS"}], 0)[0].field
        'user_id'
    """
    out: list[RecordError | None] = []
    for r in records:
        err: RecordError | None = None
        if not str(r.get("user_id") or "").strip():
            err = ValidationError("missing or empty", field="user_id")
        elif r.get("event_timestamp", 0) > now_ms + MAX_FUTURE_MS:
            err = ValidationError("too far in the future", field="event_timestamp")
        elif not 0 <= r.get("request_latency_ms", -1) <= 600_000:
            err = ValidationError("must be in [0, 600000]", field="request_latency_ms")
        elif (r.get("status") == "ERROR") != (r.get("error_code") is not None):
            err = ValidationError(
                "error_code only and always with status ERROR", field="error_code"
            )
        out.append(err)
    return out


def load_click_scorer(model_dir: Path | None) -> ScoreBatch:
    """The graph scorer of the champion click model, else the placeholder (logged)."""
    if model_dir is None:
        logger.warning("user events: no model dir; scoring with the PLACEHOLDER %s", MODEL_VERSION)
        return score_user_events
    try:
        from fraudstream.detect.gnn.clickstream import GraphClickScorer, load_click_model

        model = load_click_model(model_dir)
    except ImportError as exc:  # the gnn extra (torch) is not installed
        logger.warning(
            "user events: the graph model needs torch (%s); scoring with the PLACEHOLDER %s",
            exc, MODEL_VERSION,
        )  # fmt: skip
        return score_user_events
    if model is None:
        logger.warning(
            "user events: no click model in %s/clickstream (train one with "
            "`fraudstream gnn clickstream --save`); scoring with the PLACEHOLDER %s",
            model_dir, MODEL_VERSION,
        )  # fmt: skip
        return score_user_events
    logger.info("user events: scoring with the graph model %s", model.version)
    return GraphClickScorer(model)


def score_user_events(records: list[Record], store: PartitionStore) -> Decisions:
    """Per-user error velocity + failed-payment penalty (placeholder scorer)."""
    n = len(records)
    errors = np.zeros(n)
    cache: dict[str, array[int]] = {}
    for i, r in enumerate(records):
        key = f"user:{r['user_id']}"
        times = cache.get(key)
        if times is None:
            times = array("q")
            raw = store.get(key)
            if raw:
                times.frombytes(raw)
            cache[key] = times
        t = int(r["event_timestamp"])
        kept = [x for x in times if x > t - WINDOW_MS]
        if r["status"] == "ERROR":
            kept.append(t)
        del times[:]
        times.extend(kept[-32:])
        errors[i] = len(times)
    for key, times in cache.items():
        store.put(key, times.tobytes())
    failed_payment = np.array(
        [r["event_type"] == "PAYMENT" and r["status"] == "ERROR" for r in records], dtype=bool
    )
    score = np.clip(0.15 * errors + 0.3 * failed_payment, 0.0, 1.0)
    risk = np.where(score >= 0.8, "HIGH", np.where(score >= 0.4, "MEDIUM", "LOW")).astype(object)
    return Decisions(
        fraud_score=score,
        risk_level=risk,
        action=np.full(n, "ALLOW", dtype=object),
        reasons=[["USER_ERROR_VELOCITY_10M"] if e >= 3 else [] for e in errors],
        model_version=MODEL_VERSION,
        features=errors.reshape(-1, 1),
        feature_names=("user_errors_10m",),
    )


def build_scored_events(
    records: list[Record], d: Decisions, now_ms: int, _latency_ms: float
) -> tuple[list[Record], list[int]]:
    """Decision fields of ``scored_user_event`` (is_fraud is the prediction: HIGH risk)."""
    extra = [
        {
            "fraud_score": s,
            "is_fraud": risk == "HIGH",
            "model_version": d.model_version,
            "scored_at": now_ms,
        }
        for s, risk in zip(d.fraud_score.tolist(), d.risk_level.tolist(), strict=True)
    ]
    return extra, []


def user_event_route(
    *,
    input_topic: str,
    output_topic: str,
    decode: Any,
    encode: EncodeOutputs,
    score: ScoreBatch | None = None,
) -> Route:
    """The user-events route (no alerts); ``score`` None: the placeholder scorer."""
    return Route(
        input_topic=input_topic,
        output_topic=output_topic,
        key_field="user_id",
        decode=decode,
        validate=validate_user_events,
        score=score if score is not None else score_user_events,
        build=build_scored_events,
        encode_output=encode,
    )


def merge_encoder(encode_many: Any) -> EncodeOutputs:
    """Encode input + decision fields with a plain ``encode_many``."""

    def encode(
        records: Sequence[Record], extra: Sequence[Record], _raw: Sequence[bytes | None]
    ) -> list[bytes]:
        return list(encode_many([{**r, **x} for r, x in zip(records, extra, strict=True)]))

    return encode
