"""deploy/: every metric a Grafana dashboard queries is one the code exports; configs parse.

There is no Docker engine where the tests run, so the compose file, the Prometheus
config and the Grafana provisioning are checked by parsing and cross-referencing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

# Every module that defines metrics (importing registers them in the default registry).
import fraudstream.api.middleware
import fraudstream.observe.metrics
import fraudstream.store.sink  # noqa: F401

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
_NAME = re.compile(r"\bfraudstream_[a-zA-Z0-9_]+")
_BY = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
_MATCHER = re.compile(r"\{([^}]*)\}")
_SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count"),
             "gauge": ("",), "summary": ("_sum", "_count")}  # fmt: skip


def exported() -> dict[str, tuple[str, ...]]:
    """Queryable series name -> label names, from the prometheus_client registry."""
    out: dict[str, tuple[str, ...]] = {}
    for collector in set(REGISTRY._names_to_collectors.values()):
        name, kind = getattr(collector, "_name", None), getattr(collector, "_type", None)
        if not name or not str(name).startswith("fraudstream_") or kind not in _SUFFIXES:
            continue
        labels = tuple(getattr(collector, "_labelnames", ()))
        for suffix in _SUFFIXES[kind]:
            out[f"{name}{suffix}"] = labels
    return out


def exprs(dashboard: dict[str, Any]) -> list[str]:
    found = []
    for panel in dashboard["panels"]:
        for p in [panel, *panel.get("panels", [])]:
            found += [t["expr"] for t in p.get("targets", [])]
    return found


def unknown_in(expr: str, known: dict[str, tuple[str, ...]]) -> list[str]:
    """Metric names and grouping/matcher labels of ``expr`` that the code does not export."""
    names = _NAME.findall(expr)
    bad = [n for n in names if n not in known]
    labels: set[str] = set()
    for group in _BY.findall(expr):
        labels |= {lb.strip() for lb in group.split(",") if lb.strip()}
    for matcher in _MATCHER.findall(expr):
        labels |= {m.split("=")[0].rstrip("!~").strip() for m in matcher.split(",") if "=" in m}
    have = {lb for n in names if n in known for lb in known[n]} | {"le"}
    bad += [f"label {lb}" for lb in sorted(labels - have)]
    return bad


def test_there_are_dashboards_for_each_topic() -> None:
    titles = " ".join(
        p["title"].lower() for d in DASHBOARDS for p in json.loads(d.read_text())["panels"]
    )
    for topic in ("throughput", "latency", "alerts", "lag", "drift", "model version"):
        assert topic in titles, topic


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_dashboard_metric_is_exported(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    known = exported()
    queries = exprs(dashboard)
    assert len(queries) >= 10
    problems = {e: unknown_in(e, known) for e in queries}
    assert {e: p for e, p in problems.items() if p} == {}
    assert all(_NAME.search(e) for e in queries)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) and dashboard["uid"]


def test_the_checker_catches_mistakes() -> None:
    known = exported()
    assert unknown_in("rate(fraudstream_nope_total[1m])", known) == ["fraudstream_nope_total"]
    assert unknown_in("sum by (colour) (fraudstream_decisions_total)", known) == ["label colour"]
    assert unknown_in("fraudstream_decisions", known) == ["fraudstream_decisions"]  # no _total
    p99 = "histogram_quantile(0.9, sum by (le) (rate(fraudstream_sink_batch_seconds_bucket[1m])))"
    assert unknown_in(p99, known) == []


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return data


def test_compose_runs_the_whole_stack_from_one_image() -> None:
    services = _compose()["services"]
    for name in ("kafka", "postgres", "prometheus", "grafana", "api", "score-1", "sink", "learn"):
        assert name in services, name
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:4")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert "ZOOKEEPER" not in json.dumps(kafka).upper()
    ours = [s for s in services.values() if s.get("image") == "fraudstream:local"]
    assert len(ours) >= 6
    assert all(s["build"]["dockerfile"] == "deploy/Dockerfile" for s in ours)
    assert (DEPLOY / "Dockerfile").is_file()
    workers = {s["environment"].get("FRAUDSTREAM_PIPELINE__WORKER_ID") for s in ours}
    assert {"score-1", "score-2"} <= workers  # distinct transactional ids


def test_prometheus_scrapes_every_metrics_port_compose_opens() -> None:
    services = _compose()["services"]
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        t for job in prom["scrape_configs"] for c in job["static_configs"] for t in c["targets"]
    }
    for name, svc in services.items():
        cmd = svc.get("command")
        if isinstance(cmd, list) and "--metrics-port" in cmd and "profiles" not in svc:
            port = cmd[cmd.index("--metrics-port") + 1]
            assert f"{name}:{port}" in targets, name
    assert "api:8000" in targets


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    ds = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = ds["datasources"][0]["uid"]
    prov = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/fraudstream.yml").read_text())
    mount = _compose()["services"]["grafana"]["volumes"]
    assert any(v.endswith(":" + prov["providers"][0]["options"]["path"] + ":ro") for v in mount)
    for path in DASHBOARDS:
        panels = [p for p in json.loads(path.read_text())["panels"] if p["type"] != "row"]
        assert panels and all(p["datasource"]["uid"] == uid for p in panels)
        assert all(t["datasource"]["uid"] == uid for p in panels for t in p["targets"])
