"""Pure helpers of ``fraudstream bench pipeline``."""

from __future__ import annotations

from pathlib import Path

from fraudstream.bench.pipeline import PARTS, _median_run, stage_summary


def test_median_run_reports_the_median_p99_and_every_run() -> None:
    runs = [
        {"p50_ms": 30.0, "p99_ms": 90.0, "max_ms": 120.0, "load_avg_1m": 1.0},
        {"p50_ms": 35.0, "p99_ms": 300.0, "max_ms": 400.0, "load_avg_1m": 5.0},
        {"p50_ms": 32.0, "p99_ms": 70.0, "max_ms": 80.0, "load_avg_1m": 0.5},
    ]
    got = _median_run(runs)
    assert got["p99_ms"] == 90.0
    assert [r["p99_ms"] for r in got["runs"]] == [90.0, 300.0, 70.0]
    assert _median_run(runs[:1]) is runs[0]


def test_stage_summary_skips_the_first_tenth(tmp_path: Path) -> None:
    log = tmp_path / "w.log"
    lines = [f"x commit-trace records=10 commit_ms={1000 if i == 0 else 2}" for i in range(10)]
    log.write_text("\n".join(["noise", *lines]))
    got = stage_summary(log)
    assert got["commit_ms"] == {"p50": 2.0, "p99": 2.0}
    assert PARTS == ("throughput", "baseline", "scaling", "latency")


def test_runqueue_wait_reads_this_process_and_none_for_a_missing_one() -> None:
    import os

    from fraudstream.bench.pipeline import runqueue_wait_s

    got = runqueue_wait_s(os.getpid())
    assert got is not None and got >= 0.0
    assert runqueue_wait_s(2**22 + 12345) is None  # above pid_max: never a process
