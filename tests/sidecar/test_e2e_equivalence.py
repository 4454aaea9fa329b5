"""Cross-API equivalence: one intent (90% of benigno's traffic to v1, 10% to v2) written in
every API meshtool reads, stored as written, compiled by the control plane's compiler into
the typed model, pushed to a real sidecar, and measured: exactly 900/100 of 1,000 requests.

The services of the snapshot are given as Kubernetes would have them: `benigno` with both
instances, and (for Gateway API, whose backends are Services) `benigno-v1` and `benigno-v2`
selecting one instance each.
"""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest

from meshtool.controlplane.snapshot import build_snapshot
from meshtool.model import native
from meshtool.rules.loader import load_rules
from meshtool.rules.sources import Source
from sidecar_mesh import ProxyClient, wait_port

pytestmark = pytest.mark.timeout(180)

V1, V2 = b"Hello World, Benigno\n", b"Hello World, Benigno, Canary Release\n"

INTENTS = {
    "native RouteRule": """\
apiVersion: config.meshtool.io/v1alpha1
kind: RouteRule
metadata: {name: benigno-canary}
spec:
  destination: {name: benigno}
  route:
  - {labels: {version: v1}, weight: 90}
  - {labels: {version: v2}, weight: 10}
""",
    "Istio v1alpha2 RouteRule": """\
apiVersion: config.istio.io/v1alpha2
kind: RouteRule
metadata: {name: benigno-canary}
spec:
  destination: {name: benigno}
  route:
  - {labels: {version: v1}, weight: 90}
  - {labels: {version: v2}, weight: 10}
""",
    "VirtualService + DestinationRule": """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: benigno-canary}
spec:
  hosts: [benigno]
  http:
  - route:
    - {destination: {host: benigno, subset: v1}, weight: 90}
    - {destination: {host: benigno, subset: v2}, weight: 10}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: benigno}
spec:
  host: benigno.default.svc.cluster.local
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
""",
    "Kuma TrafficRoute": """\
apiVersion: kuma.io/v1alpha1
kind: TrafficRoute
mesh: default
metadata: {name: benigno-canary}
spec:
  sources:
  - match: {kuma.io/service: '*'}
  destinations:
  - match: {kuma.io/service: benigno_default_svc_5000}
  conf:
    split:
    - {weight: 9, destination: {kuma.io/service: benigno_default_svc_5000, version: v1}}
    - {weight: 1, destination: {kuma.io/service: benigno_default_svc_5000, version: v2}}
""",
    "Gateway API HTTPRoute": """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: benigno-canary}
spec:
  parentRefs:
  - {group: "", kind: Service, name: benigno, port: 5000}
  rules:
  - backendRefs:
    - {name: benigno-v1, port: 5000, weight: 90}
    - {name: benigno-v2, port: 5000, weight: 10}
""",
}


@pytest.fixture(scope="module")
def fleet(mesh):
    empty = {"version": "0"}
    a1 = mesh.app("benigno.py", "--version", "v1")
    a2 = mesh.app("benigno.py", "--version", "v2")
    b1 = mesh.sidecar("eq-benigno-v1", empty, "--service", "benigno", "--label", "version=v1",
                      "--app-port", str(a1))
    b2 = mesh.sidecar("eq-benigno-v2", empty, "--service", "benigno", "--label", "version=v2",
                      "--app-port", str(a2))
    m = mesh.sidecar("eq-magnanimo", empty, "--service", "magnanimo", "--label", "version=v1")
    for sc in (b1, b2, m):
        sc.wait_ready()
    for port in (a1, a2):
        wait_port(port)
    v1 = {"address": "127.0.0.1", "port": b1.inbound, "labels": {"version": "v1"}}
    v2 = {"address": "127.0.0.1", "port": b2.inbound, "labels": {"version": "v2"}}
    services = [{"name": name, "namespace": "default", "ports": [5000], "endpoints": eps}
                for name, eps in (("benigno", [v1, v2]), ("benigno-v1", [v1]),
                                  ("benigno-v2", [v2]))]
    return m, services


def compiled(text: str, services: list[dict], revision: int):
    result = load_rules([Source("intent.yaml", text)], authored=True)
    assert result.findings == [], result.findings
    built = build_snapshot(revision, result.resources, services)
    assert built.compiled.unresolved == {} and built.compiled.invalid == {}
    doc = json.loads(built.json)
    [rule] = doc["rules"]
    route = native.parse(rule["kind"], "default", rule["metadata"]["name"], rule["spec"]).value
    return doc, route


def measure(m, n: int = 1000, clients: int = 4) -> Counter:
    counts = Counter()

    def worker(share: int) -> None:
        client = ProxyClient(m.outbound)
        for _ in range(share):
            status, _, body = client.get("http://benigno:5000/hw2")
            counts[{V1: "v1", V2: "v2"}.get(body, f"{status} {body[:60]!r}")] += 1
        client.close()

    threads = [threading.Thread(target=worker, args=(n // clients + (i < n % clients),))
               for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return counts


def test_label_based_apis_compile_to_the_same_model(fleet):
    _, services = fleet
    routes = {api: compiled(text, services, 1)[1] for api, text in INTENTS.items()
              if api != "Gateway API HTTPRoute"}
    splits = {api: [(dict(w.labels), w.weight, w.service) for w in r.split]
              for api, r in routes.items()}
    assert all(s == [({"version": "v1"}, 90, None), ({"version": "v2"}, 10, None)]
               for s in splits.values()), splits
    assert {(r.destination.key, r.headers, r.source) for r in routes.values()} == {
        (("default", "benigno"), (), None)}


def test_gateway_api_compiles_to_the_same_weights_over_the_version_services(fleet):
    _, services = fleet
    _, route = compiled(INTENTS["Gateway API HTTPRoute"], services, 1)
    assert route.destination.key == ("default", "benigno")
    assert [(w.service.key, w.weight) for w in route.split] == [
        (("default", "benigno-v1"), 90), (("default", "benigno-v2"), 10)]


@pytest.mark.parametrize("api", list(INTENTS))
def test_every_api_gives_exactly_900_100_over_1000_requests(fleet, api):
    m, services = fleet
    doc, _ = compiled(INTENTS[api], services, 2 + list(INTENTS).index(api))
    m.apply(doc)
    assert m.config_dump()["version"] == doc["version"]
    assert measure(m) == {"v1": 900, "v2": 100}
