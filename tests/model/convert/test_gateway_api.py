"""Gateway API HTTPRoute / GRPCRoute with a Service parent (GAMMA) -> RouteRules."""

import pytest

from meshtool.model import native
from meshtool.model.convert import Context, converter_for
from meshtool.rules.yamlio import format_path

# no port: the route holds for every port of the Service (a parent's port is a test of its own)
PARENT = [{"group": "", "kind": "Service", "name": "benigno"}]


def route(rules, parents=PARENT, kind="HTTPRoute", api="gateway.networking.k8s.io/v1", **spec):
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "canary"},
            "spec": {"parentRefs": parents, "rules": rules, **spec}}


def convert(doc):
    out = converter_for(doc["apiVersion"], doc["kind"])(doc, Context([doc]))
    return out, {format_path(p): m for p, m in out.problems}


def specs(out):
    return [c.manifest["spec"] for c in out.converted]


def through_sidecar(out, urls, services=("benigno",), ports=(5000,)):
    """The converted rules through the sidecar's own compile and Routing addon, on mitmproxy
    flows: {url: the flow after routing}."""
    from mitmproxy import http
    from mitmproxy.test import tflow

    from meshtool.discovery.protocol import Identity
    from meshtool.sidecar.addons.routing import Routing
    from meshtool.sidecar.snapshot import compile_snapshot

    snap = compile_snapshot({"version": "1", "services": [
        {"name": name, "ports": list(ports), "endpoints": [{"address": "127.0.0.1", "port": 1}]}
        for name in services], "rules": [c.manifest for c in out.converted]},
        Identity(service="caller"))

    class State:
        snapshot = snap

    flows = {}
    for url in urls:
        flow = tflow.tflow()
        flow.request = http.Request.make("GET", url)
        Routing(State()).request(flow)
        flows[url] = flow
    return flows


def test_weighted_backends_become_a_90_10_split_that_the_model_accepts():
    out, problems = convert(route([{"backendRefs": [
        {"name": "benigno-v1", "port": 5000, "weight": 9},
        {"name": "benigno-v2", "port": 5000, "weight": 1}]}]))
    assert problems == {}
    [spec] = specs(out)
    assert spec == {"destination": {"name": "benigno"}, "route": [
        {"destination": {"name": "benigno-v1"}, "weight": 90},
        {"destination": {"name": "benigno-v2"}, "weight": 10}]}
    parsed = native.parse("RouteRule", "default", "canary", spec)
    assert parsed.problems == []
    assert [(w.service.name, w.weight) for w in parsed.value.split] == [
        ("benigno-v1", 90), ("benigno-v2", 10)]


def test_matches_are_or_across_and_within_each_one():
    out, problems = convert(route([{
        "matches": [{"path": {"type": "PathPrefix", "value": "/api"}, "method": "GET",
                     "headers": [{"name": "X-User", "value": "jason"}]},
                    {"path": {"type": "RegularExpression", "value": "/v[12]/.*"}}],
        "filters": [{"type": "RequestHeaderModifier",
                     "requestHeaderModifier": {"set": [{"name": "X-Canary", "value": "1"}]}}],
        "timeouts": {"request": "2s"},
        "backendRefs": [{"name": "benigno", "port": 5000}]}]))
    assert problems == {}
    # PathPrefix /api is segment-wise: two native rules, exact /api and prefix /api/
    exact, prefix, second = specs(out)
    assert exact["match"]["request"]["headers"] == {
        "uri": {"exact": "/api"}, "method": {"exact": "GET"}, "x-user": {"exact": "jason"}}
    assert prefix["match"]["request"]["headers"]["uri"] == {"prefix": "/api/"}
    assert second["match"]["request"]["headers"] == {"uri": {"regex": "/v[12]/.*"}}
    assert (exact["precedence"], prefix["precedence"], second["precedence"]) == (1, 1, 0)
    assert exact["requestHeaders"] == {"set": {"X-Canary": "1"}} and exact["route"] == [{}]
    assert exact["httpReqTimeout"] == {"simpleTimeout": {"timeout": "2s"}}
    assert [c.manifest["metadata"]["name"] for c in out.converted] == [
        "canary-0", "canary-1", "canary-2"]


