#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment and install fraudstream
# with its development tools. Idempotent; pip's cache makes re-runs cheap.
set -euo pipefail
venv=${1:-.venv}
python=${PYTHON:-python3}
cd "$(dirname "$0")/.."
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --upgrade pip wheel
"$venv/bin/python" -m pip install -q -e ".[dev]"
