"""networking.istio.io VirtualService + DestinationRule + ServiceEntry -> native rules."""

import pytest

from meshtool.model import native
from meshtool.model.convert import Context, istio_networking as net
from meshtool.rules.yamlio import format_path

API = "networking.istio.io/v1alpha3"


def vs(http, hosts=("reviews",), name="reviews", **spec):
    return {"apiVersion": API, "kind": "VirtualService", "metadata": {"name": name},
            "spec": {"hosts": list(hosts), "http": http, **spec}}


def dr(subsets=None, host="reviews", name="reviews", **spec):
    body = {"host": host, **spec}
    if subsets is not None:
        body["subsets"] = subsets
    return {"apiVersion": API, "kind": "DestinationRule", "metadata": {"name": name},
            "spec": body}


SUBSETS = dr([{"name": "v1", "labels": {"version": "v1"}},
              {"name": "v2", "labels": {"version": "v2"}},
              {"name": "v3", "labels": {"version": "v3", "track": "beta"}}])


def to(subset, weight=None, host="reviews"):
    entry = {"destination": {"host": host, "subset": subset}}
    if weight is not None:
        entry["weight"] = weight
    return entry


def convert_vs(doc, *others):
    out = net.convert_virtual_service(doc, Context([doc, *others]))
    return out, {format_path(p): m for p, m in out.problems + out.unresolved}


def specs(out):
    return [c.manifest["spec"] for c in out.converted]


def test_subset_becomes_route_labels_from_the_destination_rule():
    out, problems = convert_vs(vs([{"route": [to("v1", 75), to("v3", 25)]}]), SUBSETS)
    assert problems == {}
    [item] = out.converted
    assert item.manifest["kind"] == "RouteRule"
    assert item.manifest["metadata"] == {"name": "reviews"}
    assert item.manifest["spec"] == {
        "destination": {"name": "reviews"},
        "route": [{"labels": {"version": "v1"}, "weight": 75},
                  {"labels": {"version": "v3", "track": "beta"}, "weight": 25}]}


def test_routes_in_order_become_rules_by_precedence():
    http = [{"match": [{"headers": {"End-User": {"exact": "jason"}}}, {"uri": {"prefix": "/beta"}}],
             "route": [to("v2")]},
            {"route": [to("v1")]}]
    out, problems = convert_vs(vs(http), SUBSETS)
    assert problems == {}
    names = [c.manifest["metadata"]["name"] for c in out.converted]
    assert names == ["reviews-0", "reviews-1", "reviews-2"]
    s = specs(out)
    assert [x["precedence"] for x in s] == [2, 1, 0]
    assert s[0]["match"] == {"request": {"headers": {"end-user": {"exact": "jason"}}}}
    assert s[1]["match"] == {"request": {"headers": {"uri": {"prefix": "/beta"}}}}
    assert "match" not in s[2]
    assert s[2]["route"] == [{"labels": {"version": "v1"}}]


def test_every_http_feature_that_has_a_native_form():
    http = [{
        "match": [{"method": {"exact": "GET"}, "sourceLabels": {"app": "productpage",
                                                                 "version": "v2"}}],
        "route": [to("v1")],
        "timeout": "10s",
        "retries": {"attempts": 3, "perTryTimeout": "2s"},
        "fault": {"delay": {"percentage": {"value": 10.0}, "fixedDelay": "5s"},
                  "abort": {"httpStatus": 503}},
        "mirror": {"host": "reviews", "subset": "v2"},
        "corsPolicy": {"allowOrigins": [{"exact": "https://a.example"}], "allowMethods": ["GET"],
                       "maxAge": "24h", "allowCredentials": True},
        "headers": {"request": {"add": {"x-canary": "1"}}},
        "rewrite": {"uri": "/v1"},
    }]
    out, problems = convert_vs(vs(http), SUBSETS)
    assert problems == {}
    assert specs(out) == [{
        "destination": {"name": "reviews"},
        "match": {"source": {"name": "productpage", "labels": {"app": "productpage",
                                                               "version": "v2"}},
                  "request": {"headers": {"method": {"exact": "GET"}}}},
        "route": [{"labels": {"version": "v1"}}],
        "httpReqTimeout": {"simpleTimeout": {"timeout": "10s"}},
        "httpReqRetries": {"simpleRetry": {"attempts": 3, "perTryTimeout": "2s"}},
        "httpFault": {"delay": {"fixedDelay": "5s", "percent": 10.0},
                      "abort": {"httpStatus": 503, "percent": 100}},
        "mirror": {"name": "reviews", "labels": {"version": "v2"}},
        "corsPolicy": {"allowOrigin": ["https://a.example"], "allowMethods": ["GET"],
                       "maxAge": "24h", "allowCredentials": True},
        "appendHeaders": {"x-canary": "1"},
        "rewrite": {"uri": "/v1"},
    }]


