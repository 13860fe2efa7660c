"""The ``fraudstream`` command line: thin typer commands over library functions.

Each area registers its sub-commands here; the functions they call live in the
library and take config objects, never the environment.
"""

from __future__ import annotations

import typer

from fraudstream.settings import Settings

app = typer.Typer(
    name="fraudstream",
    help="Real-time fraud detection on Apache Kafka.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def main() -> None:
    """Real-time fraud detection on Apache Kafka."""


from fraudstream.bus.commands import kafka_app, topics_app  # noqa: E402

app.add_typer(kafka_app, name="kafka")
app.add_typer(topics_app, name="topics")

from fraudstream.generate.commands import generate_app  # noqa: E402

app.add_typer(generate_app, name="generate")

from fraudstream.api.commands import api_command  # noqa: E402
from fraudstream.store.commands import db_app, sink_command  # noqa: E402

app.add_typer(db_app, name="db")
app.command("sink")(sink_command)
app.command("api")(api_command)


from fraudstream.pipeline.commands import register as _register_pipeline  # noqa: E402

_register_pipeline(app)  # score, run, dlq

from fraudstream.learn.online_cmd import learn_command  # noqa: E402

app.command("learn")(learn_command)

from fraudstream.learn.drift_cmd import drift_app  # noqa: E402

app.add_typer(drift_app, name="drift")

from fraudstream.observe.alerts_tail import alerts_app  # noqa: E402

app.add_typer(alerts_app, name="alerts")

from fraudstream.bench.commands import bench_app  # noqa: E402

app.add_typer(bench_app, name="bench")

from fraudstream.detect.gnn.commands import gnn_app  # noqa: E402

app.add_typer(gnn_app, name="gnn")

from fraudstream.learn.commands import evaluate_command, models_app, train_command  # noqa: E402

app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.add_typer(models_app, name="models")


def load_settings() -> Settings:
    """Read configuration once, at the entry point."""
    return Settings()


@app.command()
def version() -> None:
    """Print the installed version."""
    from fraudstream import __version__

    typer.echo(__version__)


if __name__ == "__main__":
    app()
