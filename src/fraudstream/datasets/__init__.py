"""Loaders for the real datasets in ``../shared/datasets`` and for any mapped CSV.

Each loader returns a :class:`~fraudstream.datasets.base.Dataset` with its own
feature set (the datasets' columns differ from the transaction contract), so
models trained on them carry their own ``feature_names`` and do not serve in the
stream; only models trained on the feature contract (``--dataset synthetic``) do.
"""

from __future__ import annotations

from pathlib import Path

from fraudstream.datasets.base import DEFAULT_DATASETS_DIR, Dataset
from fraudstream.errors import ConfigError

DATASETS = ("handbook", "ulb", "ulb-first", "banksim", "csv")


def load_dataset(
    name: str,
    datasets_dir: Path = DEFAULT_DATASETS_DIR,
    *,
    cache_dir: Path | None = None,
    csv_path: Path | None = None,
    mapping_path: Path | None = None,
) -> Dataset:
    """Load a dataset by its short name (heavy imports happen here, not at import time)."""
    if name == "handbook":
        from fraudstream.datasets import handbook

        return handbook.load(datasets_dir, cache_dir)
    if name in ("ulb", "ulb-first"):
        from fraudstream.datasets import ulb

        return ulb.load(datasets_dir, "first" if name == "ulb-first" else "random")
    if name == "banksim":
        from fraudstream.datasets import banksim

        return banksim.load(datasets_dir)
    if name == "csv":
        if csv_path is None or mapping_path is None:
            raise ConfigError("--dataset csv needs --csv FILE and --mapping FILE")
        from fraudstream.datasets import csv_mapping

        return csv_mapping.load(csv_path, mapping_path)
    raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


__all__ = ["DATASETS", "DEFAULT_DATASETS_DIR", "Dataset", "load_dataset"]
