"""What every dataset loader returns, and where the shared datasets live."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fraudstream.errors import ConfigError

#: Relative to the repository root (CI clones the repo with ``shared/`` beside it).
DEFAULT_DATASETS_DIR = Path("../shared/datasets")


@dataclass(slots=True)
class Dataset:
    """A labelled, time-ordered table with its model feature columns.

    Attributes:
        name: short name (``handbook``, ``ulb``, ``banksim``, ``csv``, ``synthetic``).
        frame: one row per transaction, sorted by ``time_col``.
        feature_names: the model input columns of ``frame`` (never the label).
        label_col: 0/1 ground truth column.
        time_col: numeric time column (seconds or steps) used for temporal splits.
        card_col: the card/customer column for card-level metrics, if any.
        notes: caveats to carry into reports (subsets, changed class ratios).

    Example:
        >>> df = pd.DataFrame({"t": [0, 1], "x": [1.0, 2.0], "y": [0, 1]})
        >>> ds = Dataset("toy", df, ("x",), "y", "t")
        >>> ds.matrix().shape, ds.labels().tolist()
        ((2, 1), [0, 1])
    """

    name: str
    frame: pd.DataFrame
    feature_names: tuple[str, ...]
    label_col: str
    time_col: str
    card_col: str | None = None
    notes: list[str] = field(default_factory=list)

    def matrix(self, rows: np.ndarray | slice | None = None) -> np.ndarray:
        """Feature matrix (float64, NaN for missing) of ``rows`` (all by default)."""
        frame = self.frame if rows is None else self.frame.iloc[rows]
        return frame.loc[:, list(self.feature_names)].to_numpy(dtype=np.float64, na_value=np.nan)

    def labels(self, rows: np.ndarray | slice | None = None) -> np.ndarray:
        """Labels (int8) of ``rows``."""
        frame = self.frame if rows is None else self.frame.iloc[rows]
        return frame[self.label_col].to_numpy(dtype=np.int8)

    def times(self) -> np.ndarray:
        """The time column as float64."""
        return self.frame[self.time_col].to_numpy(dtype=np.float64)


def resolve_path(datasets_dir: Path, filename: str) -> Path:
    """Path of a shared dataset file, with a clear error when it is absent."""
    path = Path(datasets_dir) / filename
    if not path.is_file():
        raise ConfigError(
            f"dataset file {path} not found; set learn.datasets_dir "
            "(FRAUDSTREAM_LEARN__DATASETS_DIR) to the folder holding the shared datasets"
        )
    return path


def frame_fingerprint(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    """sha256 over a frame's values (the training data fingerprint of the registry)."""
    cols = list(frame.columns) if columns is None else columns
    digest = hashlib.sha256()
    digest.update(",".join(map(str, cols)).encode())
    hashed = pd.util.hash_pandas_object(frame.loc[:, cols], index=False).to_numpy()
    digest.update(hashed.tobytes())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
