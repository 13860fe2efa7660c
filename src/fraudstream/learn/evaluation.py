"""Temporal splits and the JSON + Markdown reports of ``fraudstream evaluate``.

Splits are by time, never random: a model is always scored on transactions that
happened after everything it learned from, as it would be in production.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from fraudstream.errors import ValidationError


@dataclass(frozen=True, slots=True)
class Split:
    """Row positions of a temporal train / validation / test split."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def temporal_split(
    times: np.ndarray, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
) -> Split:
    """Split rows by time quantiles; rows sharing a timestamp stay on one side.

    Example:
        >>> s = temporal_split(np.array([5, 1, 2, 3, 4, 6, 7, 8, 9, 10]))
        >>> s.train.tolist(), s.valid.tolist(), s.test.tolist()
        ([0, 1, 2, 3, 4, 5], [6, 7], [8, 9])
    """
    t = np.asarray(times, dtype=np.float64)
    if len(fractions) != 3 or min(fractions) < 0 or not math.isclose(sum(fractions), 1.0):
        raise ValidationError(
            f"fractions {fractions} must be 3 shares summing to 1", field="fractions"
        )
    if t.size < 3:
        raise ValidationError("need at least 3 rows for a temporal split", field="times")
    order = np.argsort(t, kind="stable")
    ts = t[order]
    cut1 = ts[min(int(fractions[0] * t.size), t.size - 1)]
    cut2 = ts[min(int((fractions[0] + fractions[1]) * t.size), t.size - 1)]
    train = np.flatnonzero(t < cut1)
    valid = np.flatnonzero((t >= cut1) & (t < cut2))
    test = np.flatnonzero(t >= cut2)
    if fractions[1] == 0:
        train, valid = np.flatnonzero(t < cut2), np.zeros(0, dtype=np.int64)
    for name, part in (("train", train), ("test", test)):
        if part.size == 0:
            raise ValidationError(f"temporal split leaves the {name} part empty", field="times")
    return Split(train=train, valid=valid, test=test)


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4f}"
    return "n/a" if value is None else str(value)


def markdown_table(rows: dict[str, dict[str, Any]]) -> str:
    """A Markdown table: one line per key of ``rows``, one column per metric."""
    if not rows:
        return ""
    cols: list[str] = []
    for metrics in rows.values():
        cols += [c for c in metrics if c not in cols]
    lines = ["| | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, metrics in rows.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(metrics.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def write_report(report: dict[str, Any], reports_dir: Path, stem: str) -> tuple[Path, Path]:
    """Write ``report`` as ``<stem>.json`` and ``<stem>.md``; returns both paths.

    ``report`` holds ``title``, ``command``, ``notes`` (list), and ``tables``
    (name -> rows for :func:`markdown_table`); other keys go to the JSON only.
    """
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    report = {"created_at": datetime.now(UTC).isoformat(timespec="seconds"), **report}
    clean = _clean(report)
    json_path = reports_dir / f"{stem}.json"
    json_path.write_text(json.dumps(clean, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    md = [f"# {report.get('title', stem)}", "", f"Created {report['created_at']}.", ""]
    if report.get("command"):
        md += ["```", str(report["command"]), "```", ""]
    for note in report.get("notes", []):
        md.append(f"- {note}")
    md.append("")
    for name, rows in clean.get("tables", {}).items():
        md += [f"## {name}", "", markdown_table(rows), ""]
    md_path = reports_dir / f"{stem}.md"
    md_path.write_text("\n".join(md), encoding="utf-8")
    return json_path, md_path
