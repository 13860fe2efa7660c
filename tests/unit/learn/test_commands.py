"""``fraudstream train / evaluate / models`` end to end on a tiny mapped CSV."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fraudstream.cli import app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rng = np.random.default_rng(0)
    n = 900
    amount = np.round(rng.lognormal(3.0, 0.8, n), 2)
    fraud = (rng.random(n) < 0.06) | (amount > 150)
    amount[fraud] *= 3
    pd.DataFrame(
        {
            "ts": np.sort(rng.integers(0, 30 * 86_400, n)),
            "card": rng.integers(0, 60, n),
            "amt": amount,
            "fraud": fraud.astype(int),
        }
    ).to_csv(tmp_path / "tx.csv", index=False)
    (tmp_path / "map.yaml").write_text(
        "columns: {event_time: ts, card_id: card, amount: amt}\nlabel: fraud\n"
    )
    monkeypatch.setenv("FRAUDSTREAM_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("FRAUDSTREAM_LEARN__REPORTS_DIR", str(tmp_path / "reports"))
    return tmp_path


@pytest.mark.slow
def test_train_promote_rollback_and_evaluate(env: Path) -> None:
    runner = CliRunner()
    args = ["--dataset", "csv", "--csv", str(env / "tx.csv"), "--mapping", str(env / "map.yaml")]
    r1 = runner.invoke(app, ["train", *args, "--promote"])
    assert r1.exit_code == 0, r1.output
    assert "registered v0001" in r1.output and "promoted v0001" in r1.output
    r2 = runner.invoke(app, ["train", *args, "--seed", "1"])
    assert r2.exit_code == 0, r2.output
    meta = json.loads((env / "models" / "v0002" / "metadata.json").read_text())
    assert meta["stage"] == "candidate" and meta["metrics"]["roc_auc"] > 0.8
    assert meta["feature_contract_version"] == "dataset:csv"
    assert len(meta["training_data_fingerprint"]) == 64
    assert runner.invoke(app, ["models", "promote", "v0002"]).exit_code == 0
    listing = runner.invoke(app, ["models", "list"]).output
    assert "v0001  archived" in listing and "v0002  champion" in listing
    back = runner.invoke(app, ["models", "rollback"])
    assert back.exit_code == 0 and "champion: v0001" in back.output
    bad = runner.invoke(app, ["models", "promote", "v0099"])
    assert bad.exit_code != 0
    ev = runner.invoke(app, ["evaluate", *args])
    assert ev.exit_code == 0, ev.output
    report = json.loads((env / "reports" / "csv-tx.json").read_text())
    rows = next(iter(report["tables"].values()))
    assert {"ensemble", "gbm", "logistic_regression_baseline"} <= set(rows)
    assert (env / "reports" / "csv-tx.md").read_text().startswith("# Dataset csv")
