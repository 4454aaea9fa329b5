import asyncio

from prometheus_client.parser import text_string_to_metric_families

from meshtool.sidecar.addons.egress import Egress
from meshtool.sidecar.addons.metrics import REQUEST_LABELS, Metrics
from meshtool.sidecar.addons.routing import Routing
from meshtool.sidecar.snapshot import Identity
from meshtool.sidecar.state import SidecarState


def samples(text: str) -> dict[str, list]:
    """The exposition as the official client parses it: family name -> samples."""
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(fam: list, name: str, **want) -> float:
    return sum(s.value for s in fam if s.name == name
               and all(s.labels.get(k) == v for k, v in want.items()))


def _run(st, chain, outbound_flow, url="http://benigno:5000/hw2", code=200, **md):
    from mitmproxy import http
    f = asyncio.run(chain([Routing(st), Egress(st)]).run(outbound_flow(url)))
    if f.response is None:
        f.response = http.Response.make(code, b"x" * 100)
    f.metadata.update(md)
    return f


def test_every_request_carries_the_whole_label_set_and_the_endpoint_version(
        canary, chain, outbound_flow):
    st = SidecarState(Identity(service="magnanimo", labels={"version": "v1"},
                               proxy_id="magnanimo-v1.local"))
    doc = canary(50, 50, version="7")
    doc["rules"] = []  # no rule yet: the version is still the endpoint's label
    st.apply_snapshot(doc)
    metrics = Metrics(st)
    for _ in range(4):
        metrics.response(_run(st, chain, outbound_flow, **{"meshtool.attempts": 2}))
    metrics.response(_run(st, chain, outbound_flow, "http://msgd.example.com/send"))
    fams = samples(metrics.render())
    reqs = fams["meshtool_requests"]
    for s in reqs:
        assert set(s.labels) == set(REQUEST_LABELS), s
    assert value(reqs, "meshtool_requests_total", source_service="magnanimo",
                 source_workload="magnanimo-v1", source_version="v1",
                 destination_service="benigno", destination_namespace="default",
                 response_code="200", connection_security_policy="none",
                 request_protocol="http") == 4
    by_version = {s.labels["destination_version"]: s.value for s in reqs
                  if s.labels["destination_service"] == "benigno"}
    assert set(by_version) == {"v1", "v2"} and sum(by_version.values()) == 4
    assert value(reqs, "meshtool_requests_total", response_code="403",
                 destination_service="msgd.example.com") == 1
    assert value(fams["meshtool_retries"], "meshtool_retries_total",
                 destination_service="benigno") == 4
    assert value(fams["meshtool_egress_denied"], "meshtool_egress_denied_total",
                 host="msgd.example.com") == 1
    dur = fams["meshtool_request_duration_seconds"]
    assert value(dur, "meshtool_request_duration_seconds_count",
                 destination_service="benigno") == 4
    assert value(dur, "meshtool_request_duration_seconds_bucket", le="+Inf") == 5
    sizes = fams["meshtool_response_bytes"]
    assert value(sizes, "meshtool_response_bytes_sum", destination_service="benigno") == 400
    assert value(sizes, "meshtool_response_bytes_bucket", destination_service="benigno",
                 le="64.0") == 0
    assert value(sizes, "meshtool_response_bytes_bucket", destination_service="benigno",
                 le="256.0") == 4
    assert value(fams["meshtool_snapshot_info"], "meshtool_snapshot_info", version="7") == 1


def test_inbound_labels_come_from_the_callers_header_and_odd_values_are_escaped(
        canary, chain, outbound_flow):
    from mitmproxy import http
    st = SidecarState(Identity(service="benigno", labels={"version": "v2"},
                               proxy_id="benigno-v2.local"))
    st.apply_snapshot(canary(version="1"))
    metrics = Metrics(st)
    for source in (b'magnanimo;magnanimo-v1;prod;v1', b'we"ird\\;w\nl;ns;v9', None):
        f = outbound_flow()
        f.metadata["meshtool.direction"] = "inbound"
        if source:
            f.metadata["meshtool.source"] = source
        f.response = http.Response.make(503)
        metrics.response(f)
    reqs = samples(metrics.render())["meshtool_requests"]
    assert value(reqs, "meshtool_requests_total", direction="inbound",
                 source_service="magnanimo", source_namespace="prod", source_version="v1",
                 destination_service="benigno", destination_workload="benigno-v2",
                 destination_version="v2", response_code="503") == 1
    assert value(reqs, "meshtool_requests_total", source_service='we"ird\\',
                 source_workload="w\nl") == 1
    assert value(reqs, "meshtool_requests_total", source_service="unknown",
                 source_version="unknown") == 1


def test_peer_headers_beyond_the_cache_label_unknown(canary, outbound_flow):
    from mitmproxy import http

    from meshtool.sidecar.peer import MAX_PEERS
    st = SidecarState(Identity(service="benigno", labels={"version": "v2"}))
    st.apply_snapshot(canary())
    metrics = Metrics(st)
    for i in range(MAX_PEERS + 50):
        f = outbound_flow()
        f.metadata.update({"meshtool.direction": "inbound",
                           "meshtool.source": f"caller{i};w;ns;v".encode()})
        f.response = http.Response.make(200)
        metrics.response(f)
    assert len(metrics.series) == MAX_PEERS + 1


def test_connections_are_counted_by_direction(canary):
    from mitmproxy.test import tflow

    st = SidecarState(Identity(service="benigno"))
    st.apply_snapshot(canary())
    metrics = Metrics(st, inbound_port=None)
    client = tflow.tclient_conn()
    metrics.client_connected(client)
    metrics.client_connected(client)
    metrics.client_disconnected(client)
    fams = samples(metrics.render())
    assert value(fams["meshtool_tcp_connections_opened"],
                 "meshtool_tcp_connections_opened_total", direction="outbound") == 2
    assert value(fams["meshtool_tcp_connections_closed"],
                 "meshtool_tcp_connections_closed_total", direction="outbound") == 1


def test_bytes_per_connection_are_observed_when_it_closes(canary):
    from mitmproxy.test import tflow

    st = SidecarState(Identity(service="benigno"))
    st.apply_snapshot(canary())
    metrics = Metrics(st, inbound_port=None)
    for received, sent in ((100, 5000), (2000, 20)):
        client = tflow.tclient_conn()
        client.meshtool_bytes = [received, sent]  # what meshtool.sidecar.inline counts
        metrics.client_connected(client)
        metrics.client_disconnected(client)
    fams = samples(metrics.render())
    got = fams["meshtool_tcp_connection_received_bytes"]
    assert value(got, "meshtool_tcp_connection_received_bytes_sum", direction="outbound") == 2100
    assert value(got, "meshtool_tcp_connection_received_bytes_count", direction="outbound") == 2
    assert value(got, "meshtool_tcp_connection_received_bytes_bucket", direction="outbound",
                 le="256.0") == 1
    sent = fams["meshtool_tcp_connection_sent_bytes"]
    assert value(sent, "meshtool_tcp_connection_sent_bytes_sum", direction="outbound") == 5020
    assert value(sent, "meshtool_tcp_connection_sent_bytes_bucket", direction="outbound",
                 le="64.0") == 1
