"""The service graph's arithmetic, on expositions written by the real sidecar Metrics addon."""

from __future__ import annotations

from mitmproxy import http
from mitmproxy.test import tflow

from meshtool.controlplane.graph import ServiceGraph, parse, quantile, to_dot
from meshtool.sidecar.addons.metrics import Metrics
from meshtool.sidecar.snapshot import Identity
from meshtool.sidecar.state import SidecarState


def _served(metrics: Metrics, n: int, code: int, seconds: float, version: str) -> None:
    """n outbound requests of magnanimo to benigno `version`, each taking `seconds`."""
    class Ep:
        key, labels = "127.0.0.1:1", {"version": version}

    class Svc:
        name, namespace = "benigno", "default"

    for _ in range(n):
        f = tflow.tflow(req=http.Request.make("GET", "http://benigno:5000/"))
        f.request.timestamp_start = 100.0
        f.response = http.Response.make(code)
        f.response.timestamp_end = 100.0 + seconds
        f.metadata.update({"meshtool.direction": "outbound", "meshtool.service": Svc(),
                           "meshtool.endpoints": [Ep()]})
        metrics.response(f)


def test_rates_errors_and_quantiles_over_the_window():
    st = SidecarState(Identity(service="magnanimo", labels={"version": "v1"},
                               proxy_id="magnanimo-v1.default"))
    st.apply_snapshot({"version": "1"})
    m = Metrics(st)
    g = ServiceGraph(window=60)
    g.record("magnanimo-v1", parse(m.render(), 1000.0))
    _served(m, 90, 200, 0.004, "v1")
    _served(m, 10, 503, 0.2, "v2")
    g.record("magnanimo-v1", parse(m.render(), 1010.0))
    snap = g.snapshot(now=1010.0)
    edges = {(e["source"], e["destination"]): e for e in snap["edges"]}
    v1, v2 = edges[("magnanimo:v1", "benigno:v1")], edges[("magnanimo:v1", "benigno:v2")]
    assert (v1["requests"], v1["rps"], v1["errorRate"]) == (90, 9.0, 0.0)
    assert (v2["requests"], v2["rps"], v2["errorRate"]) == (10, 1.0, 1.0)
    assert 2.5 < v1["p50"] <= 5.0 and v1["p99"] <= 5.0  # inside the 2.5..5 ms bucket
    assert 100 < v2["p50"] <= 250
    nodes = {n["id"]: n for n in snap["nodes"]}
    assert set(nodes) == {"magnanimo:v1", "benigno:v1", "benigno:v2"}
    assert not nodes["benigno:v1"]["inMesh"]  # nothing reported serving it
    dot = to_dot(snap)
    assert '"magnanimo:v1" -> "benigno:v2" [label="1.00 rps, 100.0% err' in dot

    # a scrape a window later: only what happened since the last one inside the window counts
    g.record("magnanimo-v1", parse(m.render(), 1075.0))
    snap = g.snapshot(now=1075.0)
    assert snap["edges"] == []


def test_quantile_is_prometheus_histogram_quantile():
    buckets = {0.1: 10.0, 0.2: 20.0, float("inf"): 20.0}
    assert quantile(0.5, buckets) == 0.1
    assert abs(quantile(0.75, buckets) - 0.15) < 1e-9
    assert quantile(0.5, {float("inf"): 0.0}) is None
