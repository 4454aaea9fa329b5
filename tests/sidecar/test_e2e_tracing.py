"""End to end, traces: the egress scenario's local mesh exporting spans to a real Zipkin server.

svca -> svcb -> msgd (outside the mesh): one trace, a SERVER and a CLIENT span per sidecar hop,
read back through Zipkin's HTTP API. Zipkin is the zipkin-server jar of Maven Central on Java 17
(scripts/zipkin-server.sh caches it; `make test` runs that script).
"""

from __future__ import annotations

import http.client
import socket
import time
from pathlib import Path

import pytest

from meshtool.ports import free_port
from meshtool.testing.wait import wait_for
from meshtool.testing.zipkin import Zipkin, jar_path

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def zipkin(tmp_path_factory):
    jar = jar_path()
    if jar is None:
        pytest.skip("no zipkin-server jar or no java: run scripts/zipkin-server.sh (make test does)")
    z = Zipkin(jar, tmp_path_factory.mktemp("zipkin") / "zipkin.log")
    try:
        z.wait_ready()
        yield z
    finally:
        z.close()


def traced_mesh(spec, rules: str, zipkin, tmp_path, monkeypatch):
    """A local mesh whose every proxy exports all its spans to `zipkin`, with `rules` applied
    and ACKed everywhere: yields its state, then takes it down."""
    from meshtool.localmesh.demo import apply_files, wait_synced
    from meshtool.localmesh.supervisor import down, up
    from meshtool.store import open_store

    # every proxy the mesh starts inherits these (proxy/gateway run --zipkin/--trace-sampling)
    monkeypatch.setenv("MESHTOOL_ZIPKIN", zipkin.spans_endpoint)
    monkeypatch.setenv("MESHTOOL_TRACE_SAMPLING", "100")
    store = str(tmp_path / "store.db")
    state = up(spec, tmp_path, store=store, control_plane_port=free_port(), timeout=60)
    try:
        with open_store(store) as st:
            _, revision = apply_files(st, [str(ROOT / rules)])
        wait_synced(state, revision, len(state.proxies()), 30)
        yield state
    finally:
        down(tmp_path)


@pytest.fixture
def egress_mesh(zipkin, tmp_path, monkeypatch):
    from meshtool.localmesh.meshfile import load_meshfile

    yield from traced_mesh(load_meshfile(ROOT / "samples" / "egress" / "mesh.yaml"),
                           "samples/egress/rules/egress-msgd.yaml", zipkin, tmp_path, monkeypatch)