@pytest.mark.parametrize("value,rewrite,requests", [
    # (PathPrefix, URLRewrite path or None, {request path: rewritten path, or None: no match})
    ("/api", None, {"/api": "/api", "/api/v1": "/api/v1", "/api?x=1": "/api?x=1",
                    "/apis": None, "/ap": None}),
    ("/api/", None, {"/api": "/api", "/api/": "/api/", "/apis": None}),
    ("/api", {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/v2"},
     {"/api": "/v2", "/api/users?id=7": "/v2/users?id=7", "/apix": None}),
    ("/api", {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"},
     {"/api": "/", "/api/users": "/users"}),
    ("/api", {"type": "ReplaceFullPath", "replaceFullPath": "/all"},
     {"/api/users?id=7": "/all?id=7", "/api": "/all", "/apis": None}),
])
def test_path_prefix_matches_whole_segments_in_the_sidecar(value, rewrite, requests):
    """Through the sidecar's own compile and Routing addon, on mitmproxy flows."""
    rule = {"matches": [{"path": {"type": "PathPrefix", "value": value}}],
            "backendRefs": [{"name": "benigno", "port": 5000}]}
    if rewrite:
        rule["filters"] = [{"type": "URLRewrite", "urlRewrite": {"path": rewrite}}]
    out, problems = convert(route([rule]))
    assert problems == {}
    flows = through_sidecar(out, [f"http://benigno:5000{path}" for path in requests])
    for path, expected in requests.items():
        flow = flows[f"http://benigno:5000{path}"]
        matched = flow.metadata.get("meshtool.rule")
        assert (matched is not None) == (expected is not None), path
        if expected is not None:
            assert flow.request.path == expected, path


def test_no_backend_or_only_zero_weights_answer_500():
    for rule in ({}, {"backendRefs": [{"name": "benigno", "weight": 0}]}):
        out, problems = convert(route([rule]))
        assert problems == {}
        assert specs(out)[0]["httpFault"] == {"abort": {"percent": 100, "httpStatus": 500}}


def test_grpc_method_match_is_the_path():
    out, problems = convert(route([{"matches": [{"method": {"service": "helloworld.Greeter",
                                                             "method": "SayHello"}}],
                                    "backendRefs": [{"name": "benigno"}]}],
                                  kind="GRPCRoute"))
    assert problems == {}
    assert specs(out)[0]["match"]["request"]["headers"] == {
        "uri": {"exact": "/helloworld.Greeter/SayHello"}}


@pytest.mark.parametrize("doc,field,message", [
    (route([{"backendRefs": [{"name": "b"}]}], parents=[{"kind": "Deployment", "name": "gw"}]),
     "spec.parentRefs[0].kind", "parents are Services (mesh routes) or Gateways (ingress)"),
    (route([{"matches": [{"queryParams": [{"name": "a", "type": "Prefix", "value": "1"}]}]}]),
     "spec.rules[0].matches[0].queryParams[0].type", "must be Exact or RegularExpression"),
    (route([{"filters": [{"type": "ExtensionRef"}]}]), "spec.rules[0].filters[0].type",
     "'ExtensionRef' filters do not convert"),
    (route([{"retry": {"attempts": 2, "codes": [503], "jitter": True}}]),
     "spec.rules[0].retry.jitter", "cannot be converted"),
    (route([{"sessionPersistence": {}}]), "spec.rules[0].sessionPersistence", "cannot be converted"),
    (route([{"filters": [{"type": "RequestMirror", "requestMirror": {
        "backendRef": {"name": "shadow"}, "percent": 10}}]}]),
     "spec.rules[0].filters[0].requestMirror.percent", "every request is mirrored"),
    (route([{"filters": [{"type": "RequestMirror", "requestMirror": {
        "backendRef": {"name": "shadow"}, "fraction": {"numerator": 1, "denominator": 2}}}]}]),
     "spec.rules[0].filters[0].requestMirror.fraction", "every request is mirrored"),
    (route([{"filters": [{"type": "RequestMirror", "requestMirror": {
        "backendRef": {"kind": "Pod", "name": "shadow"}}}]}]),
     "spec.rules[0].filters[0].requestMirror.backendRef.kind", "mirrors are Services"),
    (route([{"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https"}}]}]),
     "spec.rules[0].filters[0].requestRedirect.scheme", "cannot be converted"),
    (route([{"filters": [{"type": "RequestRedirect", "requestRedirect": {"statusCode": 307}}]}]),
     "spec.rules[0].filters[0].requestRedirect.statusCode", "cannot be converted"),
    (route([{"filters": [{"type": "RequestRedirect", "requestRedirect": {"statusCode": 301}}]}]),
     "spec.rules[0].filters[0].requestRedirect", "needs hostname or path"),
    (route([{"timeouts": {"request": 10}}]), "spec.rules[0].timeouts.request",
     "must be a duration"),
    (route([{"timeouts": {"backendRequest": "soon"}}]), "spec.rules[0].timeouts.backendRequest",
     "must be a duration"),
    (route([{}], hostnames=["10.0.0.1"]), "spec.hostnames[0]", "no IP address"),
    (route([{}], hostnames=["benigno:5000"]), "spec.hostnames[0]", "no port"),
    (route([{}], hostnames="benigno"), "spec.hostnames", "must be a list"),
    (route([{"backendRefs": [{"name": "benigno", "port": 0}]}]),
     "spec.rules[0].backendRefs[0].port", "must be a port number"),
    (route([{"filters": [{"type": "RequestMirror", "requestMirror": {
        "backendRef": {"name": "shadow", "port": "http"}}}]}]),
     "spec.rules[0].filters[0].requestMirror.backendRef.port", "must be a port number"),
    (route([{"filters": [{"type": "URLRewrite", "urlRewrite": {"hostname": "x"}}]}],
           kind="GRPCRoute"), "spec.rules[0].filters[0].type", "GRPCRoute has no URLRewrite"),
    (route([{"retry": {"attempts": 2}}], kind="GRPCRoute"), "spec.rules[0].retry",
     "cannot be converted"),
    (route([{"matches": [{"headers": [{"name": "x", "value": "1", "invert": True}]}]}]),
     "spec.rules[0].matches[0].headers[0].invert", "cannot be converted"),
    (route([{"matches": [{"path": {"value": "/a", "caseInsensitive": True}}]}]),
     "spec.rules[0].matches[0].path.caseInsensitive", "cannot be converted"),
    (route([{"filters": [{"type": "RequestMirror", "requestMirror": {
        "backendRef": {"name": "shadow"}}, "urlRewrite": {"hostname": "x"}}]}]),
     "spec.rules[0].filters[0].urlRewrite", "cannot be converted"),
    (route([{"filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {
        "set": [{"name": "x", "value": "1", "append": True}]}}]}]),
     "spec.rules[0].filters[0].requestHeaderModifier.set[0].append", "cannot be converted"),
    (route([{}], parents=[{"kind": "Service", "name": "benigno", "port": "http"}]),
     "spec.parentRefs[0].port", "must be a port number"),
])
def test_what_does_not_convert_is_refused_naming_the_field(doc, field, message):
    _, problems = convert(doc)
    assert field in problems and message in problems[field], problems