def test_fully_qualified_hosts_give_a_namespace():
    doc = vs([{"route": [{"destination": {"host": "reviews.prod.svc.cluster.local"}}]}],
             hosts=["reviews.prod.svc.cluster.local"])
    out, problems = convert_vs(doc)
    assert problems == {}
    assert specs(out)[0] == {"destination": {"name": "reviews", "namespace": "prod"},
                             "route": [{}]}


@pytest.mark.parametrize("retry_on,codes", [
    ("5xx", None),                                       # meshtool's default: no codes field
    ("connect-failure,reset", []),                       # only failures before a response
    ("gateway-error,409", [409, 502, 503, 504]),
    ("retriable-4xx,5xx", [409] + list(range(500, 600))),
])
def test_retry_on_becomes_retried_status_codes(retry_on, codes):
    out, problems = convert_vs(vs([{"route": [to("v1")], "retries": {
        "attempts": 2, "perTryTimeout": "1s", "retryOn": retry_on}}]), SUBSETS)
    assert problems == {}
    [spec] = specs(out)
    simple = spec["httpReqRetries"]["simpleRetry"]
    assert simple.get("codes") == codes and simple["attempts"] == 2
    retry = native.parse("RouteRule", "default", "r", spec).value.retry
    assert retry.codes == (None if codes is None else frozenset(codes))


@pytest.mark.parametrize("doc,others,field,message", [
    (vs([{"route": [to("v2")]}]), [], "spec.http[0].route[0].destination.subset",
     "needs the DestinationRule of 'reviews' (none found)"),
    (vs([{"route": [to("v9")]}]), [SUBSETS], "spec.http[0].route[0].destination.subset",
     "has no subset 'v9'"),
    (vs([{"route": [to("v1", host="ratings")]}]), [SUBSETS],
     "spec.http[0].route[0].destination.host", "routes to 'ratings'"),
    (vs([{"route": [to("v1")]}], hosts=["a", "b"]), [SUBSETS], "spec.hosts",
     "needs exactly one host"),
    (vs([{"route": [to("v1")]}], hosts=["www.example.com"]), [], "spec.hosts[0]",
     "is not a service of the mesh"),
    (vs([{"route": [to("v1")]}], tcp=[{}]), [SUBSETS], "spec.tcp", "only HTTP routes convert"),
    (vs([{"route": [to("v1")]}], gateways=["ingress"]), [SUBSETS],
     "spec.http[0].route[0].destination.subset", "behind the gateway"),
    (vs([{"route": [to("v1")], "retries": {"attempts": 2, "retryOn": "5xx,cancelled"}}]),
     [SUBSETS], "spec.http[0].retries.retryOn", "'cancelled' cannot be converted"),
    (vs([{"route": [to("v1")], "retries": {"attempts": 2, "retryOn": 503}}]), [SUBSETS],
     "spec.http[0].retries.retryOn", "must be a string"),
    (vs([{"route": [to("v1")], "mirrorPercentage": {"value": 5}}]), [SUBSETS],
     "spec.http[0].mirrorPercentage", "cannot be converted"),
    (vs([{"match": [{"ignoreUriCase": True}], "route": [to("v1")]}]), [SUBSETS],
     "spec.http[0].match[0].ignoreUriCase", "ignoreUriCase cannot be converted"),
    (vs([{"match": [{"sourceLabels": {"version": "v1"}}], "route": [to("v1")]}]), [SUBSETS],
     "spec.http[0].match[0].sourceLabels", "needs an 'app' label"),
    (vs([{"route": [{"destination": {"host": "reviews", "port": {"number": 9080}}}]}]), [],
     "spec.http[0].route[0].destination.port", "port cannot be converted"),
    (vs([{"route": [to("v1")], "headers": {"trailers": {"add": {"a": "b"}}}}]), [SUBSETS],
     "spec.http[0].headers.trailers", "request and response header changes convert"),
    (vs([{"route": [to("v1")], "redirect": {"uri": "/a", "scheme": "https"}}]), [SUBSETS],
     "spec.http[0].redirect.scheme", "scheme cannot be converted"),
    (vs([{"route": [to("v1")], "fault": {"abort": {"grpcStatus": "UNAVAILABLE"}}}]), [SUBSETS],
     "spec.http[0].fault.abort.grpcStatus", "grpcStatus cannot be converted"),
    (vs([{"route": [to("v1")], "corsPolicy": {"allowOrigins": [{"regex": ".*"}]}}]), [SUBSETS],
     "spec.http[0].corsPolicy.allowOrigins[0]", "only exact origins convert"),
    (vs([]), [], "spec.http", "needs at least one HTTP route"),
])
def test_virtual_service_problems_name_the_field(doc, others, field, message):
    _, problems = convert_vs(doc, *others)
    assert field in problems, problems
    assert message in problems[field]