def _get(port: int, path: str, headers=None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def _trace(zipkin, service: str, request_id: str, spans: int) -> list[dict]:
    """The trace of `service` in Zipkin holding the request, once it has `spans` spans."""
    def found():
        for trace in zipkin.traces(service):
            if any(s.get("tags", {}).get("guid:x-request-id") == request_id for s in trace) \
                    and len(trace) >= spans:
                return trace
        return None
    return wait_for(found, 30, 0.3, f"a trace of {spans} spans from {service} in Zipkin")


def test_svca_svcb_msgd_is_one_trace_with_a_span_per_hop(zipkin, egress_mesh):
    svca = egress_mesh.find("svca-v1", "sidecar")
    status, headers, body = _get(svca.ports["inbound"], "/pay")
    assert status == 200 and b"message sent by msgd" in body, body
    trace = _trace(zipkin, "svca", headers["x-request-id"], 4)
    assert len({s["traceId"] for s in trace}) == 1
    spans = {(s["localEndpoint"]["serviceName"], s["kind"]): s for s in trace}
    assert set(spans) == {("svca", "SERVER"), ("svca", "CLIENT"), ("svcb", "SERVER"),
                          ("svcb", "CLIENT")}, [(s["localEndpoint"], s["kind"]) for s in trace]
    root = spans[("svca", "SERVER")]
    assert "parentId" not in root
    assert spans[("svca", "CLIENT")]["parentId"] == root["id"]
    assert spans[("svcb", "SERVER")]["parentId"] == spans[("svca", "CLIENT")]["id"]
    assert spans[("svcb", "CLIENT")]["parentId"] == spans[("svcb", "SERVER")]["id"]
    out = spans[("svcb", "CLIENT")]["tags"]
    assert out["http.url"].startswith("http://msgd.example.com:9997/send")
    assert out["http.status_code"] == "200" and out["peer.service"] == "msgd.example.com"
    assert spans[("svca", "CLIENT")]["tags"]["peer.service"] == "svcb"
    # the whole trace, fetched by its id, is the same four spans
    assert {s["id"] for s in zipkin.trace(root["traceId"])} == {s["id"] for s in trace}


def test_a_callers_decision_not_to_sample_is_honoured(zipkin, egress_mesh):
    svca = egress_mesh.find("svca-v1", "sidecar")
    trace_id = "5" * 32
    status, _, _ = _get(svca.ports["inbound"], "/pay", {
        "traceparent": f"00-{trace_id}-{'6' * 16}-00"})
    assert status == 200
    # a sampled request sent after it arrives in Zipkin, the unsampled one never does
    status, headers, _ = _get(svca.ports["inbound"], "/pay")
    rid = headers["x-request-id"]
    wait_for(lambda: any(s.get("tags", {}).get("guid:x-request-id") == rid
                         for t in zipkin.traces("svcb") for s in t), 30, 0.3, "the later trace")
    assert not any(s["traceId"] == trace_id for t in zipkin.traces("svca") for s in t)


def test_a_collector_that_never_answers_slows_no_request(mesh):
    """Spans go to a port that accepts connections and never reads: requests stay fast."""
    from sidecar_mesh import canary_doc, http_get, wait_port

    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)  # the kernel completes the handshakes; nobody ever answers
    try:
        app = mesh.app("benigno.py", "--version", "v1")
        sc = mesh.sidecar("traced-benigno", canary_doc(100, 0), "--service", "benigno",
                          "--app-port", str(app), "--trace-sampling", "100", "--zipkin",
                          f"http://127.0.0.1:{hole.getsockname()[1]}/api/v2/spans")
        sc.wait_ready()
        wait_port(app)
        slowest = 0.0
        t_end = time.monotonic() + 4  # spans are flushed every second: several exports hang
        n = 0
        while time.monotonic() < t_end:
            t0 = time.monotonic()
            status, _ = http_get(sc.inbound, "/")
            slowest = max(slowest, time.monotonic() - t0)
            assert status == 200
            n += 1
        assert n > 50 and slowest < 1.0, (n, slowest)
    finally:
        hole.close()


@pytest.fixture
def ingress_mesh(zipkin, tmp_path, monkeypatch):
    """The ingress scenario (gateway -> magnanimo -> benigno), every proxy exporting spans: the
    gateway too (`meshtool gateway run` reads the same --zipkin/--trace-sampling variables)."""
    from dataclasses import replace

    from meshtool.localmesh.meshfile import load_meshfile

    spec = load_meshfile(ROOT / "samples" / "ingress" / "mesh.yaml")
    spec = replace(spec, gateways=tuple(replace(g, port=None) for g in spec.gateways))
    yield from traced_mesh(spec, "samples/ingress/ingress.yaml", zipkin, tmp_path, monkeypatch)


def test_a_request_through_the_gateway_starts_the_trace_at_the_gateway(zipkin, ingress_mesh):
    port = ingress_mesh.find("ingress", "gateway").ports["http"]
    status, headers, body = _get(port, "/route1/hw2")
    assert status == 200 and b"Hello World, Benigno" in body, body
    trace = _trace(zipkin, "meshtool-gateway", headers["x-request-id"], 3)
    assert len({s["traceId"] for s in trace}) == 1
    by_service = {}
    for s in trace:
        by_service.setdefault(s["localEndpoint"]["serviceName"], []).append(s)
    assert {"meshtool-gateway", "magnanimo"} <= set(by_service), by_service.keys()
    [edge] = by_service["meshtool-gateway"]
    assert "parentId" not in edge  # the trace begins at the mesh's door
    assert edge["tags"]["peer.service"] == "magnanimo"
