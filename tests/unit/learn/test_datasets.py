"""Dataset loaders: the CSV column mapping and the shared-datasets path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudstream.datasets import load_dataset
from fraudstream.datasets.csv_mapping import load
from fraudstream.errors import ConfigError

MAPPING = """
columns:
  event_time: ts
  card_id: card
  amount: amt
  merchant_category: cat
label: fraud
time_unit: s
categorical: [merchant_category]
numeric: [extra]
"""


def write(tmp_path: Path, mapping: str = MAPPING) -> tuple[Path, Path]:
    csv = tmp_path / "tx.csv"
    pd.DataFrame(
        {
            "ts": [100, 0, 50, 90_000],
            "card": ["a", "a", "b", "a"],
            "amt": [30.0, 10.0, 5.0, 40.0],
            "cat": ["food", "food", "toys", "cars"],
            "fraud": ["no", "yes", "no", "no"],
            "extra": [1.0, 2.0, 3.0, 4.0],
        }
    ).to_csv(csv, index=False)
    m = tmp_path / "map.yaml"
    m.write_text(mapping)
    return csv, m


def test_csv_through_a_mapping(tmp_path: Path) -> None:
    ds = load(*write(tmp_path))
    assert ds.frame["time_s"].tolist() == [0, 50, 100, 90_000]  # sorted by time
    assert ds.labels().tolist() == [1, 0, 0, 0]
    assert ds.frame["extra"].tolist() == [2.0, 3.0, 1.0, 4.0]  # moved with its row
    x = ds.matrix()
    col = ds.feature_names.index("card_count_1d")
    # Card a: first row has no history, second sees one earlier row; day 2 sees none within 1d.
    assert x[:, col].tolist() == [0.0, 0.0, 1.0, 0.0]
    mean7 = ds.feature_names.index("card_amount_mean_7d")
    assert np.isnan(x[0, mean7]) and x[3, mean7] == pytest.approx(20.0)
    assert "merchant_category_code" in ds.feature_names


@pytest.mark.parametrize(
    "bad",
    [
        "columns: {amount: amt}\nlabel: fraud\n",  # no event_time
        "columns: {event_time: ts, amount: amt}\n",  # no label
        "columns: {event_time: ts, amount: amt, bogus: x}\nlabel: fraud\n",
        "columns: {event_time: ts, amount: nope}\nlabel: fraud\n",  # column not in the CSV
    ],
)
def test_bad_mappings_are_config_errors(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError):
        load(*write(tmp_path, bad))


def test_missing_dataset_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="datasets_dir"):
        load_dataset("ulb", tmp_path)
    with pytest.raises(ConfigError):
        load_dataset("nope", tmp_path)