def test_retry_codes_and_backoff_reach_the_model():
    out, problems = convert(route([{
        "backendRefs": [{"name": "benigno", "port": 5000}],
        "timeouts": {"backendRequest": "500ms"},
        "retry": {"attempts": 3, "codes": [502, 503], "backoff": "100ms"}}]))
    assert problems == {}
    [spec] = specs(out)
    parsed = native.parse("RouteRule", "default", "canary", spec)
    assert parsed.problems == []
    assert parsed.value.retry == (3, 0.5, frozenset({502, 503}), 0.1)


def test_header_modifiers_set_add_and_remove_on_requests_and_responses():
    out, problems = convert(route([{
        "filters": [
            {"type": "RequestHeaderModifier", "requestHeaderModifier": {
                "set": [{"name": "X-Env", "value": "canary"}], "remove": ["X-Debug"]}},
            {"type": "ResponseHeaderModifier", "responseHeaderModifier": {
                "add": [{"name": "X-Served-By", "value": "mesh"}], "remove": ["Server"]}}],
        "backendRefs": [{"name": "benigno", "port": 5000}]}]))
    assert problems == {}
    [spec] = specs(out)
    parsed = native.parse("RouteRule", "default", "canary", spec)
    assert parsed.problems == []
    route_ = parsed.value
    assert (dict(route_.request_headers.set), route_.request_headers.remove) == (
        {"x-env": "canary"}, ("x-debug",))
    assert (dict(route_.response_headers.add), route_.response_headers.remove) == (
        {"x-served-by": "mesh"}, ("server",))


