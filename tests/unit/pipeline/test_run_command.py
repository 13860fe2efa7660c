"""`fraudstream run`: generator -> EOS scoring -> SQLite sink in one process."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from fraudstream.cli import app
from fraudstream.pipeline.live import PLACEHOLDER_LABEL


@pytest.mark.slow
def test_run_scores_everything_generated_and_stores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "run.db"
    monkeypatch.setenv("FRAUDSTREAM_DATABASE__URL", f"sqlite:///{db}")
    monkeypatch.setenv("FRAUDSTREAM_GENERATOR__N_CUSTOMERS", "2000")
    monkeypatch.setenv("FRAUDSTREAM_GENERATOR__N_MERCHANTS", "200")
    monkeypatch.setenv("FRAUDSTREAM_MODEL_DIR", str(tmp_path / "models"))  # no champion
    result = CliRunner().invoke(app, ["run", "--duration", "3", "--rate", "400"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    # The default transaction scorer is the ensemble detector; with no promoted model it
    # runs on features + rules and says so. (User events fall back to the click
    # placeholder, with a warning, because no click model is saved in this test.)
    assert " ".join(PLACEHOLDER_LABEL.split()) not in out and "rules-only|default@" in out
    m = re.search(r"generated ([\d,]+), scored ([\d,]+) exactly once", out)
    assert m is not None, out
    generated, scored = (int(x.replace(",", "")) for x in m.groups())
    assert generated > 500 and scored == generated
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM scores")).scalar_one()
    engine.dispose()
    assert rows == scored
