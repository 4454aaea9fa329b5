"""The Gateway API status meshtool writes (meshtool.controlplane.gatewayapistatus), pure: from
stored resources compiled as the control plane compiles them."""

from __future__ import annotations

import json

from meshtool.controlplane.gatewayapistatus import route_status, gateway_status, verdicts
from meshtool.model.compile import compile_resources
from meshtool.model.resource import Resource

GW = "gateway.networking.k8s.io/v1"


def res(kind: str, name: str, spec: dict) -> Resource:
    return Resource.from_manifest({"apiVersion": GW, "kind": kind,
                                   "metadata": {"name": name, "namespace": "shop"}, "spec": spec})


def route(name: str, parent: str, backend: str) -> Resource:
    return res("HTTPRoute", name, {"parentRefs": [{"name": parent}], "rules": [
        {"backendRefs": [{"name": backend, "port": 80}]}]})


STORED = [
    res("Gateway", "edge", {"gatewayClassName": "meshtool", "listeners": [
        {"name": "web", "port": 80, "protocol": "HTTP"}]}),
    res("Gateway", "theirs", {"gatewayClassName": "other", "listeners": [
        {"name": "web", "port": 80, "protocol": "HTTP"}]}),
    res("Gateway", "broken", {"gatewayClassName": "meshtool", "listeners": [
        {"name": "tcp", "port": 9000, "protocol": "TCP"}]}),
    route("good", "edge", "web"), route("nobackend", "edge", "nowhere"),
    route("orphan", "gone", "web"), route("elsewhere", "theirs", "web"),
]


def table(address: str | None = "10.0.0.7"):
    rules = {r.key: r for r in STORED}
    compiled = compile_resources(STORED, {("shop", "web")})
    services = [{"name": "meshtool-gateway", "addresses": [address]}] if address else []
    return {v.key[2]: v for v in verdicts(rules, compiled, services)}


def test_gateways_of_meshtools_class_get_the_address_and_programmed():
    found = table()
    assert set(found) == {"edge", "broken", "good", "nobackend", "orphan"}  # not theirs'
    edge = gateway_status(found["edge"], {}, 3, "T")
    assert edge["addresses"] == [{"type": "IPAddress", "value": "10.0.0.7"}]
    assert [(c["type"], c["status"], c["observedGeneration"]) for c in edge["conditions"]] == [
        ("Accepted", "True", 3), ("Programmed", "True", 3)]
    broken = gateway_status(found["broken"], {}, 1, "T")
    assert "addresses" not in broken
    assert [(c["type"], c["status"], c["reason"]) for c in broken["conditions"]] == [
        ("Accepted", "False", "Invalid"), ("Programmed", "False", "Invalid")]
    assert "protocol 'TCP' is not supported" in broken["conditions"][0]["message"]
    waiting = gateway_status(table(None)["edge"], {}, 1, "T")
    assert waiting["conditions"][1]["reason"] == "AddressNotAssigned"


def test_routes_say_per_meshtool_parent_whether_accepted_and_resolved():
    found = table()

    def conditions(name):
        [parent] = route_status(found[name], {}, 1, "T")["parents"]
        assert parent["controllerName"] == "meshtool.io/gateway"
        return [(c["type"], c["status"], c["reason"]) for c in parent["conditions"]]
    assert conditions("good") == [("Accepted", "True", "Accepted"),
                                  ("ResolvedRefs", "True", "ResolvedRefs")]
    assert conditions("nobackend") == [("Accepted", "True", "Accepted"),
                                       ("ResolvedRefs", "False", "BackendNotFound")]
    assert conditions("orphan")[0] == ("Accepted", "False", "NoMatchingParent")


def test_other_controllers_entries_and_unchanged_transition_times_are_kept():
    verdict = table()["good"]
    theirs = {"parentRef": {"name": "x"}, "controllerName": "example.com/other",
              "conditions": []}
    first = route_status(verdict, {"parents": [theirs]}, 1, "T1")
    again = route_status(verdict, first, 2, "T2")
    assert again["parents"][0] == theirs
    ours = again["parents"][1]
    assert ours["parentRef"] == json.loads(verdict.parents[0][0])
    assert {c["lastTransitionTime"] for c in ours["conditions"]} == {"T1"}
    assert {c["observedGeneration"] for c in ours["conditions"]} == {2}


def test_istio_resources_of_the_gateway_only_are_reported():
    from meshtool.controlplane.istiostatus import problems

    def vs(name: str, gateways: list[str]) -> Resource:
        return Resource.from_manifest({
            "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"hosts": ["web"], "gateways": gateways,
                     "http": [{"route": [{"destination": {"host": "web"}}]}]}})
    stored = [vs("mesh-only", ["mesh"]), vs("edge", ["missing"])]
    found = problems({r.key: r for r in stored}, compile_resources(stored, {("shop", "web")}))
    assert [(k[2], p) for k, _, p in found] == [
        ("edge", "spec.gateways[0]: Gateway 'missing' not found")]
