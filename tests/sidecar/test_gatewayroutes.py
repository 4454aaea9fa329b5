"""The gateway's routing table: order of specificity, segment prefixes, rewrites."""

import pytest

from meshtool.model import types as t
from meshtool.sidecar.gatewayroutes import GatewayTable
from meshtool.sidecar.snapshot import compile_snapshot


def route(name, hosts=(), path=None, rewrite=None, precedence=0, backend="web"):
    kind, value = path if path else (None, None)
    return t.GatewayRoute("default", name, (t.GatewayBackend(t.ServiceRef("default", backend)),),
                          tuple(hosts), t.HeaderMatch("uri", kind, value) if path else None,
                          rewrite, precedence=precedence)


TABLE = GatewayTable([
    route("default", precedence=-1),
    route("any-api", path=("prefix", "/api")),
    route("shop-any", hosts=["shop.example.com"]),
    route("shop-api", hosts=["shop.example.com"], path=("prefix", "/api")),
    route("shop-api-v2", hosts=["shop.example.com"], path=("prefix", "/api/v2")),
    route("shop-exact", hosts=["shop.example.com"], path=("exact", "/api/v2")),
    route("wild", hosts=["*.example.com"], path=("regex", "/r/[0-9]+")),
])


@pytest.mark.parametrize("host, path, name", [
    ("shop.example.com", "/api/v2", "shop-exact"),
    ("shop.example.com", "/api/v2/x", "shop-api-v2"),
    ("shop.example.com", "/api/v20", "shop-api"),
    ("shop.example.com", "/apix", "shop-any"),
    ("x.example.com", "/r/42", "wild"),
    ("x.example.com", "/api/1", "any-api"),
    ("example.com", "/r/42", "default"),
    ("other.org", "/", "default"),
])
def test_the_most_specific_route_wins(host, path, name):
    assert TABLE.find(host, path).route.name == name


@pytest.mark.parametrize("prefix, rewrite, path, result", [
    ("/route1", "/", "/route1", "/"),
    ("/route1", "/", "/route1/hw2", "/hw2"),
    ("/route1", "/v2", "/route1/hw2", "/v2/hw2"),
    ("/api/", "/", "/api/x", "/x"),
])
def test_prefix_rewrite(prefix, rewrite, path, result):
    table = GatewayTable([route("r", path=("prefix", prefix), rewrite=rewrite)])
    assert table.find("h", path).rewrite(path) == result


def test_a_snapshot_with_a_bad_gateway_route_is_refused_whole():
    doc = {"version": "1", "services": [{"name": "web", "endpoints": []}], "rules": [
        {"apiVersion": "config.meshtool.io/v1alpha1", "kind": "GatewayRoute",
         "metadata": {"name": "bad"},
         "spec": {"hosts": ["*"], "path": {"prefix": "nope"},
                  "backends": [{"service": {"name": "web"}, "weight": 50}]}}]}
    with pytest.raises(ValueError) as err:
        compile_snapshot(doc)
    text = str(err.value)
    assert "spec.hosts[0]: '*' is not a host name" in text
    assert "spec.path.prefix: 'nope' must start with /" in text
    assert "spec.backends: weights sum to 50, must be 100" in text


def test_a_snapshot_with_gateway_routes_compiles_its_table():
    doc = {"version": "1", "services": [{"name": "web", "endpoints": []}], "rules": [
        {"apiVersion": "config.meshtool.io/v1alpha1", "kind": "GatewayRoute",
         "metadata": {"name": "r"}, "spec": {"backends": [{"service": {"name": "web"}}]}}]}
    snap = compile_snapshot(doc)
    assert len(snap.gateway) == 1 and snap.rules == {}
