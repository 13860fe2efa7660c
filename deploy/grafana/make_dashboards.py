"""Generate deploy/grafana/dashboards/*.json: python deploy/grafana/make_dashboards.py deploy/grafana/dashboards"""
import json, sys
OUT = sys.argv[1]
DS = {"type": "prometheus", "uid": "prometheus"}

def panel(pid, title, exprs, x, y, w=12, h=8, unit="short", kind="timeseries", desc=""):
    targets = [{"datasource": DS, "expr": e, "legendFormat": l, "refId": chr(65 + i)}
               for i, (e, l) in enumerate(exprs)]
    return {"id": pid, "type": kind, "title": title, "description": desc, "datasource": DS,
            "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {"legend": {"displayMode": "table", "placement": "bottom"}} if kind == "timeseries" else {}}

def row(pid, title, y):
    return {"id": pid, "type": "row", "title": title, "collapsed": False,
            "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []}

def q(p, metric, by="le", rng="5m"):
    return f"histogram_quantile({p}, sum by ({by}) (rate({metric}_bucket[{rng}])))"

def dash(uid, title, panels, tags):
    return {"uid": uid, "title": title, "tags": tags, "timezone": "utc", "schemaVersion": 39,
            "version": 1, "editable": False, "refresh": "10s", "time": {"from": "now-1h", "to": "now"},
            "templating": {"list": []}, "annotations": {"list": []}, "panels": panels}

pipeline = [
    row(1, "Throughput", 0),
    panel(2, "Records consumed / produced per second", [
        ("sum by (topic) (rate(fraudstream_pipeline_records_in_total[1m]))", "in {{topic}}"),
        ("sum by (topic) (rate(fraudstream_pipeline_records_out_total[1m]))", "out {{topic}}")], 0, 1, unit="ops"),
    panel(3, "API requests and sink writes per second", [
        ("sum by (route) (rate(fraudstream_api_requests_total[1m]))", "api {{route}}"),
        ("sum by (table) (rate(fraudstream_sink_records_total[1m]))", "sink {{table}}")], 12, 1, unit="ops"),
    row(4, "Latency", 9),
    panel(5, "Scoring batch processing time (p50 / p95 / p99)", [
        (q(0.5, "fraudstream_pipeline_processing_seconds"), "p50"),
        (q(0.95, "fraudstream_pipeline_processing_seconds"), "p95"),
        (q(0.99, "fraudstream_pipeline_processing_seconds"), "p99")], 0, 10, w=8, unit="s"),
    panel(6, "End to end: record timestamp -> committed output (p50 / p99)", [
        (q(0.5, "fraudstream_pipeline_end_to_end_seconds"), "p50"),
        (q(0.99, "fraudstream_pipeline_end_to_end_seconds"), "p99"),
        (q(0.99, "fraudstream_pipeline_commit_seconds"), "commit p99")], 8, 10, w=8, unit="s"),
    panel(7, "API request latency p99 by route; sink batch write p99", [
        (q(0.99, "fraudstream_api_request_seconds", by="le, route"), "{{route}}"),
        (q(0.99, "fraudstream_sink_batch_seconds"), "sink batch")], 16, 10, w=8, unit="s"),
    row(8, "Alerts and rules", 18),
    panel(9, "Decisions per second by action", [
        ("sum by (action) (rate(fraudstream_decisions_total[1m]))", "{{action}}")], 0, 19, w=8, unit="ops"),
    panel(10, "Top rule hits (5m rate)", [
        ("topk(10, sum by (rule, shadow) (rate(fraudstream_rule_hits_total[5m])))", "{{rule}} shadow={{shadow}}"),
        ("sum by (list) (rate(fraudstream_list_hits_total[5m]))", "list {{list}}")], 8, 19, w=8, unit="ops"),
    panel(11, "Adaptive REVIEW threshold and budget downgrades", [
        ("max(fraudstream_adaptive_threshold)", "threshold"),
        ("sum(rate(fraudstream_alerts_downgraded_total[5m]))", "downgraded / s")], 16, 19, w=8),
    row(12, "Lag, dead letters, transactions", 27),
    panel(13, "Consumer lag (records) per partition", [
        ("sum by (topic, partition) (fraudstream_pipeline_consumer_lag)", "{{topic}}[{{partition}}]"),
        ("sum(fraudstream_learner_buffer_rows)", "learner buffer")], 0, 28, w=8),
    panel(14, "Dead letters per second by reason", [
        ("sum by (reason) (rate(fraudstream_pipeline_dead_letters_total[5m]))", "{{reason}}"),
        ("sum(rate(fraudstream_sink_bad_records_total[5m]))", "sink bad records")], 8, 28, w=8, unit="ops"),
    panel(15, "Kafka transactions committed / aborted; rebalances", [
        ("sum(rate(fraudstream_pipeline_transactions_committed_total[1m]))", "committed"),
        ("sum by (cause) (rate(fraudstream_pipeline_transactions_aborted_total[5m]))", "aborted {{cause}}"),
        ("sum by (kind) (increase(fraudstream_pipeline_rebalances_total[5m]))", "rebalance {{kind}}")], 16, 28, w=8),
]
models = [
    row(1, "Model versions", 0),
    panel(2, "Registry version in force", [
        ("max by (component) (fraudstream_model_version)", "{{component}}")], 0, 1, w=8,
        desc="v0012 is 12; scorer = champion the workers serve, learner = last online update"),
    panel(3, "Decisions by model version (share of traffic)", [
        ("sum by (model_version) (rate(fraudstream_decisions_total[5m]))", "{{model_version}}")], 8, 1, w=8, unit="ops"),
    panel(4, "Champion hot swaps", [
        ("sum by (model_version) (increase(fraudstream_detector_model_swaps_total[1h]))", "{{model_version}}"),
        ("sum by (outcome) (increase(fraudstream_ruleset_reloads_total[1h]))", "rules {{outcome}}")], 16, 1, w=8),
    row(5, "Feedback learning", 9),
    panel(6, "Verdicts by outcome", [
        ("sum by (outcome) (rate(fraudstream_learner_feedback_total[5m]))", "{{outcome}}")], 0, 10, w=8, unit="ops"),
    panel(7, "Online updates saved (1h)", [
        ("sum by (label) (increase(fraudstream_learner_updates_total[1h]))", "{{label}}-class batches")], 8, 10, w=8),
    panel(8, "Update time p95 (lookup + partial_fit + save)", [
        (q(0.95, "fraudstream_learner_update_seconds"), "p95")], 16, 10, w=8, unit="s"),
    row(9, "Drift vs the training reference", 18),
    panel(10, "PSI per feature (> 0.25: significant)", [
        ("topk(10, fraudstream_drift_psi{feature!=\"__score__\"})", "{{feature}}")], 0, 19, w=8),
    panel(11, "KS per feature", [
        ("topk(10, fraudstream_drift_ks{feature!=\"__score__\"})", "{{feature}}")], 8, 19, w=8),
    panel(12, "Score distribution drift; drifted features; retrains", [
        ("fraudstream_drift_psi{feature=\"__score__\"}", "score PSI"),
        ("fraudstream_drift_ks{feature=\"__score__\"}", "score KS"),
        ("max(fraudstream_drift_drifted_features)", "drifted features"),
        ("sum by (outcome) (increase(fraudstream_drift_retrains_total[1d]))", "retrain {{outcome}}")], 16, 19, w=8),
]
for name, d in (("fraudstream-pipeline.json", dash("fraudstream-pipeline", "fraudstream: pipeline", pipeline, ["fraudstream"])),
                ("fraudstream-models.json", dash("fraudstream-models", "fraudstream: models, learning, drift", models, ["fraudstream"]))):
    with open(f"{OUT}/{name}", "w") as fh:
        json.dump(d, fh, indent=2)
        fh.write("\n")
