"""Bring your own data: any CSV plus a column mapping file (YAML or JSON).

Mapping file::

    columns:                 # transaction.avsc field -> CSV column
      transaction_id: id     # optional (row number otherwise)
      event_time: ts         # required: the time column
      card_id: card          # optional: enables per-card history features
      amount: amt            # required
      merchant_id: merchant  # optional, as every other avsc field
    label: is_fraud          # required: 0/1, true/false, yes/no
    time_unit: s             # s | ms | step | datetime  (how to read event_time)
    numeric: [v1, v2]        # optional extra numeric CSV columns used as-is
    categorical: [merchant_category, channel]   # mapped fields encoded as codes

Features: amount, log amount, hour of day (for real clocks), per-card count and
mean amount over the past 1 and 7 days (when ``card_id`` is mapped), categorical
codes (frequency order; a category never seen maps to missing) and the extra
numeric columns. See ``examples/mappings/banksim.yaml``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from fraudstream.datasets.base import Dataset
from fraudstream.datasets.windows import EntityIndex
from fraudstream.errors import ConfigError
from fraudstream.events.contracts import TRANSACTION, field_names

# Columns a mapping may fill: the transaction contract's fields, less the ground
# truth (labels come from the mapping's own label column).
_AVSC_FIELDS = frozenset(field_names(TRANSACTION)) - {"is_fraud", "fraud_scenario"}
_SECONDS = {"s": 1.0, "ms": 1e-3, "step": 3600.0}
_TRUE = {"1", "true", "yes", "y", "t", "fraud"}
_FALSE = {"0", "false", "no", "n", "f", "legit", "0.0", "1.0"}


def read_mapping(path: Path) -> dict[str, Any]:
    """Parse and check a mapping file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"mapping file {path} not found")
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
        raise ConfigError(f"{path}: a mapping needs a 'columns' table")
    unknown = set(data["columns"]) - _AVSC_FIELDS
    if unknown:
        raise ConfigError(f"{path}: not transaction.avsc fields: {sorted(unknown)}")
    for need in ("event_time", "amount"):
        if need not in data["columns"]:
            raise ConfigError(f"{path}: columns.{need} is required")
    if not data.get("label"):
        raise ConfigError(f"{path}: 'label' (the ground-truth column) is required")
    if data.get("time_unit", "s") not in (*_SECONDS, "datetime"):
        raise ConfigError(f"{path}: time_unit must be s, ms, step or datetime")
    return data


def _labels(col: pd.Series) -> np.ndarray:
    text = col.astype(str).str.strip().str.lower()
    bad = ~text.isin(_TRUE | _FALSE | {"1.0", "0.0"})
    if bad.any():
        raise ConfigError(f"label column has values other than 0/1: {text[bad].iloc[0]!r}")
    return text.isin(_TRUE | {"1.0"}).to_numpy(dtype=np.int8)


def load(csv_path: Path, mapping_path: Path) -> Dataset:
    """Load ``csv_path`` through the mapping at ``mapping_path``."""
    mapping = read_mapping(mapping_path)
    raw = pd.read_csv(csv_path)
    cols: dict[str, str] = mapping["columns"]
    needed = [*cols.values(), mapping["label"], *mapping.get("numeric", [])]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise ConfigError(f"{csv_path} lacks the mapped columns {missing}")
    df = pd.DataFrame({field: raw[col] for field, col in cols.items()})
    df["label"] = _labels(raw[mapping["label"]])
    for col in mapping.get("numeric", []):
        df[col] = pd.to_numeric(raw[col], errors="coerce")
    unit = mapping.get("time_unit", "s")
    if unit == "datetime":
        stamp = pd.to_datetime(df["event_time"], utc=True)
        df["time_s"] = (stamp - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
        df["hour_of_day"] = stamp.dt.hour.astype(np.int8)
    else:
        df["time_s"] = pd.to_numeric(df["event_time"], errors="raise") * _SECONDS[unit]
    df["amount"] = pd.to_numeric(df["amount"], errors="coerce")
    df = df.sort_values("time_s", kind="stable").reset_index(drop=True)
    df["log_amount"] = np.log1p(df["amount"].clip(lower=0))
    names = ["amount", "log_amount", *(["hour_of_day"] if unit == "datetime" else [])]
    if "card_id" in cols:
        idx = EntityIndex.build(
            df["card_id"].astype(str).to_numpy(), df["time_s"].to_numpy(), 8 * 86_400.0
        )
        amount = df["amount"].fillna(0.0).to_numpy()
        for days in (1, 7):
            n = idx.window_sum(np.ones(len(df)), start=days * 86_400.0)
            s = idx.window_sum(amount, start=days * 86_400.0)
            df[f"card_count_{days}d"] = n
            with np.errstate(divide="ignore", invalid="ignore"):
                df[f"card_amount_mean_{days}d"] = np.where(n > 0, s / n, np.nan)
                df[f"amount_over_card_mean_{days}d"] = np.where(n > 0, amount / (s / n), np.nan)
            names += [
                f"card_count_{days}d",
                f"card_amount_mean_{days}d",
                f"amount_over_card_mean_{days}d",
            ]
    for field in mapping.get("categorical", []):
        if field not in df.columns:
            raise ConfigError(f"categorical field {field!r} is not mapped in columns")
        order = df[field].astype(str).value_counts().index
        df[f"{field}_code"] = df[field].astype(str).map({v: i for i, v in enumerate(order)})
        names.append(f"{field}_code")
    names += list(mapping.get("numeric", []))
    card = "card_id" if "card_id" in cols else None
    return Dataset(
        name="csv",
        frame=df,
        feature_names=tuple(names),
        label_col="label",
        time_col="time_s",
        card_col=card,
        notes=[f"CSV {Path(csv_path).name} through mapping {Path(mapping_path).name}"],
    )
