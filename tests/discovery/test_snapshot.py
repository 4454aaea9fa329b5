"""The snapshot document's owner: the encoder the control plane uses, the parser the sidecar uses."""

import json

from meshtool.discovery import snapshot as document

SERVICES = [{"name": "benigno", "namespace": "default", "ports": [5000],
             "endpoints": [{"address": "127.0.0.1", "port": 5001, "labels": {"version": "v1"}}]}]


def test_version_is_revision_and_content_hash():
    version, text = document.encode(7, SERVICES, [])
    doc = json.loads(text)
    assert doc["version"] == version and version.startswith("7.")
    assert document.encode(7, SERVICES, []) == (version, text)  # same content, same version
    assert document.encode(7, [], [])[0] != version
    assert document.unknown_fields(doc) == []


def test_service_entries_parse_into_named_values():
    problems = []
    entry = document.parse_service("services[0]", SERVICES[0], lambda w, m: problems.append(w))
    assert problems == [] and (entry.name, entry.namespace, entry.ports) == ("benigno", "default",
                                                                               (5000,))
    [ep] = entry.endpoints
    assert (ep.address, ep.port, ep.labels, ep.key) == ("127.0.0.1", 5001, {"version": "v1"},
                                                        "127.0.0.1:5001")


def test_bad_entries_name_where():
    problems = []
    bad = {"name": "b", "endpoints": [{"address": "a", "port": True}, {"port": 1}],
           "ports": ["x"]}
    document.parse_service("services[3]", bad, lambda w, m: problems.append(f"{w}: {m}"))
    assert problems == ["services[3].endpoints[0]: port: must be 1..65535, got True",
                        "services[3].endpoints[1]: address: a string is required",
                        "services[3].ports: each port must be an integer or {port: N, protocol: P}"]


def test_port_protocols_declared_or_derived_as_istio_and_kubernetes_name_them():
    problems = []
    doc = {"name": "api", "ports": [5000, {"port": 50051, "protocol": "GRPC"},
                                    {"port": 8080, "name": "http2-web"},
                                    {"port": 8081, "appProtocol": "kubernetes.io/h2c"},
                                    {"port": 9000, "name": "metrics"},
                                    {"port": 7000, "protocol": 7}]}
    entry = document.parse_service("services[0]", doc, lambda w, m: problems.append(f"{w}: {m}"))
    assert problems == ["services[0].ports[5].protocol: must be a string, got 7"]
    assert entry.protocols == {50051: "grpc", 8080: "http2", 8081: "http2"}
    assert [entry.protocol(p) for p in (50051, 8080, 5000, 9000)] == ["grpc", "http2", None, None]
    single = document.parse_service("s", {"name": "one", "ports": [{"port": 80, "name": "grpc"}]},
                                    lambda w, m: None)
    assert single.protocol(80) == single.protocol(1234) == "grpc"  # one port: whatever is called
    assert document.port_protocol("tcp-db") == "tcp"
    assert document.port_protocol("grpcfoo") is None and document.port_protocol("db") is None
    assert document.port_entry(80, None) == 80
    assert document.port_entry(80, "grpc") == {"port": 80, "protocol": "grpc"}