def test_a_bad_header_name_is_refused_by_the_native_checks():
    out, _ = convert(route([{"filters": [{"type": "ResponseHeaderModifier",
                                          "responseHeaderModifier": {"remove": ["bad name"]}}],
                             "backendRefs": [{"name": "benigno"}]}]))
    parsed = native.parse("RouteRule", "default", "canary", specs(out)[0])
    assert [(format_path(p), m) for p, m in parsed.problems] == [
        ("spec.responseHeaders.remove", "must be a list of header names")]


def test_query_params_match_in_the_sidecar():
    """HTTPRoute queryParams through the native model to the sidecar's own Routing addon."""
    out, problems = convert(route([{
        "matches": [{"path": {"type": "Exact", "value": "/hw"},
                     "queryParams": [{"name": "lang", "value": "en"},
                                     {"name": "v", "type": "RegularExpression", "value": "[0-9]+"}]}],
        "backendRefs": [{"name": "benigno", "port": 5000}]}]))
    assert problems == {}
    [spec] = specs(out)
    assert spec["match"]["request"] == {"headers": {"uri": {"exact": "/hw"}}, "queryParams": {
        "lang": {"exact": "en"}, "v": {"regex": "[0-9]+"}}}
    cases = {"lang=en&v=12": True, "v=12&lang=en": True, "lang=EN&v=12": False,
             "lang=en&v=x": False, "lang=en": False, "": False,
             "lang=en&lang=fr&v=1": True}  # the first value counts
    flows = through_sidecar(out, [f"http://benigno:5000/hw?{q}" for q in cases])
    for query, matches in cases.items():
        flow = flows[f"http://benigno:5000/hw?{query}"]
        assert (flow.metadata.get("meshtool.rule") is not None) == matches, query


GATEWAY = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
           "metadata": {"name": "edge"},
           "spec": {"gatewayClassName": "meshtool", "listeners": [
               {"name": "web", "port": 8080, "protocol": "HTTP", "hostname": "shop.example.com"},
               {"name": "tls", "port": 8443, "protocol": "HTTPS", "hostname": "shop.example.com",
                "tls": {"certificateRefs": [{"name": "shop-cert"}]}}]}}


def test_a_gateway_parent_makes_gateway_routes_with_the_listener_hostnames():
    doc = route([{"matches": [{"path": {"type": "PathPrefix", "value": "/shop"}}],
                  "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {
                      "type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}],
                  "backendRefs": [{"name": "magnanimo", "port": 4000, "weight": 3},
                                  {"name": "other", "port": 80, "weight": 1}]}],
                parents=[{"name": "edge"}])
    out = converter_for(doc["apiVersion"], "HTTPRoute")(doc, Context([doc, GATEWAY]))
    assert out.problems == [] and out.unresolved == []
    [item] = out.converted
    assert item.manifest["kind"] == "GatewayRoute"
    assert item.manifest["spec"] == {
        "path": {"prefix": "/shop"}, "rewrite": {"prefix": "/"}, "hosts": ["shop.example.com"],
        "backends": [{"service": {"name": "magnanimo"}, "port": 4000, "weight": 75},
                     {"service": {"name": "other"}, "port": 80, "weight": 25}]}
    parsed = native.parse("GatewayRoute", "default", "canary-gw", item.manifest["spec"])
    assert parsed.problems == []


def test_a_missing_parent_gateway_leaves_the_route_unresolved_and_another_class_is_skipped():
    doc = route([{"backendRefs": [{"name": "b"}]}], parents=[{"name": "edge"}])
    out = converter_for(doc["apiVersion"], "HTTPRoute")(doc, Context([doc]))
    assert [(format_path(p), m) for p, m in out.unresolved] == [
        ("spec.parentRefs[0]", "parentRef Gateway 'edge' not found")]
    theirs = {**GATEWAY, "spec": {**GATEWAY["spec"], "gatewayClassName": "istio"}}
    out = converter_for(doc["apiVersion"], "HTTPRoute")(doc, Context([doc, theirs]))
    assert out.problems == out.unresolved == out.converted == []


