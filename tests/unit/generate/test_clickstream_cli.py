"""``fraudstream generate clickstream`` as a process: output, determinism, Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from fraudstream.cli import app
from fraudstream.generate.clickstream import ClickstreamConfig
from fraudstream.generate.clickstream_run import RunOptions, run_worker

CMD = [sys.executable, "-m", "fraudstream.cli", "generate", "clickstream"]
START = "2026-01-01T00:00:00Z"


def test_same_seed_same_bytes_on_stdout() -> None:
    args = [
        "generate",
        "clickstream",
        "--output",
        "stdout",
        "--max-messages",
        "200",
        "--rate",
        "0",
        "--seed",
        "3",
        "--start-time",
        START,
    ]
    first = CliRunner().invoke(app, args)
    second = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    lines = first.stdout_bytes.splitlines()
    assert len(lines) == 200 and first.stdout_bytes == second.stdout_bytes
    assert all({"event_id", "is_fraud", "fraud_scenario"} <= orjson.loads(x).keys() for x in lines)
    other = CliRunner().invoke(app, [*args[:-3], "4", *args[-2:]])
    assert other.stdout_bytes != first.stdout_bytes


def test_bad_options_are_refused() -> None:
    result = CliRunner().invoke(app, ["generate", "clickstream", "--output", "jsonl"])
    assert result.exit_code == 2 and "--path" in result.output


def test_throughput_is_logged_every_n_messages(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    opts = RunOptions(
        output="jsonl", path=tmp_path / "c.jsonl", rate=0, max_messages=300, log_every=100
    )
    with caplog.at_level(logging.INFO, logger="fraudstream.generate.clickstream_run"):
        run_worker(0, ClickstreamConfig(seed=1), opts)
    counts = [r.getMessage() for r in caplog.records if "msg/s" in r.getMessage()]
    assert [c.split(":")[1].split()[0] for c in counts] == ["100", "200", "300"]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_cleanly_and_flushes(tmp_path: Path, workers: int) -> None:
    path = tmp_path / "clicks.jsonl"
    proc = subprocess.Popen(
        [
            *CMD,
            "--output",
            "jsonl",
            "--path",
            str(path),
            "--rate",
            "200",
            "--workers",
            str(workers),
            "--seed",
            "4",
            "--start-time",
            START,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    files = [path] if workers == 1 else [tmp_path / f"clicks-w{i}.jsonl" for i in range(workers)]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not all(
        f.exists() and f.stat().st_size > 0 for f in files
    ):
        time.sleep(0.2)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
    for f in files:
        lines = f.read_bytes().splitlines()
        assert lines, f
        for line in lines:  # every line complete: the worker stopped between events
            orjson.loads(line)
