"""The kafka/topics commands' behaviour that needs no broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fraudstream.cli import app


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("FRAUDSTREAM_KAFKA__LOCAL_DATA_DIR", str(tmp_path / "kafka"))
    return CliRunner()


def test_status_of_a_stopped_broker_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["kafka", "status"])
    assert result.exit_code == 1
    assert "stopped" in result.output and str(tmp_path / "kafka") in result.output


def test_stop_when_nothing_runs_says_so(runner: CliRunner) -> None:
    result = runner.invoke(app, ["kafka", "stop"])
    assert result.exit_code == 0 and "not running" in result.output


def test_topics_create_refuses_unknown_topic_before_connecting(runner: CliRunner) -> None:
    result = runner.invoke(app, ["topics", "create", "--bootstrap", "127.0.0.1:1", "-p", "nope=3"])
    assert result.exit_code != 0
    assert "nope=3" in result.output


def test_topics_list_against_no_broker_fails_cleanly(runner: CliRunner) -> None:
    result = runner.invoke(
        app, ["topics", "list", "--bootstrap", "127.0.0.1:1", "--timeout", "0.5"]
    )
    assert result.exit_code == 1
    assert "error:" in result.output
