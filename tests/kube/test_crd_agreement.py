"""The CRD schemas mean what schemas/ means: for mutated rule specs, the API server's own
validation (a dry-run create with strict field validation) accepts exactly what our JSON Schema
accepts."""

from __future__ import annotations

import copy
import json

from hypothesis import HealthCheck, given, settings, strategies as st

from meshtool.rules import schema
from meshtool.model.kinds import API_GROUP, API_VERSION, NATIVE_API_VERSION, NATIVE_KINDS, PLURALS

INT64_MAX = 2**63 - 1  # the API server decodes integers as int64: beyond, "must be of type integer"

SPECS = {
    "RouteRule": {"destination": {"name": "reviews"}, "precedence": 1,
                  "match": {"source": {"name": "web", "labels": {"v": "1"}},
                            "request": {"headers": {"uri": {"prefix": "/"}}}},
                  "route": [{"labels": {"version": "v1"}, "weight": 100}],
                  "httpReqRetries": {"simpleRetry": {"attempts": 3, "perTryTimeout": "1s"}},
                  "httpFault": {"abort": {"percent": 10.5, "httpStatus": 503}},
                  "corsPolicy": {"allowOrigin": ["*"], "allowCredentials": True},
                  "appendHeaders": {"x-a": "b"}},
    "EgressRule": {"destination": {"service": "*.example.com"},
                   "ports": [{"port": 443, "protocol": "https"}]},
    "DestinationPolicy": {"destination": {"name": "reviews"}, "loadBalancing": {"name": "RANDOM"},
                          "circuitBreaker": {"simpleCb": {"maxConnections": 1, "sleepWindow": "1s",
                                                          "httpMaxRetries": 3}}},
    "MTLSPolicy": {"destination": {"name": "reviews", "labels": {"version": "v1"}},
                   "mode": "STRICT", "ports": [{"port": 9080, "mode": "PERMISSIVE"}]},
    "AccessPolicy": {"destination": {"name": "reviews"}, "action": "ALLOW",
                     "rules": [{"from": [{"principals": ["cluster.local/ns/default/sa/web"],
                                          "namespaces": ["default"]}],
                                "to": [{"methods": ["GET"], "paths": ["/"], "ports": [9080]}]}]},
}
# JSON values only (no null: the API server drops nulls before validating, by design), with
# the edge cases of the translation: integral floats, empty strings, long strings, enums.
VALUES = st.recursive(
    st.booleans() | st.integers(-3, 70000)
    | st.sampled_from([1.5, 0.5, "", "a", "http", "ftp", "RANDOM", "1s", "x" * 300]),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(
        st.sampled_from(["name", "labels", "weight", "exact", "prefix", "port", "protocol",
                         "attempts", "simpleCb", "x"]), inner, max_size=2),
    max_leaves=4)


BOUNDS = {
    int: [-1, 0, 1, 100, 101, 199, 200, 599, 600, 65535, 65536, 2147483647, 2147483648,
          INT64_MAX, INT64_MAX + 1, -INT64_MAX - 2],
    float: [-0.5, 0.0, 100.0, 100.5],
    str: ["", "a", "1s", "http", "https", "grpc", "http2", "tcp", "mongo", "ftp", "ROUND_ROBIN",
          "LEAST_CONN", "RANDOM", "round_robin"],
    bool: [True, False],
}

# Values of the same JSON type as the one replaced, at the bounds of the schemas' ranges,
# lengths and enums: most mutations then keep the rule valid or break exactly one bound.
SAME_TYPE = {
    int: st.integers(-2, 120) | st.sampled_from([199, 200, 599, 600, 65535, 65536, 2147483647,
                                                2147483648, INT64_MAX, INT64_MAX + 1]),
    float: st.sampled_from([0.0, 0.5, 50.5, 100.0, 100.5, -0.5]),
    str: st.sampled_from(["", "a", "1s", "http", "https", "tcp", "mongo", "ftp", "ROUND_ROBIN",
                          "LEAST_CONN", "round_robin"]),
    bool: st.booleans(),
    dict: st.builds(dict),
    list: st.builds(list),
}


def _mutate(data, spec: dict) -> None:
    node = data.draw(st.sampled_from(list(_spots(spec))))
    if isinstance(node, dict):
        how = data.draw(st.sampled_from(["delete", "same", "same", "same", "any"]))
        keys = sorted(node) + (["new", "weight", "labels"] if how == "any" or not node else [])
        key = data.draw(st.sampled_from(keys))
        if how == "delete" and key in node:
            del node[key]
        elif how == "same" and key in node:
            node[key] = data.draw(SAME_TYPE[type(node[key])])
        else:
            node[key] = data.draw(VALUES)
    elif node:
        i = data.draw(st.integers(0, len(node) - 1))
        node[i] = data.draw(SAME_TYPE[type(node[i])] if data.draw(st.booleans()) else VALUES)
    else:
        node.append(data.draw(VALUES))


def _spots(node):
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        if isinstance(child, (dict, list)):
            yield from _spots(child)


