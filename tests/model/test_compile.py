"""model.compile: stored resources of every API -> native rules, references resolved across
resources whatever order they were stored in; what cannot be compiled yet says why."""

from meshtool.model.compile import compile_resources
from meshtool.model.resource import Resource

VS = Resource.from_manifest({
    "apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
    "metadata": {"name": "helloworld"},
    "spec": {"hosts": ["helloworld"],
             "http": [{"route": [{"destination": {"host": "helloworld", "subset": "v2"}}]}]}})
DR = Resource.from_manifest({
    "apiVersion": "networking.istio.io/v1beta1", "kind": "DestinationRule",
    "metadata": {"name": "helloworld"},
    "spec": {"host": "helloworld", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                               {"name": "v2", "labels": {"version": "v2"}}]}})
NATIVE = Resource("RouteRule", "other", "default", {"destination": {"name": "sleep"}})


def test_stored_kinds_keep_their_api():
    assert VS.kind == "VirtualService.networking.istio.io" and not VS.is_native
    assert VS.to_manifest()["apiVersion"] == "networking.istio.io/v1beta1"
    assert VS.to_manifest()["kind"] == "VirtualService"


def test_virtual_service_alone_is_unresolved_and_left_out():
    out = compile_resources([VS, NATIVE])
    assert [r.name for r in out.rules] == ["other"]
    [reason] = out.unresolved[VS.key]
    assert "subset 'v2' needs the DestinationRule of 'helloworld'" in reason
    condition = out.condition(VS.key)
    assert (condition["status"], condition["reason"]) == ("False", "UnresolvedReference")
    assert out.report()["unresolved"][0]["name"] == "helloworld"


def test_either_order_resolves_the_subset():
    for order in ([VS, DR], [DR, VS]):
        out = compile_resources(order)
        assert out.unresolved == {} and out.invalid == {}
        [route] = [r for r in out.rules if r.kind == "RouteRule"]
        assert route.spec["route"] == [{"labels": {"version": "v2"}}]
        assert out.sources[route.key] == VS.key
        assert out.condition(VS.key)["status"] == "True"


def test_a_missing_subset_names_it():
    dr = Resource.from_manifest({**DR.to_manifest(), "spec": {
        "host": "helloworld", "subsets": [{"name": "v1", "labels": {"version": "v1"}}]}})
    out = compile_resources([VS, dr])
    assert "has no subset 'v2'" in out.unresolved[VS.key][0]


def test_http_route_backend_services_must_exist_when_the_registry_is_known():
    route = Resource.from_manifest({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "canary"},
        "spec": {"parentRefs": [{"kind": "Service", "group": "", "name": "benigno"}],
                 "rules": [{"backendRefs": [{"name": "benigno-v1", "weight": 90},
                                            {"name": "benigno-v2", "weight": 10}]}]}})
    known = {("default", "benigno"), ("default", "benigno-v1")}
    out = compile_resources([route], known)
    assert out.rules == [] and out.unresolved[route.key] == [
        "backendRef Service 'benigno-v2' (namespace 'default') not found"]
    out = compile_resources([route], known | {("default", "benigno-v2")})
    [rule] = out.rules
    assert [r["weight"] for r in rule.spec["route"]] == [90, 10]


def test_a_compiled_rule_never_takes_the_name_of_a_stored_one():
    native = Resource("RouteRule", "helloworld", "default", {"destination": {"name": "helloworld"}})
    for order in ([VS, DR, native], [native, VS, DR]):
        out = compile_resources(order)
        routes = [r for r in out.rules if r.kind == "RouteRule"]
        assert routes == [native]  # one rule of that name, the one stored as such
        condition = out.condition(VS.key)
        assert (condition["status"], condition["reason"]) == ("False", "Invalid")
        assert "RouteRule default/helloworld already defines" in condition["message"]
    # two foreign resources compiling to one name: the first keeps it, the second is refused
    istio_rr = Resource.from_manifest({
        "apiVersion": "config.istio.io/v1alpha2", "kind": "RouteRule",
        "metadata": {"name": "helloworld"},
        "spec": {"destination": {"name": "helloworld"}}})
    out = compile_resources([VS, DR, istio_rr])
    assert out.sources[("RouteRule", "default", "helloworld")] == VS.key
    assert "VirtualService default/helloworld already defines" in out.invalid[istio_rr.key][0]
