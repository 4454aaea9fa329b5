"""End to end, gRPC: a real grpcio client calls real grpcio servers through an outbound sidecar
(explicit proxy, HTTP CONNECT as grpcio does it) and an inbound sidecar in front of each server:
unary, server-streaming and bidirectional streaming calls, over h2c with prior knowledge on
every hop; a route rule's weights and header matches (gRPC metadata) pick the version."""

from __future__ import annotations

import time
from collections import Counter
from concurrent import futures

import pytest

from sidecar_mesh import rule

grpc = pytest.importorskip("grpc")

pytestmark = pytest.mark.timeout(120)


def _server(version: str):
    def unary(request, context):
        return f"{version}:{request.decode()}".encode()

    def server_stream(request, context):
        for i in range(5):
            yield f"{version}:{request.decode()}:{i}:{time.time()}".encode()
            time.sleep(0.1)

    def bidi(requests, context):
        for r in requests:
            yield f"{version}:echo:{r.decode()}".encode()

    def missing(request, context):
        context.abort(grpc.StatusCode.NOT_FOUND, f"no {request.decode()}")

    handler = grpc.method_handlers_generic_handler("mesh.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(server_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Missing": grpc.unary_unary_rpc_method_handler(missing),
    })
    server = grpc.server(futures.ThreadPoolExecutor(8))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@pytest.fixture(scope="module")
def grpc_mesh(mesh):
    servers, endpoints = [], []
    for version in ("v1", "v2"):
        server, port = _server(version)
        servers.append(server)
        inbound = mesh.sidecar(f"grpc-in-{version}", {"version": "1"}, "--service", "echo",
                               "--app-port", str(port))
        endpoints.append({"address": "127.0.0.1", "port": inbound.inbound,
                          "labels": {"version": version}})
        inbound.wait_ready()
    doc = {"version": "1", "services": [{"name": "echo", "ports": [50051],
                                         "endpoints": endpoints}], "rules": []}
    outbound = mesh.sidecar("grpc-out", doc, "--service", "client")
    outbound.wait_ready()
    channel = grpc.insecure_channel("echo:50051", options=[
        ("grpc.http_proxy", f"http://127.0.0.1:{outbound.outbound}"),
        ("grpc.enable_retries", 0)])
    grpc.channel_ready_future(channel).result(timeout=15)
    yield outbound, channel, doc
    channel.close()
    for server in servers:
        server.stop(0)


def _calls(channel):
    return (channel.unary_unary("/mesh.Echo/Unary"), channel.unary_stream("/mesh.Echo/Stream"),
            channel.stream_stream("/mesh.Echo/Bidi"))


def test_unary_server_streaming_and_bidi_calls_pass_both_sidecars(grpc_mesh):
    outbound, channel, doc = grpc_mesh
    outbound.apply({**doc, "version": "all-v1", "rules": [rule("RouteRule", "echo-v1", {
        "destination": {"name": "echo"}, "route": [{"labels": {"version": "v1"}}]})]})
    unary, stream, bidi = _calls(channel)
    assert unary(b"hi", timeout=10) == b"v1:hi"
    arrivals = []
    for message in stream(b"s", timeout=10):
        arrivals.append(time.time() - float(message.decode().rsplit(":", 1)[1]))
    assert len(arrivals) == 5 and max(arrivals) < 0.25  # streamed, not gathered at the end
    replies = list(bidi(iter([b"a", b"b", b"c"]), timeout=10))
    assert replies == [b"v1:echo:a", b"v1:echo:b", b"v1:echo:c"]


def test_route_weights_and_metadata_matches_apply_to_grpc(grpc_mesh):
    outbound, channel, doc = grpc_mesh
    outbound.apply({**doc, "version": "split", "rules": [
        rule("RouteRule", "echo-split", {"destination": {"name": "echo"}, "route": [
            {"labels": {"version": "v1"}, "weight": 90},
            {"labels": {"version": "v2"}, "weight": 10}]}),
        rule("RouteRule", "echo-canary", {"destination": {"name": "echo"}, "precedence": 2,
                                          "match": {"request": {"headers": {
                                              "x-canary": {"exact": "yes"}}}},
                                          "route": [{"labels": {"version": "v2"}}]})]})
    unary, _, _ = _calls(channel)
    versions = Counter(unary(b"x", timeout=10).split(b":")[0] for _ in range(20))
    assert versions == {b"v1": 18, b"v2": 2}
    canary = Counter(unary(b"x", timeout=10, metadata=(("x-canary", "yes"),)).split(b":")[0]
                     for _ in range(5))
    assert canary == {b"v2": 5}


def test_grpc_status_is_counted_in_the_metrics_of_both_sidecars(grpc_mesh):
    import re

    outbound, channel, doc = grpc_mesh
    outbound.apply({**doc, "version": "metrics-v1", "rules": [rule("RouteRule", "echo-v1", {
        "destination": {"name": "echo"}, "route": [{"labels": {"version": "v1"}}]})]})

    def counts(text: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for m in re.finditer(r'^meshtool_requests_total\{([^}]*)\} (\S+)$', text, re.M):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            if labels["request_protocol"] == "grpc" and labels["direction"] == "outbound":
                key = labels["grpc_response_status"]
                out[key] = out.get(key, 0) + float(m.group(2))
        return out

    before = counts(outbound.metrics())
    missing = channel.unary_unary("/mesh.Echo/Missing")
    for _ in range(3):
        with pytest.raises(grpc.RpcError) as err:
            missing(b"thing", timeout=10)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    unary, _, _ = _calls(channel)
    assert unary(b"ok", timeout=10) == b"v1:ok"
    after = counts(outbound.metrics())
    assert after.get("5", 0) - before.get("5", 0) == 3  # NOT_FOUND, from the trailers
    assert after.get("0", 0) - before.get("0", 0) == 1  # OK
