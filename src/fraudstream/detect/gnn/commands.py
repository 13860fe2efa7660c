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
    seeds: Annotated[int, typer.Option(help="Seeds to average (7, 8, ...).")] = 3,
    epochs: Annotated[int, typer.Option(help="Training epochs of the ring GNN.")] = 12,
    fraud_rate: Annotated[float, typer.Option(help="Generator's share of fraud.")] = 0.005,
) -> None:
    """Ring/mule recall at a 0.5% alert budget: tabular vs tabular + GNN signal."""
    from fraudstream.bench.gnn_rings import main, to_markdown

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    res = main(out, events, memory_events, seeds=seeds, epochs=epochs, fraud_rate=fraud_rate)
    typer.echo(to_markdown(res))
    typer.echo(f"wrote {out} and {out.with_suffix('.md')}")


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
    memory_events: Annotated[
        int, typer.Option(help="Also stream this many events through the graph alone (memory).")
    ] = 0,
) -> None:
    """Bot sessions found by the click-stream GNN (train on earlier events, serve the later)."""
    import json

    from fraudstream.bench.gnn_clickstream import main

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    res = main(out, memory_events, n_events=events, seed=seed, save_to=model_dir if save else None)
    typer.echo(json.dumps(res, indent=2))


@gnn_app.command("train-live")
def train_live(
    out: Annotated[Path, typer.Option(help="Folder for the live model.")] = Path(
        "var/models/live-gnn"
    ),
    events: Annotated[int, typer.Option(help="Generated history to train on.")] = 60_000,
    seed: Annotated[int, typer.Option(help="Generator and training seed.")] = 5,
) -> None:
    """Train the live-graph GNN on generated history; the pipeline loads it (graph on)."""
    import json

    from fraudstream.bench.gnn_stage import train_live as run

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    typer.echo(json.dumps(run(out, events, seed), indent=2))


@gnn_app.command("stage")
def stage(
    batches: Annotated[int, typer.Option(help="Timed batches of 256.")] = 400,
    warm: Annotated[int, typer.Option(help="Events in the graph before timing.")] = 200_000,
    memory_events: Annotated[
        int, typer.Option(help="Events for the memory figure (0: skip).")
    ] = 1_000_000,
    model_dir: Annotated[
        Path | None, typer.Option(help="Live model (default: untrained, served shape).")
    ] = None,
    fanout: Annotated[str, typer.Option(help="Neighbours per node: 16, or per hop: 16,8.")] = "16",
    pipeline: Annotated[
        bool, typer.Option(help="Also run fraudstream score with the graph on a broker.")
    ] = False,
    rate: Annotated[int, typer.Option(help="Pipeline input rate (records/s).")] = 5000,
    seconds: Annotated[float, typer.Option(help="Length of the fixed-rate run.")] = 30.0,
    drain_records: Annotated[int, typer.Option(help="Drain-rate input (0: skip).")] = 100_000,
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap; default: a throwaway local broker.")
    ] = None,
    out: Annotated[Path, typer.Option(help="JSON result file.")] = Path("reports/gnn/stage.json"),
) -> None:
    """In-stream cost of the graph signal: stage p50/p99 per batch, memory, pipeline."""
    import json

    from fraudstream.bench import gnn_stage

    logging.basicConfig(level=logging.WARNING)
    per_hop = [int(f) for f in fanout.split(",")]
    fan: int | list[int] = per_hop[0] if len(per_hop) == 1 else per_hop
    res: dict[str, object] = {
        "stage": gnn_stage.stage_latency(warm, batches, model_dir=model_dir, fanout=fan)
    }
    typer.echo(json.dumps(res["stage"], indent=2))
    if memory_events:
        res["memory"] = gnn_stage.memory_after(memory_events)
        typer.echo(json.dumps(res["memory"], indent=2))
    if pipeline:
        from fraudstream.bench.commands import broker

        folder = model_dir
        if folder is None:
            folder = out.parent / "live-gnn"
            typer.echo(json.dumps(gnn_stage.train_live(folder), indent=2))
        with broker(bootstrap) as bs:
            res["pipeline"] = gnn_stage.pipeline_with_graph(
                bs, folder, rate=rate, seconds=seconds, drain_records=drain_records
            )
        typer.echo(json.dumps(res["pipeline"], indent=2))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    typer.echo(f"wrote {out}")
