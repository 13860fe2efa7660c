"""Drift: PSI and KS per feature and for the score, recent traffic vs the training reference.

A :class:`DriftReference` is computed once from the training frame (the feature
matrix the model learned from and the model's scores on it) and saved as
``drift_reference.json`` beside the model in the registry. For each feature it
keeps the bin edges (quantiles of the reference, so every bin holds about the
same share of training rows), the share of rows per bin, the share of missing
values, and a sorted sample for the Kolmogorov-Smirnov statistic.

:class:`DriftMonitor` keeps a sliding window of the most recent scored rows and
compares it with the reference:

* PSI = sum((cur - ref) * ln(cur / ref)) over the bins plus a "missing" bin
  (shares floored at 1e-4, so an empty bin does not give infinity); rules of
  thumb: < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant;
* KS = max |F_ref(v) - F_cur(v)|, the two-sample statistic on non-missing values.

Both are exported as ``fraudstream_drift_psi{feature}`` / ``fraudstream_drift_ks{feature}``
(``feature="__score__"`` for the fraud score). The report says whether the
configured trigger fires (``DriftSettings``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fraudstream.errors import ValidationError
from fraudstream.observe.metrics import DRIFT_DRIFTED, DRIFT_KS, DRIFT_PSI
from fraudstream.settings import DriftSettings

logger = logging.getLogger(__name__)

SCORE = "__score__"
REFERENCE_FILE = "drift_reference.json"
_FLOOR = 1e-4
_SAMPLE = 2_000


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of rows per bin (len(edges) + 1 bins) and a last share for missing values."""
    n = values.shape[0]
    out = np.zeros(edges.shape[0] + 2)
    if n == 0:
        return out
    finite = np.isfinite(values)
    # side="left": a value equal to an edge falls below it, so 0/1 flags get two bins.
    idx = np.searchsorted(edges, values[finite], side="left")
    out[: edges.shape[0] + 1] = np.bincount(idx, minlength=edges.shape[0] + 1)
    out[-1] = n - int(finite.sum())
    return out / n


