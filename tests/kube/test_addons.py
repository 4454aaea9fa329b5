"""`meshtool install --addons prometheus`: the scrape config and the Grafana dashboards name only
metrics and labels the sidecar exports (every query parsed with a real PromQL parser, the
exported names read from a real sidecar Metrics addon's exposition)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

promql_parser = pytest.importorskip("promql_parser")


def _exported() -> tuple[set[str], set[str]]:
    """Sample names and label names of a real exposition with every family populated."""
    from mitmproxy import http
    from mitmproxy.test import tflow
    from prometheus_client.parser import text_string_to_metric_families

    from meshtool.sidecar.addons.metrics import Metrics
    from meshtool.sidecar.snapshot import Identity
    from meshtool.sidecar.state import SidecarState

    st = SidecarState(Identity(service="benigno", labels={"version": "v1"}, proxy_id="benigno-v1.default"))
    st.apply_snapshot({"version": "1"})
    m = Metrics(st)
    f = tflow.tflow(req=http.Request.make("GET", "http://benigno:5000/"))
    f.response = http.Response.make(503)
    f.metadata.update({"meshtool.direction": "inbound", "meshtool.attempts": 3,
                       "meshtool.overflow": "httpMaxRequests", "meshtool.ejected": ["a"],
                       "meshtool.denied": "x.example.com", "meshtool.forbidden": True})
    m.response(f)
    m.client_connected(f.client_conn)
    m.client_disconnected(f.client_conn)
    tcp = tflow.ttcpflow()
    m.tcp_message(tcp)
    names, labels = set(), set()
    for fam in text_string_to_metric_families(m.render()):
        for s in fam.samples:
            names.add(s.name)
            labels |= set(s.labels)
    return names, labels


def _walk(node, metrics: set, labels: set) -> None:
    kind = type(node).__name__
    if kind == "VectorSelector":
        metrics.add(node.name)
        labels.update(m.name for m in node.matchers.matchers)
    elif kind == "MatrixSelector":
        _walk(node.vector_selector, metrics, labels)
    elif kind == "AggregateExpr":
        if node.modifier is not None:
            labels.update(node.modifier.labels)
        _walk(node.expr, metrics, labels)
        if node.param is not None:
            _walk(node.param, metrics, labels)
    elif kind == "BinaryExpr":
        _walk(node.lhs, metrics, labels)
        _walk(node.rhs, metrics, labels)
        mod = node.modifier
        if mod is not None:
            if mod.matching is not None:
                labels.update(mod.matching.labels)
            labels.update(mod.card.labels if hasattr(mod.card, "labels") else ())
    elif kind == "Call":
        for arg in node.args:
            _walk(arg, metrics, labels)
    elif kind in ("ParenExpr", "UnaryExpr", "SubqueryExpr"):
        _walk(node.expr, metrics, labels)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from click.testing import CliRunner

    from meshtool.cli.main import cli
    r = CliRunner().invoke(cli, ["install", "--addons", "prometheus", "--dry-run"])
    assert r.exit_code == 0, r.output
    docs = [d for d in yaml.safe_load_all(r.stdout) if d]
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == "ConfigMap"}


def test_install_emits_a_scrape_config_for_the_sidecars_admin_port(rendered):
    config = yaml.safe_load(rendered["meshtool-prometheus"]["data"]["prometheus.yml"])
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "meshtool-sidecars")
    assert job["metrics_path"] == "/stats/prometheus"
    assert job["kubernetes_sd_configs"] == [{"role": "pod"}]
    keep = job["relabel_configs"][0]
    assert keep["action"] == "keep" and keep["regex"] == "meshtool-health"
    # the port the injector declares on the sidecar container carries that name
    from meshtool.inject.config import InjectConfig
    from meshtool.inject.template import proxy_container
    container = proxy_container(InjectConfig(), {}, [8080], [])
    assert {"name": "meshtool-health", "containerPort": 15021, "protocol": "TCP"} in \
        container["ports"]


def test_every_dashboard_query_names_only_exported_metrics_and_labels(rendered):
    names, labels = _exported()
    config = yaml.safe_load(rendered["meshtool-prometheus"]["data"]["prometheus.yml"])
    added = {"job", "instance", "le"} | {r["target_label"] for j in config["scrape_configs"]
                                         for r in j["relabel_configs"] if "target_label" in r}
    dashboards = rendered["meshtool-grafana-dashboards"]
    assert dashboards["metadata"]["labels"]["grafana_dashboard"] == "1"
    titles, queries = set(), 0
    for name, text in dashboards["data"].items():
        board = json.loads(text)
        titles.add(board["title"])
        for panel in board["panels"]:
            for target in panel["targets"]:
                metrics, used = set(), set()
                _walk(promql_parser.parse(target["expr"]), metrics, used)
                assert metrics, target["expr"]
                assert metrics <= names, (name, panel["title"], metrics - names)
                assert used <= labels | added, (name, panel["title"], used - labels - added)
                queries += 1
        for var in board["templating"]["list"]:
            if var["type"] == "query":
                metric, label = re.fullmatch(r"label_values\((\w+), (\w+)\)",
                                             var["query"]["query"]).groups()
                assert metric in names and label in labels, var
    assert titles == {"meshtool / Mesh", "meshtool / Service", "meshtool / Workload"}
    assert queries >= 12


def test_the_walk_catches_a_label_the_sidecar_does_not_export():
    metrics, used = set(), set()
    _walk(promql_parser.parse('sum by (cluster) (rate(meshtool_requests_total{zone="a"}[1m]))'),
          metrics, used)
    names, labels = _exported()
    assert metrics <= names and used - labels == {"cluster", "zone"}
