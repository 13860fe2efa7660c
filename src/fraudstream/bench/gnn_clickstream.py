"""Bot sessions found by the click-stream GNN, against the generator's ground truth.

Protocol (time split, inductive): the generator's stream (with returning users,
so that several sessions per user is not by itself a bot sign, and with the
human-paced and mimicking bots) is cut at ``train_share`` of its events. The
model trains on the earlier window (:func:`fit_click_model`: per-batch graph
snapshots, the last quarter of that window for validation). The later window is
then scored by the served path (:class:`GraphClickScorer`, batch by batch on the
live graph, which carries on from the earlier window as a running pipeline's
would). Only sessions that start after the cut are evaluated: the model has
never seen them. A session's score is the score of its last event (what the
stream said once it had seen all of it).

Reported, per bot kind (that kind's sessions against the legitimate ones) and
overall: AUPRC, ROC AUC, recall at fixed alert budgets (the top 1 %, 2 % and 5 %
of evaluated sessions); also event-level AUPRC and scoring cost.
"""

from __future__ import annotations

import json
import logging
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

logger = logging.getLogger(__name__)

BUDGETS = (0.01, 0.02, 0.05)


def _metrics(y: np.ndarray, p: np.ndarray, flagged: dict[float, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {"sessions": int(y.sum())}
    if 0 < y.sum() < len(y):
        out["auprc"] = float(average_precision_score(y, p))
        out["roc_auc"] = float(roc_auc_score(y, p))
    for b, f in flagged.items():
        out[f"recall_at_{b:.0%}"] = float((f & (y == 1)).sum() / max(y.sum(), 1))
    return out


def _session_report(
    later: list[Any], seen: set[str], scores: np.ndarray, kinds: tuple[str, ...]
) -> dict[str, Any]:
    """Session-level figures (score of the session's last event) for unseen sessions."""
    last: dict[str, tuple[float, str | None]] = {}
    for e, s in zip(later, scores.tolist(), strict=True):
        sid = e.event["session_id"]
        if sid not in seen:
            last[sid] = (s, e.scenario)
    p = np.array([v[0] for v in last.values()])
    kind = np.array([v[1] or "legit" for v in last.values()])
    order = np.argsort(-p, kind="stable")
    flagged = {}
    for b in BUDGETS:
        f = np.zeros(len(p), dtype=bool)
        f[order[: max(1, round(b * len(p)))]] = True
        flagged[b] = f
    legit = kind == "legit"
    per_kind = {}
    for k in kinds:
        mask = legit | (kind == k)
        per_kind[k] = _metrics(
            (kind[mask] == k).astype(int), p[mask], {b: f[mask] for b, f in flagged.items()}
        )
    y_ev = np.array([e.is_fraud for e in later])
    return {
        "test_sessions": len(p),
        "test_bot_sessions": int((~legit).sum()),
        "overall": _metrics((~legit).astype(int), p, flagged),
        "per_kind": per_kind,
        "event_auprc": float(average_precision_score(y_ev, scores)),
        "event_bot_share": float(y_ev.mean()),
    }


def run(
    n_events: int = 100_000,
    seed: int = 11,
    train_share: float = 0.6,
    bot_session_probability: float = 0.05,
    returning_user_probability: float = 0.2,
    new_session_probability: float = 0.05,
    save_to: Path | None = None,
) -> dict[str, Any]:
    """Train on the earlier window, score the later one as the stream does; the figures.

    With ``save_to`` (a model registry root) the model is registered and promoted
    under ``save_to/clickstream``, where the pipeline's user-events route loads it.
    """
    import torch
    from sklearn.ensemble import HistGradientBoostingClassifier

    from fraudstream.detect.gnn.click_graph import DictStore
    from fraudstream.detect.gnn.click_train import ClickTrainConfig, fit_click_model, snapshot_graph
    from fraudstream.detect.gnn.clickstream import GraphClickScorer, replay_batches
    from fraudstream.generate.clickstream import SCENARIOS, ClickstreamConfig, ClickstreamGenerator

    torch.set_num_threads(1)
    cfg = ClickstreamConfig(
        seed=seed, bot_session_probability=bot_session_probability,
        returning_user_probability=returning_user_probability,
        new_session_probability=new_session_probability,
    )  # fmt: skip
    evs = ClickstreamGenerator(cfg, start_time_ms=1_767_225_600_000).take(n_events)
    cut = int(train_share * n_events)
    history, later = evs[:cut], evs[cut:]
    t0, c0 = time.perf_counter(), time.process_time()
    model, val = fit_click_model(history)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0

    # baseline: boosted trees on the session's own features (no graph), same snapshots
    x, _ei, y, seeds, _st = snapshot_graph(history, ClickTrainConfig(), model.limits)
    ego = HistGradientBoostingClassifier(max_iter=200, random_state=seed)
    ego.fit(x[seeds], y[seeds])

    store = DictStore()
    for _ in replay_batches([e.event for e in history], store, model.limits, 256):
        pass  # the live graph as the stream left it at the cut
    scorer = GraphClickScorer(model)
    scores, ego_scores = np.empty(len(later)), np.empty(len(later))
    batch_cpu: list[float] = []
    for start in range(0, len(later), 256):
        chunk = [dict(e.event) for e in later[start : start + 256]]
        c = time.process_time()
        d = scorer(chunk, store)
        batch_cpu.append(time.process_time() - c)
        scores[start : start + len(chunk)] = d.fraud_score
        assert d.features is not None
        ego_scores[start : start + len(chunk)] = ego.predict_proba(d.features)[:, 1]
    seen = {e.event["session_id"] for e in history}
    gnn = _session_report(later, seen, scores, SCENARIOS)
    base = _session_report(later, seen, ego_scores, SCENARIOS)
    out: dict[str, Any] = {
        "command_args": {
            "events": n_events,
            "seed": seed,
            "train_share": train_share,
            "bot_session_probability": bot_session_probability,
            "returning_user_probability": returning_user_probability,
            "new_session_probability": new_session_probability,
        },
        "train_events": cut,
        "test_events": len(later),
        **gnn,
        "session_features_only_gbm": {k: base[k] for k in ("overall", "per_kind", "event_auprc")},
        "validation": val,
        "threshold": model.threshold,
        "train_wall_s": round(train_s, 1),
        "train_cpu_s": round(train_cpu, 1),
        "score_cpu_ms_per_batch_256_p50": round(1000 * float(np.median(batch_cpu)), 2),
        "score_cpu_ms_per_batch_256_p99": round(1000 * float(np.quantile(batch_cpu, 0.99)), 2),
        "live_graph_store_bytes": sum(len(k) + len(v) for k, v in store.items()),
        "live_graph_nodes": len(store),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    if save_to is not None:
        from fraudstream.detect.gnn.clickstream import save_click_model

        meta = {"metrics": {**out["overall"], **val}, "args": out["command_args"]}
        out["registered"] = save_click_model(model, save_to, meta)
    logger.info("click-stream GNN: %s", out)
    return out


def memory_curve(n_events: int, seed: int = 11, points: int = 5) -> list[dict[str, Any]]:
    """Live-graph size while ``n_events`` stream through it (no model: the graph alone).

    The benchmark's traffic (100 events/s of event time): the store should level off once
    the stream is longer than the session time-to-live (30 min = 180,000 events).
    """
    from fraudstream.detect.gnn.click_graph import DictStore, GraphLimits
    from fraudstream.detect.gnn.clickstream import replay_batches
    from fraudstream.generate.clickstream import ClickstreamConfig, ClickstreamGenerator

    cfg = ClickstreamConfig(
        seed=seed, bot_session_probability=0.05, returning_user_probability=0.2,
        new_session_probability=0.05,
    )  # fmt: skip
    gen = ClickstreamGenerator(cfg, start_time_ms=1_767_225_600_000)
    store, limits, out = DictStore(), GraphLimits(), []
    step = max(1, n_events // points)
    c0 = time.process_time()
    for done in range(step, n_events + 1, step):
        for _ in replay_batches([e.event for e in gen.take(step)], store, limits, 256):
            pass
        kinds = {k: sum(1 for key in store if key[0] == k) for k in "spu"}
        size = sum(len(k) + len(v) for k, v in store.items())
        out.append({
            "events": done, "nodes": len(store), "sessions": kinds["s"], "products": kinds["p"],
            "users": kinds["u"], "store_mb": round(size / 1e6, 2),
            "cpu_s": round(time.process_time() - c0, 1),
        })  # fmt: skip
        logger.info("live click graph: %s", out[-1])
    return out


def main(out_path: Path, memory_events: int = 0, **kwargs: Any) -> dict[str, Any]:
    """Run and write the JSON result."""
    res = run(**kwargs)
    if memory_events:
        res["memory_curve"] = memory_curve(memory_events, kwargs.get("seed", 11))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(res, indent=2), encoding="utf-8")
    return res