def psi(ref_shares: np.ndarray, cur_shares: np.ndarray) -> float:
    """Population stability index of two share vectors (floored, so never infinite).

    Example:
        >>> round(psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])), 6)
        0.0
    """
    e = np.maximum(np.asarray(ref_shares, dtype=np.float64), _FLOOR)
    a = np.maximum(np.asarray(cur_shares, dtype=np.float64), _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def ks(ref_sorted: np.ndarray, cur: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (NaN ignored; 0 when a side is empty).

    Example:
        >>> ks(np.arange(100.0), np.arange(100.0) + 1000.0)
        1.0
    """
    cur = np.sort(cur[np.isfinite(cur)])
    if ref_sorted.shape[0] == 0 or cur.shape[0] == 0:
        return 0.0
    points = np.concatenate([ref_sorted, cur])
    f_ref = np.searchsorted(ref_sorted, points, side="right") / ref_sorted.shape[0]
    f_cur = np.searchsorted(cur, points, side="right") / cur.shape[0]
    return float(np.max(np.abs(f_ref - f_cur)))


@dataclass
class FeatureReference:
    """Bin edges, shares and a sorted sample of one feature in the training frame."""

    edges: np.ndarray
    shares: np.ndarray
    sample: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, bins: int) -> FeatureReference:
        v = np.asarray(values, dtype=np.float64)
        finite = np.sort(v[np.isfinite(v)])
        if finite.size:
            inner = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1])
            edges = np.unique(inner)  # constant or few-valued features: fewer bins
            pick = np.linspace(0, finite.size - 1, min(finite.size, _SAMPLE)).astype(np.int64)
            sample = finite[pick]
        else:
            edges, sample = np.zeros(0), np.zeros(0)
        return cls(edges, _shares(v, edges), sample)


@dataclass
class DriftReference:
    """Per-feature references (and the score's) of one training frame.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> ref = DriftReference.fit(rng.normal(size=(1000, 2)), ["a", "b"], rng.random(1000))
        >>> sorted(ref.features)
        ['__score__', 'a', 'b']
    """

    features: dict[str, FeatureReference]
    n_rows: int
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        names: Sequence[str],
        scores: np.ndarray | None = None,
        *,
        bins: int = 10,
        meta: dict[str, Any] | None = None,
    ) -> DriftReference:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(names):
            raise ValidationError(
                f"reference matrix {x.shape} vs {len(names)} names", field="features"
            )
        feats = {n: FeatureReference.fit(x[:, j], bins) for j, n in enumerate(names)}
        if scores is not None:
            feats[SCORE] = FeatureReference.fit(np.asarray(scores, dtype=np.float64), bins)
        return cls(feats, int(x.shape[0]), dict(meta or {}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "meta": self.meta,
            "features": {
                n: {
                    "edges": r.edges.tolist(),
                    "shares": r.shares.tolist(),
                    "sample": r.sample.tolist(),
                }
                for n, r in self.features.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReference:
        try:
            feats = {
                n: FeatureReference(
                    np.asarray(r["edges"], dtype=np.float64),
                    np.asarray(r["shares"], dtype=np.float64),
                    np.asarray(r["sample"], dtype=np.float64),
                )
                for n, r in data["features"].items()
            }
            return cls(feats, int(data["n_rows"]), dict(data.get("meta") or {}))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValidationError(f"not a drift reference: {exc}", field="reference") from exc

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(self.to_dict()), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> DriftReference:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ValidationError(
                f"cannot read drift reference {path}: {exc}", field="reference"
            ) from exc
        return cls.from_dict(data)


@dataclass
class DriftReport:
    """PSI and KS per feature (and ``__score__``) for one window, and the trigger's verdict."""

    n_rows: int
    rows: dict[str, dict[str, float | bool]]
    drifted: list[str]
    score_drifted: bool
    triggered: bool
    thresholds: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows": self.n_rows,
            "drifted": self.drifted,
            "score_drifted": self.score_drifted,
            "triggered": self.triggered,
            "thresholds": self.thresholds,
            "features": self.rows,
        }

    def to_markdown(self) -> str:
        th = self.thresholds
        lines = [
            "# Drift report",
            "",
            f"{self.n_rows} recent rows vs the training reference; PSI > {th['psi']} or "
            f"KS > {th['ks']} marks a feature. Trigger: {'FIRED' if self.triggered else 'quiet'} "
            f"({len(self.drifted)} drifted, score drifted: {self.score_drifted}).",
            "",
            "| feature | PSI | KS | drifted |",
            "|---|---:|---:|---|",
        ]
        order = sorted(self.rows, key=lambda n: (n != SCORE, -float(self.rows[n]["psi"])))
        for n in order:
            r = self.rows[n]
            lines.append(
                f"| {n} | {r['psi']:.4f} | {r['ks']:.4f} | {'yes' if r['drifted'] else ''} |"
            )
        return "\n".join(lines) + "\n"


def compare(
    reference: DriftReference,
    x: np.ndarray,
    names: Sequence[str],
    scores: np.ndarray | None,
    settings: DriftSettings,
    *,
    export: bool = True,
) -> DriftReport:
    """PSI/KS of the window ``x`` (+ ``scores``) against ``reference``; sets the gauges."""
    x = np.asarray(x, dtype=np.float64).reshape(-1, len(names))
    cols: dict[str, np.ndarray] = {n: x[:, j] for j, n in enumerate(names)}
    if scores is not None:
        cols[SCORE] = np.asarray(scores, dtype=np.float64)
    rows: dict[str, dict[str, float | bool]] = {}
    for name, values in cols.items():
        ref = reference.features.get(name)
        if ref is None:
            continue  # a feature the reference does not know (a newer contract)
        p = psi(ref.shares, _shares(values, ref.edges))
        k = ks(ref.sample, values)
        bad = p > settings.psi_threshold or k > settings.ks_threshold
        rows[name] = {"psi": round(p, 6), "ks": round(k, 6), "drifted": bad}
        if export:
            DRIFT_PSI.labels(feature=name).set(p)
            DRIFT_KS.labels(feature=name).set(k)
    drifted = sorted(n for n, r in rows.items() if r["drifted"] and n != SCORE)
    score_drifted = bool(rows.get(SCORE, {}).get("drifted", False))
    enough = x.shape[0] >= settings.min_records
    triggered = enough and (score_drifted or len(drifted) >= settings.min_drifted_features)
    if export:
        DRIFT_DRIFTED.set(len(drifted))
    return DriftReport(
        n_rows=int(x.shape[0]),
        rows=rows,
        drifted=drifted,
        score_drifted=score_drifted,
        triggered=triggered,
        thresholds={"psi": settings.psi_threshold, "ks": settings.ks_threshold},
    )


class DriftMonitor:
    """A sliding window of the last ``settings.window_records`` rows, compared on demand.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> ref = DriftReference.fit(rng.normal(size=(2000, 1)), ["a"])
        >>> mon = DriftMonitor(ref, ["a"], DriftSettings(window_records=500, min_records=100))
        >>> mon.update(rng.normal(3.0, 1.0, size=(500, 1)))
        >>> mon.report(export=False).drifted
        ['a']
    """

    def __init__(self, reference: DriftReference, names: Sequence[str], settings: DriftSettings):
        self.reference = reference
        self.names = list(names)
        self.settings = settings
        w = settings.window_records
        self._x = np.full((w, len(self.names)), np.nan)
        self._s = np.full(w, np.nan)
        self._next = 0
        self._filled = 0

    def update(self, x: np.ndarray, scores: np.ndarray | None = None) -> None:
        """Append rows (and their scores) to the ring buffer, dropping the oldest."""
        x = np.asarray(x, dtype=np.float64).reshape(-1, len(self.names))
        s = np.full(x.shape[0], np.nan) if scores is None else np.asarray(scores, np.float64)
        w = self._x.shape[0]
        if x.shape[0] >= w:
            x, s = x[-w:], s[-w:]
        idx = (self._next + np.arange(x.shape[0])) % w
        self._x[idx], self._s[idx] = x, s
        self._next = int((self._next + x.shape[0]) % w)
        self._filled = min(w, self._filled + x.shape[0])

    def window(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows in the window, oldest first."""
        w = self._x.shape[0]
        order = (self._next - self._filled + np.arange(self._filled)) % w
        return self._x[order], self._s[order]

    def report(self, *, export: bool = True) -> DriftReport:
        x, s = self.window()
        has_scores = bool(np.isfinite(s).any())
        return compare(
            self.reference, x, self.names, s if has_scores else None, self.settings, export=export
        )
