"""The drift trigger registers a candidate (never the champion); ``fraudstream drift report``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fraudstream.cli import app
from fraudstream.detect.models.online import OnlineLogisticModel
from fraudstream.detect.registry import ModelRegistry
from fraudstream.features.contract import FEATURE_CONTRACT_VERSION, FEATURE_NAMES
from fraudstream.learn.drift import REFERENCE_FILE, SCORE, DriftReference, compare
from fraudstream.learn.retrain import Trained, maybe_retrain, reference_path, write_reference
from fraudstream.settings import DriftSettings

F = len(FEATURE_NAMES)


def _x(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    return rng.normal(shift, 1.0, size=(n, F))


def _model(rng: np.random.Generator) -> tuple[OnlineLogisticModel, np.ndarray]:
    x = _x(rng, 600)
    y = (x[:, 0] > 1.0).astype(int)
    return OnlineLogisticModel(FEATURE_NAMES).fit(x, y, epochs=1), x


@pytest.fixture()
def registry(tmp_path: Path) -> ModelRegistry:
    rng = np.random.default_rng(0)
    reg = ModelRegistry(tmp_path / "models")
    model, x = _model(rng)
    v = reg.register(model, {"feature_contract_version": FEATURE_CONTRACT_VERSION})
    reg.promote(v)
    write_reference(reg, v, x, FEATURE_NAMES, model, bins=10)
    return reg


def test_trigger_registers_a_candidate_never_the_champion(registry: ModelRegistry) -> None:
    rng = np.random.default_rng(1)
    s = DriftSettings(min_records=100, retrain_on_drift=True)
    ref = DriftReference.load(reference_path(registry, s, None))
    quiet = compare(ref, _x(rng, 1000), FEATURE_NAMES, None, s, export=False)
    calls: list[int] = []

    def train() -> Trained:
        calls.append(1)
        m, x = _model(rng)
        return Trained(m, {"feature_contract_version": FEATURE_CONTRACT_VERSION}, x, FEATURE_NAMES)

    assert maybe_retrain(registry, quiet, train, s) is None and calls == []
    drifted = compare(ref, _x(rng, 1000, 1.0), FEATURE_NAMES, None, s, export=False)
    assert drifted.triggered
    off = DriftSettings(min_records=100, retrain_on_drift=False)
    assert maybe_retrain(registry, drifted, train, off) is None
    v = maybe_retrain(registry, drifted, train, s)
    assert v == "v0002" and calls == [1]
    meta = registry.metadata(v)
    assert meta["stage"] == "candidate" and meta["trigger"]["kind"] == "drift"
    assert meta["trigger"]["champion"] == "v0001" and len(meta["trigger"]["drifted"]) >= 3
    assert registry.champion_version() == "v0001"
    assert (registry.root / v / REFERENCE_FILE).is_file()


def test_drift_report_command_on_jsonl(
    registry: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(2)
    lines = [
        json.dumps(
            {"features": dict(zip(FEATURE_NAMES, row.tolist(), strict=True)), "fraud_score": 0.9}
        )
        for row in _x(rng, 600, 2.0)
    ]
    scored = tmp_path / "scored.jsonl"
    scored.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("FRAUDSTREAM_MODEL_DIR", str(registry.root))
    monkeypatch.setenv("FRAUDSTREAM_DRIFT__MIN_RECORDS", "100")
    out = tmp_path / "out"
    res = CliRunner().invoke(
        app, ["drift", "report", "--jsonl", str(scored), "--out-dir", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "FIRED" in res.output
    report = json.loads((out / "drift.json").read_text())
    assert report["triggered"] and report["features"][SCORE]["drifted"]
    assert "| amount |" in (out / "drift.md").read_text()


def test_bad_jsonl_is_a_clear_error(registry: ModelRegistry, tmp_path: Path) -> None:
    from fraudstream.errors import ValidationError
    from fraudstream.learn.retrain import window_from_jsonl

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"features": {}}\nnot json\n')
    with pytest.raises(ValidationError, match=r"bad\.jsonl:2"):
        window_from_jsonl(bad, 10)


def test_window_from_db_reads_the_latest_scored_rows(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from fraudstream.learn.retrain import window_from_db
    from fraudstream.settings import DatabaseSettings
    from fraudstream.store.db import make_engine
    from fraudstream.store.migrate import upgrade
    from fraudstream.store.repository import SinkBatch, write_batch

    engine = make_engine(DatabaseSettings(url=f"sqlite:///{tmp_path / 'db.sqlite'}"))
    upgrade(engine)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {"transaction_id": f"t{i}", "card_id": "c", "amount": float(i), "fraud_score": i / 10,
         "risk_level": "LOW", "action": "ALLOW", "reasons": [], "model_version": "m",
         "event_time": None, "scored_at": t0 + timedelta(seconds=i),
         "features": {"amount": float(i)}}
        for i in range(10)
    ]  # fmt: skip
    write_batch(engine, SinkBatch(scores=rows))
    x, s = window_from_db(engine, 4)
    amount = FEATURE_NAMES.index("amount")
    assert x[:, amount].tolist() == [6.0, 7.0, 8.0, 9.0]  # the latest four, oldest first
    assert s.tolist() == [0.6, 0.7, 0.8, 0.9]
    assert np.isnan(x[:, amount - 1 if amount else 1]).all()  # features not stored: missing
