"""The on-disk model registry: versions, metadata, promote, rollback, serving guard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fraudstream.detect.champion import ChampionSource, ChampionWatcher
from fraudstream.detect.models.online import OnlineLogisticModel
from fraudstream.detect.registry import ModelRegistry, champion_source
from fraudstream.errors import ConfigError, ConflictError, NotFoundError
from fraudstream.features.contract import FEATURE_CONTRACT_VERSION, FEATURE_NAMES
from fraudstream.settings import Settings


def model(names: tuple[str, ...] = ("a", "b"), shift: float = 0.0) -> OnlineLogisticModel:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(names))) + shift
    y = (x[:, 0] > shift).astype(int)
    return OnlineLogisticModel(names).fit(x, y, epochs=1)


def test_register_writes_versioned_dirs_with_metadata(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    v1 = reg.register(model(), {"metrics": {"roc_auc": 0.9}, "training_data_fingerprint": "ab"})
    v2 = reg.register(model(shift=1.0), {"feature_contract_version": "fc-x"})
    assert (v1, v2) == ("v0001", "v0002")
    meta = json.loads((tmp_path / "v0001" / "metadata.json").read_text())
    assert meta["stage"] == "candidate" and meta["metrics"] == {"roc_auc": 0.9}
    assert meta["feature_names"] == ["a", "b"] and meta["created_at"].endswith("+00:00")
    assert meta["training_data_fingerprint"] == "ab"
    assert [m["version"] for m in reg.list()] == ["v0001", "v0002"]
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporaries


def test_promote_and_rollback(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    v1, v2, v3 = (reg.register(model(shift=s), {}) for s in (0.0, 1.0, 2.0))
    assert reg.champion_version() is None
    with pytest.raises(NotFoundError):
        reg.champion()
    reg.promote(v1)
    reg.promote(v2)
    reg.promote(v3)
    assert reg.champion_version() == v3
    assert reg.metadata(v2)["stage"] == "archived"
    assert reg.rollback() == v2
    assert reg.metadata(v3)["stage"] == "archived" and reg.metadata(v2)["stage"] == "champion"
    assert reg.rollback() == v1
    with pytest.raises(ConflictError):
        reg.rollback()
    version, loaded = reg.champion()
    x = np.array([[0.5, 0.1]])
    assert version == v1
    np.testing.assert_array_equal(loaded.predict(x), reg.load(v1).predict(x))


def test_unknown_versions_are_not_found(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    with pytest.raises(NotFoundError):
        reg.promote("v0042")
    with pytest.raises(NotFoundError):
        reg.load("../etc")


def test_serving_refuses_models_of_another_feature_set(tmp_path: Path) -> None:
    reg = ModelRegistry(tmp_path)
    v1 = reg.register(model(), {"feature_contract_version": "dataset:ulb-random"})
    with pytest.raises(ConfigError):
        reg.load_champion(v1)


def test_detector_picks_up_a_new_champion_without_restart(tmp_path: Path) -> None:
    source = champion_source(Settings(model_dir=tmp_path))
    assert isinstance(source, ChampionSource)
    names = FEATURE_NAMES[:3]
    reg = ModelRegistry(tmp_path)
    meta = {"feature_contract_version": FEATURE_CONTRACT_VERSION}
    v1 = reg.register(model(names), meta)
    v2 = reg.register(model(names, shift=1.0), meta)
    now = [0.0]
    watcher = ChampionWatcher(source, check_interval_s=10.0, clock=lambda: now[0])
    assert watcher.current() is None  # nothing promoted: rules only
    reg.promote(v1)
    now[0] = 11.0
    first = watcher.current()
    assert first is not None and first.version == reg.load(v1).version
    reg.promote(v2)
    now[0] = 15.0  # before the next check: still the old model
    assert watcher.current() is first
    now[0] = 22.0
    second = watcher.current()
    assert second is not None and second.version == reg.load(v2).version != first.version
