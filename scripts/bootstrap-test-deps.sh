#!/usr/bin/env bash
# Everything the integration and e2e tiers need beyond Python packages:
# the Apache Kafka broker jars (Maven Central, cached in ~/.m2) and PostgreSQL
# (Debian's packages). Idempotent.
set -euo pipefail
venv=${1:-.venv}
cd "$(dirname "$0")/.."

need_apt=()
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

"$venv/bin/fraudstream" kafka fetch
