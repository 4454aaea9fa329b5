"""Istio security.istio.io and Kuma permission/mesh kinds -> MTLSPolicy / AccessPolicy."""

from meshtool.model.convert import converter_for
from meshtool.model.convert.base import Context
from meshtool.model.paths import format_path


def convert(doc):
    conv = converter_for(doc["apiVersion"], doc["kind"])(doc, Context([doc]))
    return conv, [c.manifest for c in conv.converted]


def problems(conv):
    return {format_path(p): m for p, m in conv.problems}


def test_peer_authentication_with_port_levels_and_unset():
    conv, [m] = convert({
        "apiVersion": "security.istio.io/v1beta1", "kind": "PeerAuthentication",
        "metadata": {"name": "a", "namespace": "foo"},
        "spec": {"selector": {"matchLabels": {"app": "finance", "version": "v1"}},
                 "mtls": {"mode": "UNSET"}, "portLevelMtls": {"8080": {"mode": "DISABLE"}}}})
    assert m["kind"] == "MTLSPolicy"
    assert m["spec"] == {"destination": {"name": "finance", "labels": {"version": "v1"}},
                         "ports": [{"port": 8080, "mode": "DISABLE"}]}


def test_authorization_policy_fields_and_refusals():
    conv, [m] = convert({
        "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
        "metadata": {"name": "httpbin", "namespace": "foo"},
        "spec": {"action": "ALLOW", "rules": [{
            "from": [{"source": {"principals": ["cluster.local/ns/default/sa/sleep"]}},
                     {"source": {"namespaces": ["dev"]}}],
            "to": [{"operation": {"methods": ["GET"], "paths": ["/info*"], "ports": ["8000"]}}],
            "when": [{"key": "request.headers[version]", "values": ["v1", "v2"]}]}]}})
    assert m["spec"]["rules"] == [{
        "from": [{"principals": ["cluster.local/ns/default/sa/sleep"]}, {"namespaces": ["dev"]}],
        "to": [{"methods": ["GET"], "paths": ["/info*"], "ports": [8000]}],
        "when": [{"header": "version", "values": ["v1", "v2"]}]}]
    conv, out = convert({
        "apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
        "metadata": {"name": "x"},
        "spec": {"action": "CUSTOM", "rules": [{
            "from": [{"source": {"ipBlocks": ["1.2.3.4"]}}],
            "to": [{"operation": {"hosts": ["a"]}}],
            "when": [{"key": "source.ip", "values": ["1.2.3.4"]}]}]}})
    assert out == [] and set(problems(conv)) == {
        "spec.action", "spec.rules[0].from[0].source.ipBlocks",
        "spec.rules[0].to[0].operation.hosts", "spec.rules[0].when[0].key"}


def test_no_rules_is_kept_apart_from_an_empty_rule():
    _, [deny_all] = convert({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
                             "metadata": {"name": "deny-all"}, "spec": {}})
    _, [allow_all] = convert({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
                              "metadata": {"name": "allow-all"}, "spec": {"rules": [{}]}})
    assert "rules" not in deny_all["spec"] and allow_all["spec"]["rules"] == [{}]


def test_kuma_mesh_traffic_permission_and_mesh():
    conv, out = convert({
        "apiVersion": "kuma.io/v1alpha1", "kind": "MeshTrafficPermission",
        "metadata": {"name": "p", "namespace": "kuma-system"},
        "spec": {"targetRef": {"kind": "Mesh"}, "from": [
            {"targetRef": {"kind": "Mesh"}, "default": {"action": "Deny"}},
            {"targetRef": {"kind": "MeshService", "name": "web"},
             "default": {"action": "Allow"}}]}})
    assert {(m["metadata"]["name"], m["metadata"]["namespace"], m["spec"]["action"])
            for m in out} == {("p-deny", "meshtool-system", "DENY"),
                              ("p-allow", "meshtool-system", "ALLOW")}
    conv, [m] = convert({"apiVersion": "kuma.io/v1alpha1", "kind": "Mesh",
                         "metadata": {"name": "default"},
                         "spec": {"mtls": {"enabledBackend": "ca", "backends": [
                             {"name": "ca", "type": "builtin", "mode": "PERMISSIVE"}]}}})
    assert m["spec"] == {"mode": "PERMISSIVE"}
    conv, out = convert({"apiVersion": "kuma.io/v1alpha1", "kind": "Mesh",
                         "metadata": {"name": "default"},
                         "spec": {"mtls": {"enabledBackend": "v", "backends": [
                             {"name": "v", "type": "vault"}]}}})
    assert out == [] and "spec.mtls.backends[0].type" in problems(conv)


def test_kuma_traffic_permission_one_policy_per_destination():
    conv, out = convert({
        "apiVersion": "kuma.io/v1alpha1", "kind": "TrafficPermission", "mesh": "default",
        "metadata": {"name": "tp"},
        "spec": {"sources": [{"match": {"kuma.io/service": "*"}}],
                 "destinations": [{"match": {"kuma.io/service": "a_prod_svc_80"}},
                                  {"match": {"kuma.io/service": "b", "version": "v2"}}]}})
    assert [(m["metadata"]["name"], m["metadata"].get("namespace"), m["spec"].get("destination"))
            for m in out] == [("tp-0", "prod", {"name": "a"}),
                              ("tp-1", None, {"name": "b", "labels": {"version": "v2"}})]
    assert out[0]["spec"]["rules"] == [{"from": [{"principals": ["*"]}]}]


def test_kuma_permissions_of_the_wrong_shape_are_findings_not_crashes():
    # Found by the sample fuzzer: a list field holding a scalar, an action holding a list.
    conv, out = convert({"apiVersion": "kuma.io/v1alpha1", "kind": "TrafficPermission",
                         "metadata": {"name": "tp"},
                         "spec": {"sources": True, "destinations": 3}})
    assert out == [] and problems(conv) == {"spec.sources": "must be a list",
                                            "spec.destinations": "must be a list"}
    conv, out = convert({"apiVersion": "kuma.io/v1alpha1", "kind": "MeshTrafficPermission",
                         "metadata": {"name": "p", "namespace": "default"},
                         "spec": {"targetRef": {"kind": "Mesh"}, "from": [
                             {"targetRef": {"kind": "Mesh"}, "default": {"action": []}}]}})
    assert out == [] and set(problems(conv)) == {"spec.from[0].default.action"}
