"""Ingest benchmark: one uvicorn process on loopback, driven by ``wrk``.

``fraudstream bench ingest`` starts ``fraudstream api`` (one process, uvloop +
httptools) on a free port with a fresh database, waits for ``/ready``, then
runs ``wrk`` with a Lua script that POSTs a payment with a unique
``Idempotency-Key`` and card token on every request, and parses wrk's
throughput and latency distribution. Afterwards it checks that the server
recorded one payment per 202 answer.

wrk comes from Debian's packages: ``apt-get install -y wrk``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

BENCH_KEY = "bench-ingest-key"

LUA = r"""
-- One POST per request: unique Idempotency-Key and card token, varied amounts.
local counter = 0
local prefix = ""
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", tostring(threads))
end

function init(args)
  -- args[1]: a run id, so keys never repeat across runs (a repeat would be a replay)
  prefix = (args[1] or "run") .. "-" .. tid
end

function request()
  counter = counter + 1
  local amount = string.format("%d.%02d", 1 + counter % 900, counter % 100)
  local body = '{"amount":"' .. amount .. '","currency":"EUR","merchant_id":"m-' ..
    (counter % 300) .. '","merchant_category":"grocery","merchant_country":"FR",' ..
    '"customer_country":"FR","customer_id":"u-' .. (counter % 5000) ..
    '","account_id":"a-' .. (counter % 5000) .. '","channel":"ECOM",' ..
    '"card_token":"tok_' .. prefix .. '_' .. (counter % 20000) .. '",' ..
    '"ip_address":"10.0.' .. (counter % 250) .. '.1"}'
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["X-API-Key"] = "__KEY__"
  headers["Idempotency-Key"] = prefix .. "-" .. counter
  return wrk.format("POST", "/api/v1/payments", headers, body)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(output: str) -> dict[str, Any]:
    """Throughput, latency percentiles (ms) and errors from ``wrk --latency`` output."""
    out: dict[str, Any] = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", output)
    out["requests_per_s"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", output)
    if m:
        out["requests"] = int(m.group(1))
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s|m)\b", output)
        out[f"p{pct}_ms"] = round(_ms(m.group(1), m.group(2)), 3) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    out["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return out


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_times(pid: int) -> dict[str, tuple[float, float]]:
    """(CPU s, run-queue wait s) per thread group of process ``pid``: ``event_loop`` (the
    main thread), ``librdkafka`` (its ``rdk:*`` threads), ``other`` (the ledger's and the
    rest), from ``/proc/<pid>/task/*/schedstat``. The wait is time spent runnable but not
    running: what a busy machine adds to every request."""
    out: dict[str, tuple[float, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            run_ns, wait_ns, _ = (task / "schedstat").read_text().split()
        except (OSError, ValueError):
            continue  # the thread exited meanwhile
        group = (
            "event_loop"
            if task.name == str(pid)
            else "librdkafka"
            if comm.startswith("rdk:")
            else "other"
        )
        cpu, wait = out.get(group, (0.0, 0.0))
        out[group] = (cpu + int(run_ns) / 1e9, wait + int(wait_ns) / 1e9)
    return out


def _per_request_us(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]], n: int
) -> dict[str, dict[str, int]]:
    return {
        g: {
            "cpu_us": round((c - before.get(g, (0.0, 0.0))[0]) * 1e6 / max(n, 1)),
            "runqueue_wait_us": round((w - before.get(g, (0.0, 0.0))[1]) * 1e6 / max(n, 1)),
        }
        for g, (c, w) in sorted(after.items())
    }


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with {proc.returncode}")
        try:
            if httpx.get(url + "/ready", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the API did not become ready")


def run_ingest_bench(
    *,
    bus: str = "memory",
    bootstrap: str | None = None,
    database_url: str | None = None,
    duration_s: int = 20,
    connections: int = 32,
    threads: int = 1,
    warmup_s: int = 3,
) -> dict[str, Any]:
    """Start the API, warm it up, run wrk, return the figures."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="fraudstream-bench-ingest-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    db_url = database_url or f"sqlite:///{work / 'ingest.db'}"
    env = dict(os.environ)
    env.update(
        {
            "FRAUDSTREAM_BUS": bus,
            "FRAUDSTREAM_DATABASE__URL": db_url,
            "FRAUDSTREAM_API__API_KEYS": json.dumps(
                [{"name": "bench", "key": BENCH_KEY, "roles": ["ingest"]}]
            ),
            "FRAUDSTREAM_LOG_LEVEL": "WARNING",
        }
    )
    if bootstrap:
        env["FRAUDSTREAM_KAFKA__BOOTSTRAP_SERVERS"] = bootstrap
    script = work / "payments.lua"
    script.write_text(LUA.replace("__KEY__", BENCH_KEY))
    cmd = [sys.executable, "-m", "fraudstream.cli", "api", "--port", str(port)]
    log = (work / "api.log").open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(url, proc)
        wrk_base = [wrk, f"-t{threads}", f"-c{connections}", "--latency", "-s", str(script)]
        if warmup_s > 0:
            subprocess.run(
                [*wrk_base, f"-d{warmup_s}s", url, "--", f"warm{os.getpid()}"],
                capture_output=True,
                check=True,
            )
        before = _payments(db_url)
        cpu_before = process_cpu_s(proc.pid)
        threads_before = thread_times(proc.pid)
        res = subprocess.run(
            [*wrk_base, f"-d{duration_s}s", url, "--", f"run{os.getpid()}"],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = parse_wrk(res.stdout)
        cpu_s = process_cpu_s(proc.pid) - cpu_before
        per_thread = _per_request_us(
            threads_before, thread_times(proc.pid), figures.get("requests", 1)
        )
        time.sleep(0.5)
        recorded = _payments(db_url) - before
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    figures.update(
        {
            "tool": f"wrk -t{threads} -c{connections} -d{duration_s}s --latency (Lua POST script)",
            "bus": bus,
            "database": db_url.split(":", 1)[0],
            "payments_recorded": recorded,
            "server_cpu_s": round(cpu_s, 2),
            # CPU the server spent per request (all its threads): 1e6 / this is the rate
            # one uncontended core could sustain, whatever else the machine was doing.
            "server_cpu_us_per_request": round(cpu_s * 1e6 / max(figures.get("requests", 1), 1)),
            "server_threads_per_request": per_thread,
            "load_average_1m": os.getloadavg()[0],
            "wrk_output": res.stdout,
        }
    )
    shutil.rmtree(work, ignore_errors=True)
    return figures


def _payments(db_url: str) -> int:
    from sqlalchemy import func, select

    from fraudstream.settings import DatabaseSettings
    from fraudstream.store.db import make_engine
    from fraudstream.store.models import Payment

    engine = make_engine(DatabaseSettings(url=db_url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Payment)).scalar_one())
    finally:
        engine.dispose()
