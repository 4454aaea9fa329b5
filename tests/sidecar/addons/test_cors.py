import asyncio

from mitmproxy import http

from meshtool.sidecar.addons.cors import Cors
from meshtool.sidecar.addons.routing import Routing
from meshtool.sidecar.state import SidecarState


def _addons(canary, make_rule):
    doc = canary(extra_rules=[make_rule("RouteRule", "cors", {
        "destination": {"name": "benigno"}, "precedence": 1,
        "corsPolicy": {"allowOrigin": ["http://app.example.com"], "allowMethods": ["GET", "POST"],
                       "allowHeaders": ["x-user"], "exposeHeaders": ["x-version"],
                       "maxAge": "24h", "allowCredentials": True}})])
    st = SidecarState()
    st.apply_snapshot(doc)
    return [Routing(st), Cors()]


def test_preflight_is_answered_by_the_sidecar(canary, make_rule, chain, outbound_flow):
    f = asyncio.run(chain(_addons(canary, make_rule)).run(outbound_flow(method="OPTIONS", headers={
        "origin": "http://app.example.com", "access-control-request-method": "POST"})))
    h = f.response.headers
    assert f.response.status_code == 200
    assert h["access-control-allow-origin"] == "http://app.example.com"
    assert h["access-control-allow-methods"] == "GET,POST"
    assert h["access-control-allow-credentials"] == "true"
    assert h["access-control-max-age"] == "86400"  # seconds, as browsers read it


def test_simple_request_gets_allow_headers_only_for_allowed_origins(canary, make_rule, outbound_flow):
    routing, cors = _addons(canary, make_rule)
    for origin, allowed in (("http://app.example.com", True), ("http://evil.example", False)):
        f = outbound_flow(headers={"origin": origin})
        routing.request(f)
        cors.request(f)
        assert f.response is None
        f.response = http.Response.make(200)
        cors.response(f)
        assert ("access-control-allow-origin" in f.response.headers) is allowed
