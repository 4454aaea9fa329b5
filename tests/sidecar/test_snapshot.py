import pytest

from meshtool.model.types import CircuitBreaker
from meshtool.sidecar.snapshot import Identity, compile_snapshot
from meshtool.sidecar.state import SidecarState


def test_compiles_services_hosts_and_rules(canary):
    snap = compile_snapshot(canary())
    assert snap.version == "1"
    svc = snap.services[("default", "benigno")]
    for host in ("benigno", "benigno.default", "benigno.default.svc",
                 "benigno.default.svc.cluster.local", "127.0.0.1:5001"):
        assert snap.by_host[host] is svc
    (rule,) = snap.rules[("default", "benigno")]
    assert rule.name == "default/benigno-canary"
    assert [s.version for s, _ in rule.split.items] == ["v1", "v2"]


def test_rules_sorted_by_precedence(canary, make_rule):
    doc = canary(extra_rules=[make_rule("RouteRule", "high", {
        "destination": {"name": "benigno"}, "precedence": 5,
        "match": {"request": {"headers": {"cookie": {"regex": ".*user=jason.*"}}}},
        "route": [{"labels": {"version": "v2"}}]})])
    rules = compile_snapshot(doc).rules[("default", "benigno")]
    assert [r.name for r in rules] == ["default/high", "default/benigno-canary"]


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(version=""), "version: a non-empty string is required"),
    (lambda d: d["rules"][0]["spec"]["route"][0].update(weight=80),
     "spec.route[1].weight: weights sum to 90, must be 100"),
    (lambda d: d["rules"][0]["spec"].update(route=[{"labels": {"version": "v1"}, "weight": 50}]),
     "spec.route[0].weight: weights sum to 50, must be 100"),
    (lambda d: d["rules"][0]["spec"].update(httpReqTimeout={"simpleTimeout": {"timeout": "ten"}}),
     "spec.httpReqTimeout.simpleTimeout.timeout: invalid duration"),
    (lambda d: d["rules"][0]["spec"].update(
        match={"request": {"headers": {"uri": {"regex": "(["}}}}), "invalid regular expression"),
    (lambda d: d["services"][0]["endpoints"][0].update(port=70000), "port: must be 1..65535"),
    (lambda d: d["rules"].append({"kind": "Gateway", "metadata": {"name": "g"}, "spec": {}}),
     "kind: must be RouteRule, EgressRule, DestinationPolicy, MTLSPolicy or AccessPolicy"),
    (lambda d: d.update(extra=1), "unknown top-level field"),
])
def test_invalid_snapshots_name_the_problem(canary, mutate, message):
    doc = canary()
    mutate(doc)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        compile_snapshot(doc)


def test_every_problem_is_reported_at_once(canary):
    doc = canary()
    doc["version"] = ""
    doc["services"][0]["endpoints"][0]["port"] = 0
    with pytest.raises(ValueError) as err:
        compile_snapshot(doc)
    assert "version" in str(err.value) and "endpoints[0]" in str(err.value)


def test_source_restricted_rules_apply_only_to_that_source(canary, make_rule):
    doc = canary(extra_rules=[make_rule("RouteRule", "from-magnanimo-v2", {
        "destination": {"name": "benigno"}, "precedence": 2,
        "match": {"source": {"name": "magnanimo", "labels": {"version": "v2"}}},
        "route": [{"labels": {"version": "v2"}}]})])
    mine = compile_snapshot(doc, Identity(service="magnanimo", labels={"version": "v2"}))
    other = compile_snapshot(doc, Identity(service="magnanimo", labels={"version": "v1"}))
    assert len(mine.rules[("default", "benigno")]) == 2
    assert len(other.rules[("default", "benigno")]) == 1


def test_destination_policy_picks_load_balancing_per_subset(canary, make_rule):
    doc = canary(extra_rules=[
        make_rule("DestinationPolicy", "v2-least", {
            "destination": {"name": "benigno", "labels": {"version": "v2"}},
            "loadBalancing": {"name": "LEAST_CONN"}}),
        make_rule("DestinationPolicy", "all-random", {
            "destination": {"name": "benigno"}, "loadBalancing": {"name": "RANDOM"},
            "circuitBreaker": {"simpleCb": {"maxConnections": 1, "sleepWindow": "2s"}}})])
    snap = compile_snapshot(doc)
    subsets = {s.version: s for s, _ in snap.rules[("default", "benigno")][0].split.items}
    assert subsets["v2"].picker.method == "LEAST_CONN"
    assert subsets["v1"].picker.method == "RANDOM"
    assert subsets["v1"].breaker == CircuitBreaker(max_connections=1, sleep_window=2.0)


def test_state_swaps_whole_snapshots_and_keeps_the_old_on_rejection(canary):
    state = SidecarState(Identity(service="magnanimo"))
    state.apply_snapshot(canary(version="1"))
    first = state.snapshot
    bad = canary(version="2")
    bad["rules"][0]["spec"]["route"][1]["weight"] = 50
    with pytest.raises(ValueError):
        state.apply_snapshot(bad)
    assert state.snapshot is first and state.version == "1"
    assert state.last_rejected["version"] == "2"
    assert "weights sum to 140, must be 100" in state.last_rejected["error"]
    state.apply_snapshot(canary(50, 50, version="3"))
    dump = state.config_dump()
    assert dump["version"] == "3" and dump["snapshot"]["version"] == "3"
    assert dump["lastRejected"]["version"] == "2"


def test_a_pod_takes_its_zone_from_its_own_endpoint_for_locality_balancing():
    """The control plane labels endpoints with their node's zone; a pod cannot read its node, so
    its sidecar finds its own endpoint by the pod IP and prefers helloworld in that zone."""
    zone, region = "topology.kubernetes.io/zone", "topology.kubernetes.io/region"

    def ep(address, z):
        return {"address": address, "port": 5000,
                "labels": {"topology.meshtool.io/cluster": "c1", region: "r1", zone: z}}

    doc = {"version": "1", "services": [
        {"name": "sleep", "namespace": "default", "endpoints": [ep("10.0.0.9", "z2")]},
        {"name": "helloworld", "namespace": "default",
         "endpoints": [ep("10.0.0.1", "z1"), ep("10.0.0.2", "z2"), ep("10.0.0.3", "z1")]}],
        "rules": [{"apiVersion": "config.meshtool.io/v1alpha1", "kind": "DestinationPolicy",
                   "metadata": {"name": "helloworld-locality", "namespace": "default"},
                   "spec": {"destination": {"name": "helloworld"},
                            "loadBalancing": {"locality": {}}}}]}

    def first_choices(identity):
        picker = compile_snapshot(doc, identity).default_subsets[("default", "helloworld")].picker
        return {picker.order()[0].address for _ in range(6)}

    assert first_choices(Identity(service="sleep", address="10.0.0.9")) == {"10.0.0.2"}
    # its own labels win over its endpoint's
    assert first_choices(Identity(service="sleep", address="10.0.0.9",
                                  labels={region: "r1", zone: "z1"})) == {"10.0.0.1", "10.0.0.3"}
    # no address (outside a pod): no preference, every endpoint comes first in turn
    assert first_choices(Identity(service="sleep")) == {"10.0.0.1", "10.0.0.2", "10.0.0.3"}
