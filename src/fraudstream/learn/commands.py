"""``fraudstream train``, ``fraudstream evaluate`` and ``fraudstream models ...``.

Thin commands over :mod:`fraudstream.learn`; heavy libraries are imported inside
the functions so ``fraudstream --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

log = logging.getLogger(__name__)

models_app = typer.Typer(help="The model registry: list, promote, roll back.", no_args_is_help=True)

DatasetOpt = Annotated[
    str, typer.Option("--dataset", "-d", help="synthetic|handbook|ulb|ulb-first|banksim|csv")
]
CsvOpt = Annotated[Path | None, typer.Option("--csv", help="CSV file (with --dataset csv)")]
MappingOpt = Annotated[
    Path | None, typer.Option("--mapping", help="column mapping YAML/JSON (with --dataset csv)")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="random seed")]


def _settings() -> Any:
    from fraudstream.cli import load_settings

    return load_settings()


def _command_line() -> str:
    return "fraudstream " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _load(dataset: str, csv: Path | None, mapping: Path | None) -> Any:
    from fraudstream.datasets import load_dataset

    s = _settings()
    return load_dataset(
        dataset,
        s.learn.datasets_dir,
        cache_dir=s.learn.cache_dir,
        csv_path=csv,
        mapping_path=mapping,
    )


def train_command(
    dataset: DatasetOpt = "synthetic",
    csv: CsvOpt = None,
    mapping: MappingOpt = None,
    seed: SeedOpt = 0,
    calibration: Annotated[str, typer.Option(help="isotonic|platt")] = "isotonic",
    promote: Annotated[bool, typer.Option("--promote", help="promote the new version")] = False,
    last_days: Annotated[
        int | None, typer.Option(help="train on the most recent N days only (handbook)")
    ] = None,
    n_transactions: Annotated[int, typer.Option(help="synthetic: stream length")] = 60_000,
) -> None:
    """Train the calibrated ensemble on a temporal split and register it."""
    from fraudstream.detect.registry import ModelRegistry

    s = _settings()
    if dataset == "synthetic":
        from fraudstream.learn.synthetic import train_synthetic

        result = train_synthetic(n_transactions=n_transactions, seed=seed, calibration=calibration)
    else:
        from fraudstream.learn.training import train_on_dataset

        ds = _load(dataset, csv, mapping)
        if last_days is not None:
            t = ds.times()
            ds.frame = ds.frame[t >= t.max() - last_days * 86_400.0].reset_index(drop=True)
        result = train_on_dataset(ds, seed=seed, calibration=calibration, baseline=False)
        result.metadata["feature_contract_version"] = f"dataset:{ds.name}"
    result.metadata["command"] = _command_line()
    registry = ModelRegistry(s.model_dir)
    version = registry.register(result.ensemble, result.metadata)
    typer.echo(f"registered {version} in {registry.root}")
    typer.echo(json.dumps(result.metadata["metrics"], indent=2, default=str))
    if promote:
        registry.promote(version)
        typer.echo(f"promoted {version}")


def evaluate_command(
    dataset: DatasetOpt = "synthetic",
    csv: CsvOpt = None,
    mapping: MappingOpt = None,
    seed: SeedOpt = 0,
    online: Annotated[bool, typer.Option("--online", help="add the prequential run")] = False,
    train_days: Annotated[
        list[int] | None, typer.Option(help="handbook: extra training-window widths (days)")
    ] = None,
    n_transactions: Annotated[int, typer.Option(help="synthetic: stream length")] = 60_000,
) -> None:
    """Evaluate on a dataset; write reports/<dataset>.json and .md."""
    from fraudstream.learn.evaluation import write_report

    s = _settings()
    report: dict[str, Any]
    if dataset == "handbook":
        from fraudstream.learn.handbook_report import handbook_report

        report = handbook_report(
            _load(dataset, None, None), seed=seed, train_days=train_days or [], online=online
        )
    elif dataset == "synthetic":
        from fraudstream.learn.synthetic import synthetic_report

        report = synthetic_report(n_transactions=n_transactions, seed=seed)
    else:
        from fraudstream.learn.reports import dataset_report

        report = dataset_report(_load(dataset, csv, mapping), seed=seed, online=online)
    report["command"] = _command_line()
    stem = dataset if dataset != "csv" or csv is None else f"csv-{Path(csv).name.split('.')[0]}"
    json_path, md_path = write_report(report, s.learn.reports_dir, stem)
    typer.echo(md_path.read_text(encoding="utf-8"))
    typer.echo(f"wrote {json_path} and {md_path}")


@models_app.command("list")
def models_list() -> None:
    """List registered versions (newest last) with stage and headline metrics."""
    from fraudstream.detect.registry import ModelRegistry

    reg = ModelRegistry(_settings().model_dir)
    rows = reg.list()
    if not rows:
        typer.echo(f"no models in {reg.root}")
        return
    for m in rows:
        met = m.get("metrics", {})
        auc, ap = met.get("roc_auc"), met.get("average_precision")
        typer.echo(
            f"{m['version']}  {m['stage']:<9}  {m.get('dataset', '?'):<10} "
            f"features={m.get('feature_contract_version')}  "
            f"auc={auc if auc is None else round(auc, 4)}  ap={ap if ap is None else round(ap, 4)}"
            f"  {m['created_at']}"
        )


@models_app.command("promote")
def models_promote(version: Annotated[str, typer.Argument(help="e.g. v0003")]) -> None:
    """Make VERSION the champion (the scorer picks it up without restart)."""
    from fraudstream.detect.registry import ModelRegistry

    ModelRegistry(_settings().model_dir).promote(version)
    typer.echo(f"champion: {version}")


@models_app.command("rollback")
def models_rollback() -> None:
    """Restore the previous champion."""
    from fraudstream.detect.registry import ModelRegistry

    typer.echo(f"champion: {ModelRegistry(_settings().model_dir).rollback()}")