@pytest.mark.parametrize("listener, field, message", [
    ({"name": "x", "port": 53, "protocol": "UDP"}, "spec.listeners[0].protocol",
     "protocol 'UDP' is not supported: HTTP or HTTPS"),
    ({"name": "x", "port": 443, "protocol": "HTTPS"}, "spec.listeners[0].tls.certificateRefs",
     "an HTTPS listener needs certificateRefs to Secrets"),
])
def test_a_bad_gateway_listener_is_refused(listener, field, message):
    gw = {**GATEWAY, "spec": {"gatewayClassName": "meshtool", "listeners": [listener]}}
    out = converter_for(gw["apiVersion"], "Gateway")(gw, Context([gw]))
    assert {format_path(p): m for p, m in out.problems} == {field: message}


def test_hostnames_restrict_a_mesh_route_to_those_hosts_in_the_sidecar():
    """Port and case ignored; *.svc.cluster.local matches any name under svc.cluster.local. A
    request for another of the Service's names reaches the Service without this route."""
    out, problems = convert(route([{"matches": [{"path": {"type": "Exact", "value": "/hw"}}],
                                    "backendRefs": [{"name": "benigno"}]},
                                   {"backendRefs": [{"name": "benigno"}]}],
                                  hostnames=["benigno", "*.svc.cluster.local"]))
    assert problems == {}
    assert specs(out)[0]["match"]["request"]["headers"]["authority"] == {
        "regex": "(?i)(benigno|.+\\.svc\\.cluster\\.local)(:[0-9]+)?"}
    assert specs(out)[1]["match"]["request"]["headers"].keys() == {"authority"}  # no matches
    cases = {"http://benigno:5000/hw": True, "http://BENIGNO/x": True,
             "http://benigno.default.svc.cluster.local:5000/": True,
             "http://benigno.default:5000/hw": False}
    flows = through_sidecar(out, cases)
    for url, matches in cases.items():
        assert flows[url].metadata["meshtool.service"].name == "benigno"
        assert (flows[url].metadata.get("meshtool.rule") is not None) == matches, url


