#!/usr/bin/env bash
# Everything the integration and e2e tiers need beyond Python packages:
# Java + Maven (to resolve and run the Apache Kafka broker jars from Maven Central,
# cached in ~/.m2 and ~/.cache/fraudstream) and PostgreSQL (Debian's packages; the
# test fixtures run their own throwaway cluster, so the system service is not used).
# Idempotent: a second run installs nothing and downloads nothing.
set -euo pipefail
venv=${1:-.venv}
cd "$(dirname "$0")/.."

need_apt=()
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# The e2e tier drives Debian's Chromium through the playwright package (no `playwright install`).
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root or sudo to install: ${need_apt[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "installing with apt: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# (|| true: head closing the pipe early must not trip pipefail)
java -version 2>&1 | head -1 || true
mvn -v 2>/dev/null | head -1 || true
ls -d /usr/lib/postgresql/*/bin | tail -1 || true
# The fixtures run initdb/pg_ctl as this user when the tests run as root.
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "the postgres OS user is missing (it comes with the postgresql package)" >&2
  exit 1
fi

# The GNN tier (PyTorch + PyTorch Geometric) is an optional extra for `make run`
# but part of the test suite: PyPI's Linux torch wheel brings the CUDA runtime
# (several GB; pip's cache makes the second install fast).
if ! "$venv/bin/python" -c "import torch, torch_geometric" >/dev/null 2>&1; then
  echo "installing the gnn extra (torch, torch_geometric)"
  "$venv/bin/python" -m pip install -q -e ".[dev,gnn]"
fi

"$venv/bin/fraudstream" kafka fetch
