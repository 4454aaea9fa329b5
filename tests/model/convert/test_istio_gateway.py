"""Istio Gateway + VirtualService bound to it -> GatewayRoutes."""

import pytest

from meshtool.model import native
from meshtool.model.convert import Context, converter_for
from meshtool.rules.yamlio import format_path

GATEWAY = {"apiVersion": "networking.istio.io/v1beta1", "kind": "Gateway",
           "metadata": {"name": "bookinfo-gateway", "namespace": "shop"},
           "spec": {"selector": {"istio": "ingressgateway"}, "servers": [
               {"port": {"number": 80, "name": "http", "protocol": "HTTP"},
                "hosts": ["bookinfo.example.com"], "tls": {"httpsRedirect": True}},
               {"port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                "hosts": ["bookinfo.example.com"],
                "tls": {"mode": "SIMPLE", "credentialName": "bookinfo-cert"}}]}}


def vs(http, gateways=("bookinfo-gateway",), hosts=("bookinfo.example.com",)):
    return {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
            "metadata": {"name": "bookinfo", "namespace": "shop"},
            "spec": {"hosts": list(hosts), "gateways": list(gateways), "http": http}}


def convert(doc, *others):
    return converter_for(doc["apiVersion"], doc["kind"])(doc, Context([doc, *others]))


def test_a_virtual_service_bound_to_a_gateway_makes_gateway_routes():
    doc = vs([{"match": [{"uri": {"exact": "/productpage"}}, {"uri": {"prefix": "/static"}}],
               "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}]},
              {"match": [{"uri": {"prefix": "/api/v1"}}], "rewrite": {"uri": "/"},
               "route": [{"destination": {"host": "reviews.shop.svc.cluster.local"}, "weight": 80},
                         {"destination": {"host": "ratings"}, "weight": 20}]}])
    out = convert(doc, GATEWAY)
    assert out.problems == [] and out.unresolved == []
    specs = [c.manifest["spec"] for c in out.converted]
    assert [c.manifest["kind"] for c in out.converted] == ["GatewayRoute"] * 3
    assert specs[0] == {"path": {"exact": "/productpage"}, "hosts": ["bookinfo.example.com"],
                        "httpsRedirect": True, "backends": [
                            {"service": {"name": "productpage", "namespace": "shop"},
                             "port": 9080}]}
    assert specs[2]["rewrite"] == {"prefix": "/"}
    assert [b["weight"] for b in specs[2]["backends"]] == [80, 20]
    for c in out.converted:
        assert native.parse("GatewayRoute", "shop", c.manifest["metadata"]["name"],
                            c.manifest["spec"]).problems == []


def test_mesh_and_a_gateway_make_both_kinds():
    doc = vs([{"route": [{"destination": {"host": "reviews"}}]}],
             gateways=("mesh", "bookinfo-gateway"), hosts=("reviews",))
    out = convert(doc, GATEWAY)
    assert out.problems == []
    assert sorted(c.manifest["kind"] for c in out.converted) == ["GatewayRoute", "RouteRule"]


def test_a_missing_gateway_leaves_the_virtual_service_unresolved():
    out = convert(vs([{"route": [{"destination": {"host": "reviews"}}]}]))
    assert [(format_path(p), m) for p, m in out.unresolved] == [
        ("spec.gateways[0]", "Gateway 'bookinfo-gateway' not found")]


@pytest.mark.parametrize("http, field", [
    ([{"route": [{"destination": {"host": "reviews", "subset": "v2"}}]}],
     "spec.http[0].route[0].destination.subset"),
    ([{"match": [{"headers": {"x": {"exact": "1"}}}], "route": [{"destination": {"host": "r"}}]}],
     "spec.http[0].match[0].headers"),
    ([{"route": [{"destination": {"host": "www.example.org"}}]}],
     "spec.http[0].route[0].destination.host"),
])
def test_what_a_gateway_route_cannot_do_is_refused_naming_the_field(http, field):
    out = convert(vs(http), GATEWAY)
    assert field in {format_path(p) for p, _ in out.problems}


def test_a_bad_istio_gateway_server_is_refused():
    gw = {**GATEWAY, "spec": {"servers": [{"port": {"number": 443, "protocol": "HTTPS"},
                                           "hosts": ["a"]},
                                          {"port": {"number": 31400, "protocol": "TCP"},
                                           "hosts": ["a"]}]}}
    out = convert(gw)
    assert {format_path(p): m for p, m in out.problems} == {
        "spec.servers[0].tls": "an HTTPS server needs mode SIMPLE and a credentialName (the "
                               "gateway terminates TLS)",
        "spec.servers[1].port.protocol": "protocol 'TCP' is not supported: HTTP or HTTPS"}