def test_redirect_rewrite_and_mirror_filters_in_the_sidecar():
    out, problems = convert(route([
        {"matches": [{"path": {"type": "Exact", "value": "/old"}}],
         "filters": [{"type": "RequestRedirect", "requestRedirect": {
             "hostname": "benigno.default", "path": {"type": "ReplaceFullPath",
                                                      "replaceFullPath": "/new"}}}]},
        {"matches": [{"path": {"type": "Exact", "value": "/gone"}}],
         "filters": [{"type": "RequestRedirect", "requestRedirect": {
             "statusCode": 301, "path": {"type": "ReplaceFullPath", "replaceFullPath": "/"}}}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
         "filters": [{"type": "URLRewrite", "urlRewrite": {
             "hostname": "benigno-api", "path": {"type": "ReplacePrefixMatch",
                                                  "replacePrefixMatch": "/v2"}}},
                     {"type": "RequestMirror", "requestMirror": {
                         "backendRef": {"name": "shadow", "port": 5000}, "percent": 100}}],
         "backendRefs": [{"name": "benigno"}]}]))
    assert problems == {}
    flows = through_sidecar(out, ["http://benigno:5000/old", "http://benigno:5000/gone",
                                  "http://benigno:5000/api/users?x=1"],
                            services=("benigno", "shadow"))
    old = flows["http://benigno:5000/old"].response
    assert (old.status_code, old.headers["location"]) == (302, "http://benigno.default/new")
    assert flows["http://benigno:5000/gone"].response.status_code == 301
    api = flows["http://benigno:5000/api/users?x=1"]
    assert api.response is None
    assert (api.request.path, api.request.host_header) == ("/v2/users?x=1", "benigno-api")
    rule = api.metadata["meshtool.rule"]
    assert rule.route.mirror.service.name == "shadow"


@pytest.mark.parametrize("timeouts,retry,timeout,per_try", [
    ({"request": "10s"}, None, 10.0, None),
    ({"backendRequest": "2s"}, None, 2.0, None),  # one try: it limits the request
    ({"request": "10s", "backendRequest": "2s"}, None, 2.0, None),
    ({"request": "1s", "backendRequest": "2s"}, None, 1.0, None),
    ({"request": "10s", "backendRequest": "2s"}, {"attempts": 3}, 10.0, 2.0),
    ({"request": "0s"}, None, None, None),  # zero disables the timeout
])
def test_timeouts_reach_the_model(timeouts, retry, timeout, per_try):
    rule = {"timeouts": timeouts, "backendRefs": [{"name": "benigno"}]}
    if retry:
        rule["retry"] = retry
    out, problems = convert(route([rule]))
    assert problems == {}
    parsed = native.parse("RouteRule", "default", "canary", specs(out)[0])
    assert parsed.problems == []
    assert parsed.value.timeout == timeout
    assert (parsed.value.retry.per_try_timeout if parsed.value.retry else None) == per_try


def test_a_zero_weight_backend_gets_no_traffic():
    out, problems = convert(route([{"backendRefs": [{"name": "benigno-v1", "weight": 1},
                                                    {"name": "benigno-v2", "weight": 0}]}]))
    assert problems == {}
    flows = through_sidecar(out, [f"http://benigno:5000/{i}" for i in range(20)],
                            services=("benigno", "benigno-v1", "benigno-v2"))
    assert {f.metadata["meshtool.subset"].service.name for f in flows.values()} == {"benigno-v1"}


def test_precedence_follows_the_specifications_order_of_matches_not_the_list_order():
    """Exact path, then the longest prefix, then method, headers, query parameters; ties in
    the route's order."""
    matches = [{"path": {"type": "PathPrefix", "value": "/"}},                      # 5
               {"path": {"type": "PathPrefix", "value": "/api"}},                   # 4
               {"path": {"type": "PathPrefix", "value": "/api"}, "method": "GET"},  # 2
               {"path": {"type": "Exact", "value": "/api"}},                        # 0
               {"path": {"type": "PathPrefix", "value": "/api"},
                "headers": [{"name": "x", "value": "1"}]},                           # 3
               {"path": {"type": "PathPrefix", "value": "/api/users"}},             # 1
               {"path": {"type": "RegularExpression", "value": "/a.*"}}]            # 6
    out, problems = convert(route([{"matches": matches, "backendRefs": [{"name": "benigno"}]}]))
    assert problems == {}
    by_match = {}
    for spec in specs(out):
        headers = spec["match"]["request"]["headers"] if "match" in spec else {}
        by_match.setdefault(spec["precedence"], []).append(headers)
    ranked = [by_match[p] for p in sorted(by_match, reverse=True)]
    assert [len(r) for r in ranked] == [1, 2, 2, 2, 2, 1, 1]  # a PathPrefix makes two rules
    assert ranked[0] == [{"uri": {"exact": "/api"}}]
    assert ranked[1][0] == {"uri": {"exact": "/api/users"}}
    assert ranked[2][0] == {"uri": {"exact": "/api"}, "method": {"exact": "GET"}}
    assert ranked[3][0] == {"uri": {"exact": "/api"}, "x": {"exact": "1"}}
    assert ranked[4][0] == {"uri": {"exact": "/api"}}
    assert ranked[6] == [{"uri": {"regex": "/a.*"}}]
    # through the sidecar: GET /api/v1 takes the method's match, before the bare /api prefix
    flows = through_sidecar(out, ["http://benigno:5000/api/v1", "http://benigno:5000/api/users/7"])
    assert flows["http://benigno:5000/api/v1"].metadata["meshtool.rule"].precedence == 4
    assert flows["http://benigno:5000/api/users/7"].metadata["meshtool.rule"].precedence == 5


def test_a_parent_port_limits_the_route_to_calls_to_that_service_port_in_the_sidecar():
    """GAMMA: a parentRef with a port attaches the route to that port of the Service only."""
    out, problems = convert(route([{"backendRefs": [{"name": "benigno-v2", "port": 5001}]}],
                                  parents=[{"kind": "Service", "name": "benigno", "port": 5001}]))
    assert problems == {}
    [spec] = specs(out)
    assert spec["match"] == {"request": {"headers": {"port": {"exact": "5001"}}}}
    flows = through_sidecar(out, ["http://benigno:5001/", "http://benigno:5000/"],
                            services=("benigno", "benigno-v2"), ports=(5000, 5001))
    assert flows["http://benigno:5001/"].metadata["meshtool.rule"].name == "default/canary"
    assert "meshtool.rule" not in flows["http://benigno:5000/"].metadata  # the other port