def _server_accepts(api, namespace: str, kind: str, spec: dict) -> tuple[bool, str]:
    from kubernetes.client.rest import ApiException

    body = {"apiVersion": NATIVE_API_VERSION, "kind": kind, "metadata": {"name": "probe"}, "spec": spec}
    try:
        api.create_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURALS[kind], body,
                                            dry_run="All", field_validation="Strict")
        return True, ""
    except ApiException as e:
        if e.status not in (400, 422):
            raise
        return False, json.loads(e.body)["message"]


def test_api_server_and_schema_agree_on_mutated_specs(kube_cluster, meshtool_crds, kube_namespace):
    from kubernetes import client

    api = client.CustomObjectsApi(kube_cluster.api_client)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(NATIVE_KINDS), st.data())
    def check(kind, data):
        spec = copy.deepcopy(SPECS[kind])
        for _ in range(data.draw(st.integers(1, 2))):
            _mutate(data, spec)
        manifest = {"apiVersion": NATIVE_API_VERSION, "kind": kind, "metadata": {"name": "probe"},
                    "spec": spec}
        ours = schema.validate(kind, manifest)
        accepted, message = _server_accepts(api, kube_namespace, kind, spec)
        assert accepted == (ours == []), (spec, ours, message)

    check()


def _paths(node, path=()):
    """Every key path of a spec, leaves and containers."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield path + (key,), child
        yield from _paths(child, path + (key,))


def test_api_server_and_schema_agree_on_every_bound_of_every_field(kube_cluster, meshtool_crds,
                                                                   kube_namespace):
    """Systematic: each field of the sample specs deleted, and each leaf set to every boundary
    value of its type (ranges, lengths, enums)."""
    from kubernetes import client

    api = client.CustomObjectsApi(kube_cluster.api_client)
    disagreements, verdicts = [], set()
    for kind, base in SPECS.items():
        for path, value in list(_paths(base)):
            variants = [None] + (BOUNDS.get(type(value), []) if not isinstance(path[-1], int) else [])
            for variant in variants:
                spec = copy.deepcopy(base)
                parent = spec
                for key in path[:-1]:
                    parent = parent[key]
                if variant is None:
                    del parent[path[-1]]
                else:
                    parent[path[-1]] = variant
                manifest = {"apiVersion": NATIVE_API_VERSION, "kind": kind,
                            "metadata": {"name": "probe"}, "spec": spec}
                ours = schema.validate(kind, manifest) == []
                theirs, message = _server_accepts(api, kube_namespace, kind, spec)
                verdicts.add(ours)
                if ours != theirs:
                    disagreements.append((kind, path, variant, ours, message))
    assert verdicts == {True, False}
    assert disagreements == []


def _integer_nodes(node, path=""):
    if isinstance(node, dict):
        if node.get("type") == "integer":
            yield path, node
        for key, child in node.items():
            yield from _integer_nodes(child, f"{path}/{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from _integer_nodes(child, f"{path}[{i}]")


def test_every_integer_is_bounded_to_int64_with_the_same_format_in_schema_and_crd():
    """The API server holds integers as int64: a schema without that bound accepts what the
    server refuses ("must be of type integer"). Formats and bounds are the same on both sides."""
    from meshtool.kube.crds import committed_crds

    crds = {c["spec"]["names"]["kind"]: c for c in committed_crds()}
    for kind in NATIVE_KINDS:
        ours = dict(_integer_nodes(schema.load_schema(kind)["properties"]["spec"]))
        theirs = dict(_integer_nodes(
            crds[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]))
        assert ours and ours.keys() == theirs.keys(), kind
        for path, node in ours.items():
            assert node.get("format") == "int64", (kind, path)
            assert -2**63 <= node["minimum"] <= node["maximum"] <= INT64_MAX, (kind, path)
            # The CRD leaves out the int64 limits themselves (the server's decoding enforces
            # them; written out they overflow its float64 comparison): every other bound is equal.
            implied = {-2**63, INT64_MAX}
            assert {k: theirs[path].get(k) for k in ("format", "minimum", "maximum")} == \
                {k: (None if node.get(k) in implied and k != "format" else node.get(k))
                 for k in ("format", "minimum", "maximum")}, (kind, path)


def test_an_integer_beyond_int64_is_refused_by_validate_and_by_the_api_server(
        kube_cluster, meshtool_crds, kube_namespace):
    from kubernetes import client

    api = client.CustomObjectsApi(kube_cluster.api_client)
    spec = copy.deepcopy(SPECS["DestinationPolicy"])
    spec["circuitBreaker"]["simpleCb"]["maxConnections"] = INT64_MAX + 1
    manifest = {"apiVersion": NATIVE_API_VERSION, "kind": "DestinationPolicy",
                "metadata": {"name": "probe"}, "spec": spec}
    problems = schema.validate("DestinationPolicy", manifest)
    assert [(".".join(map(str, p)), m) for p, m in problems] == [
        ("spec.circuitBreaker.simpleCb.maxConnections", "must be at most 9223372036854775807, got 9223372036854775808")]
    assert _server_accepts(api, kube_namespace, "DestinationPolicy", spec)[0] is False
    spec["circuitBreaker"]["simpleCb"]["maxConnections"] = INT64_MAX
    assert schema.validate("DestinationPolicy", manifest) == []
    assert _server_accepts(api, kube_namespace, "DestinationPolicy", spec) == (True, "")
