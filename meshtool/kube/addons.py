"""Optional extras of `meshtool install --addons`: today `prometheus`, a Prometheus scrape
configuration for the sidecars and Grafana dashboards over the metrics they export.

Both ship as ConfigMaps in the install namespace, for the Prometheus and Grafana a cluster
already runs: `prometheus.yml` (one `kubernetes_sd_configs` pod job that keeps the sidecar
container's `meshtool-health` port, 15021 (the admin port is loopback-only), plus the usual
`prometheus.io/*` pod annotations for anything else) and one dashboard JSON per view (mesh, service, workload), labelled
`grafana_dashboard: "1"` for Grafana's dashboard sidecar. The queries name only metrics and
labels of docs/observability.md; a test parses each one and checks that.
"""

from __future__ import annotations

import json

ADDONS = ("prometheus",)
PROMETHEUS_CONFIGMAP = "meshtool-prometheus"
GRAFANA_CONFIGMAP = "meshtool-grafana-dashboards"
ADMIN_PORT_NAME = "meshtool-health"  # the sidecar's port on the pod address (inject.template)
METRICS_PATH = "/stats/prometheus"

SCRAPE_CONFIG = {
    "global": {"scrape_interval": "15s"},
    "scrape_configs": [
        {"job_name": "meshtool-sidecars",
         "metrics_path": METRICS_PATH,
         "kubernetes_sd_configs": [{"role": "pod"}],
         "relabel_configs": [
             {"source_labels": ["__meta_kubernetes_pod_container_port_name"],
              "action": "keep", "regex": ADMIN_PORT_NAME},
             {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
             {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"}]},
        {"job_name": "kubernetes-pods",  # workloads that ask for it themselves
         "kubernetes_sd_configs": [{"role": "pod"}],
         "relabel_configs": [
             {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
              "action": "keep", "regex": "true"},
             {"source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_path"],
              "action": "replace", "target_label": "__metrics_path__", "regex": "(.+)"},
             {"source_labels": ["__address__",
                                "__meta_kubernetes_pod_annotation_prometheus_io_port"],
              "action": "replace", "regex": "([^:]+)(?::\\d+)?;(\\d+)",
              "replacement": "$1:$2", "target_label": "__address__"},
             {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
             {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"}]},
    ],
}

# Inbound series (reported by the callee) for what a service serves; outbound for what it calls.
_IN = 'direction="inbound"'
_RATE = "sum by ({by}) (rate(meshtool_requests_total{{{sel}}}[1m]))"
_ERRORS = ("sum by ({by}) (rate(meshtool_requests_total{{{sel},response_code=~\"5..|0\"}}[1m]))"
           " / sum by ({by}) (rate(meshtool_requests_total{{{sel}}}[1m]))")
_LATENCY = ("histogram_quantile({q}, sum by (le, {by}) "
            "(rate(meshtool_request_duration_seconds_bucket{{{sel}}}[1m])))")


def _panel(pid: int, title: str, exprs: list[tuple[str, str]], unit: str, x: int, y: int) -> dict:
    return {"id": pid, "type": "timeseries", "title": title,
            "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "targets": [{"refId": chr(65 + i), "expr": e, "legendFormat": legend}
                        for i, (e, legend) in enumerate(exprs)]}


def _variable(name: str, label: str, query: str) -> dict:
    return {"name": name, "label": label, "type": "query", "refresh": 2, "includeAll": False,
            "datasource": {"type": "prometheus", "uid": "${datasource}"},
            "query": {"query": query, "refId": name}, "definition": query}


def _dashboard(uid: str, title: str, panels: list[dict], variables: list[dict]) -> dict:
    datasource = {"name": "datasource", "label": "Data source", "type": "datasource",
                  "query": "prometheus"}
    return {"uid": uid, "title": title, "tags": ["meshtool"], "schemaVersion": 39,
            "time": {"from": "now-30m", "to": "now"}, "refresh": "10s",
            "templating": {"list": [datasource, *variables]}, "panels": panels}


def mesh_dashboard() -> dict:
    by = "destination_service"
    return _dashboard("meshtool-mesh", "meshtool / Mesh", [
        _panel(1, "Requests per second by service", [(_RATE.format(by=by, sel=_IN),
                                                       "{{destination_service}}")], "reqps", 0, 0),
        _panel(2, "Error rate by service", [(_ERRORS.format(by=by, sel=_IN),
                                             "{{destination_service}}")], "percentunit", 12, 0),
        _panel(3, "p99 latency by service", [(_LATENCY.format(q="0.99", by=by, sel=_IN),
                                              "{{destination_service}}")], "s", 0, 8),
        _panel(4, "Egress denials and snapshot rejections", [
            ("sum by (host) (rate(meshtool_egress_denied_total[1m]))", "denied {{host}}"),
            ("sum(rate(meshtool_snapshots_rejected_total[5m]))", "snapshots rejected")],
            "ops", 12, 8),
    ], [])


def service_dashboard() -> dict:
    sel = _IN + ',destination_service="$service"'
    by = "destination_version"
    return _dashboard("meshtool-service", "meshtool / Service", [
        _panel(1, "Requests per second by version", [(_RATE.format(by=by, sel=sel),
                                                      "{{destination_version}}")], "reqps", 0, 0),
        _panel(2, "Error rate by version", [(_ERRORS.format(by=by, sel=sel),
                                             "{{destination_version}}")], "percentunit", 12, 0),
        _panel(3, "Latency p50 / p99", [
            (_LATENCY.format(q="0.5", by=by, sel=sel), "p50 {{destination_version}}"),
            (_LATENCY.format(q="0.99", by=by, sel=sel), "p99 {{destination_version}}")],
            "s", 0, 8),
        _panel(4, "Callers", [(_RATE.format(by="source_service, source_version", sel=sel),
                               "{{source_service}} {{source_version}}")], "reqps", 12, 8),
        _panel(5, "Retries, circuit-breaker overflows and ejections", [
            ('sum(rate(meshtool_retries_total{destination_service="$service"}[1m]))', "retries"),
            ('sum by (limit) (rate(meshtool_circuit_breaker_overflows_total'
             '{destination_service="$service"}[1m]))', "overflow {{limit}}"),
            ('sum(rate(meshtool_circuit_breaker_ejections_total'
             '{destination_service="$service"}[1m]))', "ejections")], "ops", 0, 16),
    ], [_variable("service", "Service",
                  "label_values(meshtool_requests_total, destination_service)")])


def workload_dashboard() -> dict:
    out = 'direction="outbound",source_workload="$workload"'
    inn = _IN + ',destination_workload="$workload"'
    return _dashboard("meshtool-workload", "meshtool / Workload", [
        _panel(1, "Inbound requests per second by caller", [
            (_RATE.format(by="source_service", sel=inn), "{{source_service}}")], "reqps", 0, 0),
        _panel(2, "Outbound requests per second by destination", [
            (_RATE.format(by="destination_service, destination_version", sel=out),
             "{{destination_service}} {{destination_version}}")], "reqps", 12, 0),
        _panel(3, "Outbound error rate by destination", [
            (_ERRORS.format(by="destination_service", sel=out), "{{destination_service}}")],
            "percentunit", 0, 8),
        _panel(4, "TCP connections and response sizes", [
            ('sum by (direction) (rate(meshtool_tcp_connections_opened_total{pod=~"$workload.*"}'
             '[1m]))', "opened {{direction}}"),
            (f"sum(rate(meshtool_response_bytes_sum{{{inn}}}[1m])) / "
             f"sum(rate(meshtool_response_bytes_count{{{inn}}}[1m]))", "mean response bytes")],
            "short", 12, 8),
    ], [_variable("workload", "Workload",
                  "label_values(meshtool_requests_total, destination_workload)")])


def dashboards() -> dict[str, dict]:
    return {"meshtool-mesh.json": mesh_dashboard(), "meshtool-service.json": service_dashboard(),
            "meshtool-workload.json": workload_dashboard()}


def prometheus_manifests(namespace: str, labels: dict[str, str]) -> list[dict]:
    import yaml

    def meta(name: str, extra: dict | None = None) -> dict:
        return {"name": name, "namespace": namespace, "labels": {**labels, **(extra or {})}}

    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(PROMETHEUS_CONFIGMAP),
         "data": {"prometheus.yml": yaml.safe_dump(SCRAPE_CONFIG, sort_keys=False)}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": meta(GRAFANA_CONFIGMAP, {"grafana_dashboard": "1"}),
         "data": {name: json.dumps(d, indent=2) for name, d in dashboards().items()}},
    ]
