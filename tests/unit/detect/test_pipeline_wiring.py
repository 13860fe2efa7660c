"""The ensemble detector inside the exactly-once pipeline (in-process bus, no broker)."""

from __future__ import annotations

import numpy as np

from fraudstream.bus.partitioner import partition_for_key
from fraudstream.detect import load_detector
from fraudstream.events.batch import TransactionBatch
from fraudstream.features.online import OnlineFeatures
from fraudstream.generate.transactions import GeneratorConfig, TransactionGenerator
from fraudstream.pipeline.harness import run_pipeline
from fraudstream.settings import Settings
from tests.unit.features.streams import DictStore


def test_ensemble_in_the_pipeline_and_state_from_the_changelog() -> None:
    gen = TransactionGenerator(
        GeneratorConfig(seed=3, n_customers=300, n_merchants=100, fraud_rate=0.05)
    )
    records = [r for b in gen.batches(count=1500, batch_size=500) for r in b]
    det = load_detector(Settings(detection={"use_model": False}))
    run = run_pipeline(
        records, partitions=3, detector=det, clock=lambda: 4e9, max_batch_records=200
    )
    assert run.dead_letters == []
    assert len(run.scores) == len(records)
    assert run.alerts, "the default rules should raise some alerts on injected fraud"
    assert all(a["action"] in ("REVIEW", "BLOCK") for a in run.alerts)
    # State rebuilt from the changelog == state of scoring each partition directly.
    for p in range(3):
        mine = [r for r in records if partition_for_key(r["card_id"].encode(), 3) == p]
        store = DictStore()
        feats = OnlineFeatures()
        for i in range(0, len(mine), 97):
            feats.transform(TransactionBatch(mine[i : i + 97]), store)
        restored = {k: v for k, v in run.state[p].items() if k.startswith("w1/")}
        assert restored == store.data
        assert len(restored) > 0
    scores = np.array([s["fraud_score"] for s in run.scores])
    assert ((scores >= 0) & (scores <= 1)).all()
