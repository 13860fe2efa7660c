"""``fraudstream gnn ...``: benchmarks of the graph model on published graph data.

torch, torch_geometric and xgboost are imported inside the commands so that
``fraudstream --help`` stays fast and works without the ``gnn`` extra.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

gnn_app = typer.Typer(help="Graph neural network: benchmarks and tools.", no_args_is_help=True)


@gnn_app.command("benchmark")
def benchmark(
    dataset: Annotated[
        Path, typer.Option(help="CARE-GNN style .mat or .mat.gz file (Amazon, YelpChi, variants).")
    ] = Path("../shared/datasets/amazon-upu_tam-variant.mat.gz"),
    seeds: Annotated[int, typer.Option(help="Number of seeds (splits) to average over.")] = 5,
    methods: Annotated[
        str, typer.Option(help="Comma-separated methods (default: all baselines and the GNN).")
    ] = "",
    out: Annotated[Path, typer.Option(help="Folder for the JSON and Markdown results.")] = Path(
        "reports/gnn"
    ),
    threads: Annotated[int, typer.Option(help="CPU threads for torch.")] = 1,
) -> None:
    """Train and evaluate on a graph with the standard 40/20/40 stratified protocol."""
    from fraudstream.detect.gnn.benchmark import METHODS, run_benchmark, write_result
    from fraudstream.detect.gnn.mat_loader import load_care_mat
    from fraudstream.errors import FraudstreamError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - depends on the install
        typer.echo("torch is not installed: pip install '.[gnn]'", err=True)
        raise typer.Exit(2) from None
    chosen = tuple(m.strip() for m in methods.split(",") if m.strip()) or METHODS
    try:
        graph = load_care_mat(dataset)
        result = run_benchmark(
            graph, list(range(seeds)), chosen, on_seed=lambda r: write_result(r, out)
        )
    except FraudstreamError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    js, md = write_result(result, out)
    typer.echo(result.to_markdown())
    typer.echo(f"wrote {js} and {md}")


@gnn_app.command("rings")
def rings(
    events: Annotated[int, typer.Option(help="Synthetic transactions to generate.")] = 100_000,
    memory_events: Annotated[
        int, typer.Option(help="Events for the live-graph memory figure (0: skip).")
    ] = 0,
    out: Annotated[Path, typer.Option(help="JSON result file.")] = Path("reports/gnn/rings.json"),
) -> None:
    """Ring/mule recall at a 0.5% alert budget: tabular vs tabular + GNN signal."""
    import json

    from fraudstream.bench.gnn_rings import main

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    res = main(out, events, memory_events)
    typer.echo(json.dumps(res, indent=2))


@gnn_app.command("clickstream")
def clickstream(
    events: Annotated[int, typer.Option(help="Synthetic user events to generate.")] = 150_000,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 11,
    out: Annotated[Path, typer.Option(help="JSON result file.")] = Path(
        "reports/gnn/clickstream.json"
    ),
    save: Annotated[
        bool, typer.Option(help="Register + promote the model under <model-dir>/clickstream.")
    ] = False,
    model_dir: Annotated[Path, typer.Option(help="Model registry root.")] = Path("var/models"),
) -> None:
    """Bot sessions found by the click-stream GNN (train on earlier events, serve the later)."""
    import json

    from fraudstream.bench.gnn_clickstream import main

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    res = main(out, n_events=events, seed=seed, save_to=model_dir if save else None)
    typer.echo(json.dumps(res, indent=2))