def test_destination_rule_with_subsets_only_yields_nothing():
    out = net.convert_destination_rule(SUBSETS, Context([SUBSETS]))
    assert out.problems == [] and out.converted == []


def test_destination_rule_traffic_policies_become_destination_policies():
    doc = dr([{"name": "v1", "labels": {"version": "v1"},
               "trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}}}],
             trafficPolicy={
                 "loadBalancer": {"simple": "LEAST_REQUEST"},
                 "connectionPool": {"tcp": {"maxConnections": 100},
                                    "http": {"http1MaxPendingRequests": 10,
                                             "http2MaxRequests": 50,
                                             "maxRequestsPerConnection": 1, "maxRetries": 3}},
                 "outlierDetection": {"consecutive5xxErrors": 7, "interval": "5m",
                                      "baseEjectionTime": "15m", "maxEjectionPercent": 50}})
    out = net.convert_destination_rule(doc, Context([doc]))
    assert out.problems == []
    assert [(c.manifest["kind"], c.manifest["metadata"]["name"]) for c in out.converted] == [
        ("DestinationPolicy", "reviews"), ("DestinationPolicy", "reviews-v1")]
    assert out.converted[0].manifest["spec"] == {
        "destination": {"name": "reviews"},
        "loadBalancing": {"name": "LEAST_CONN"},
        "circuitBreaker": {"simpleCb": {
            "maxConnections": 100, "httpMaxPendingRequests": 10, "httpMaxRequests": 50,
            "httpMaxRequestsPerConnection": 1, "httpMaxRetries": 3, "httpConsecutiveErrors": 7,
            "httpDetectionInterval": "5m", "sleepWindow": "15m", "httpMaxEjectionPercent": 50}}}
    assert out.converted[1].manifest["spec"] == {
        "destination": {"name": "reviews", "labels": {"version": "v1"}},
        "loadBalancing": {"name": "RANDOM"}}


@pytest.mark.parametrize("policy,field", [
    ({"tls": {"mode": "SIMPLE"}}, "spec.trafficPolicy.tls.mode"),
    ({"tls": {"mode": "ISTIO_MUTUAL", "sni": "x"}}, "spec.trafficPolicy.tls.sni"),
    ({"loadBalancer": {"consistentHash": {}}}, "spec.trafficPolicy.loadBalancer.consistentHash"),
    ({"connectionPool": {"tcp": {"connectTimeout": "1s"}}},
     "spec.trafficPolicy.connectionPool.tcp.connectTimeout"),
    ({"outlierDetection": {"splitExternalLocalOriginErrors": True}},
     "spec.trafficPolicy.outlierDetection.splitExternalLocalOriginErrors"),
])
def test_destination_rule_problems(policy, field):
    doc = dr(trafficPolicy=policy)
    out = net.convert_destination_rule(doc, Context([doc]))
    assert field in {format_path(p) for p, _ in out.problems}


def se(**spec):
    body = {"hosts": ["msgd.example.com"], "ports": [{"number": 9997, "name": "http",
                                                       "protocol": "HTTP"}],
            "location": "MESH_EXTERNAL", "resolution": "DNS", **spec}
    return {"apiVersion": API, "kind": "ServiceEntry", "metadata": {"name": "msgd"}, "spec": body}


def test_service_entry_becomes_egress_rules_one_per_host():
    doc = se(hosts=["msgd.example.com", "*.example.org"])
    out = net.convert_service_entry(doc, Context([doc]))
    assert out.problems == []
    assert [c.manifest["metadata"]["name"] for c in out.converted] == ["msgd-0", "msgd-1"]
    assert out.converted[1].manifest["spec"] == {
        "destination": {"service": "*.example.org"},
        "ports": [{"port": 9997, "protocol": "http"}]}


@pytest.mark.parametrize("spec,field,message", [
    ({"location": "MESH_INTERNAL"}, "spec.location", "need no egress rule"),
    ({"resolution": "STATIC"}, "spec.resolution", "by DNS"),
    ({"endpoints": [{"address": "1.2.3.4"}]}, "spec.endpoints", "endpoints cannot be converted"),
    ({"ports": [{"number": 443, "protocol": "TLS"}]}, "spec.ports[0].protocol", "use https"),
    ({"ports": [{"number": 443, "protocol": "HTTPS", "targetPort": 8443}]},
     "spec.ports[0].targetPort", "cannot be converted"),
    ({"hosts": []}, "spec.hosts", "needs at least one host"),
])
def test_service_entry_problems(spec, field, message):
    doc = se(**spec)
    out = net.convert_service_entry(doc, Context([doc]))
    problems = {format_path(p): m for p, m in out.problems}
    assert field in problems, problems
    assert message in problems[field]


def test_locality_lb_setting_becomes_the_native_locality():
    doc = dr(trafficPolicy={"loadBalancer": {"localityLbSetting": {
        "enabled": True, "failoverPriority": ["topology.istio.io/cluster",
                                              "topology.kubernetes.io/zone"],
        "distribute": [{"from": "r1/*", "to": {"r2/*": 100}}]}}})
    out = net.convert_destination_rule(doc, Context([doc]))
    assert out.converted[0].manifest["spec"]["loadBalancing"] == {"locality": {
        "enabled": True,
        "failoverPriority": ["topology.meshtool.io/cluster", "topology.kubernetes.io/zone"]}}
    assert "spec.trafficPolicy.loadBalancer.localityLbSetting.distribute" in {
        format_path(p) for p, _ in out.problems}


def test_short_hosts_name_their_namespace_and_reach_its_service_in_the_sidecar():
    """`helloworld.app1` (the multi-cluster walkthrough's hosts) is the Service helloworld of
    namespace app1, wherever the VirtualService is; the DestinationRule for that host gives
    the subsets, and the sidecar routes a request for helloworld.app1 to them."""
    from mitmproxy import http
    from mitmproxy.test import tflow

    from meshtool.discovery.protocol import Identity
    from meshtool.sidecar.addons.routing import Routing
    from meshtool.sidecar.snapshot import compile_snapshot

    subsets = dr([{"name": "v2", "labels": {"version": "v2"}}], host="helloworld.app1",
                 name="helloworld")
    out, problems = convert_vs(vs([{"route": [to("v2", host="helloworld.app1")]}],
                                  hosts=("helloworld.app1",), name="helloworld"), subsets)
    assert problems == {}
    [spec] = [c.manifest["spec"] for c in out.converted]
    assert spec["destination"] == {"name": "helloworld", "namespace": "app1"}
    assert spec["route"] == [{"labels": {"version": "v2"}}]
    rules = [{**c.manifest, "metadata": {**c.manifest["metadata"], "namespace": "sleep-ns"}}
             for c in out.converted]
    snap = compile_snapshot({"version": "1", "rules": rules, "services": [
        {"name": "helloworld", "namespace": ns, "ports": [5000], "endpoints": [
            {"address": "127.0.0.1", "port": 1, "labels": {"version": "v1"}},
            {"address": "127.0.0.2", "port": 1, "labels": {"version": "v2"}}]}
        for ns in ("app1", "sleep-ns")]}, Identity(service="sleep", namespace="sleep-ns"))

    class State:
        snapshot = snap

    for host, routed in (("helloworld.app1", True), ("helloworld", False)):
        flow = tflow.tflow()
        flow.request = http.Request.make("GET", f"http://{host}:5000/hello")
        Routing(State()).request(flow)
        assert (flow.metadata["meshtool.service"].namespace,
                flow.metadata.get("meshtool.rule") is not None) == (
            "app1" if routed else "sleep-ns", routed), host
        if routed:
            assert flow.metadata["meshtool.subset"].labels == {"version": "v2"}
