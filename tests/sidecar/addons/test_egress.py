import asyncio

from meshtool.sidecar.addons.egress import Egress, allowing_rule
from meshtool.sidecar.addons.routing import Routing
from meshtool.sidecar.state import SidecarState


def _addons(doc):
    st = SidecarState(resolve={"msgd.example.com": "127.0.0.1"})
    st.apply_snapshot(doc)
    return [Routing(st), Egress(st)]


def test_external_host_is_refused_with_the_rule_that_would_allow_it(canary, chain, outbound_flow):
    f = asyncio.run(chain(_addons(canary())).run(outbound_flow("http://msgd.example.com:8080/send")))
    assert f.response.status_code == 403
    assert f.response.headers["x-meshtool-egress-denied"] == "msgd.example.com:8080"
    assert "service: msgd.example.com" in f.response.headers["x-meshtool-egress-needed"]
    assert b"no EgressRule allows it" in f.response.content
    assert f.metadata["meshtool.denied"] == "msgd.example.com"


def test_egress_rule_allows_host_and_port(canary, make_rule, chain, outbound_flow):
    doc = canary(extra_rules=[
        make_rule("EgressRule", "msgd", {"destination": {"service": "*.example.com"},
                                         "ports": [{"port": 8080, "protocol": "http"},
                                                   {"port": 443, "protocol": "https"}]})])
    f = asyncio.run(chain(_addons(doc)).run(outbound_flow("http://msgd.example.com:8080/send")))
    assert f.response is None
    assert f.metadata["meshtool.upstream"] == ("127.0.0.1", 8080)
    assert f.metadata["meshtool.tls"] is False
    f = asyncio.run(chain(_addons(doc)).run(outbound_flow("http://api.example.com:443/")))
    assert f.metadata["meshtool.tls"] is True
    f = asyncio.run(chain(_addons(doc)).run(outbound_flow("http://msgd.example.com:9999/")))
    assert f.response.status_code == 403
    f = asyncio.run(chain(_addons(doc)).run(outbound_flow("http://example.com:8080/")))
    assert f.response.status_code == 403


def test_most_specific_rule_wins(canary, make_rule):
    from meshtool.sidecar.snapshot import compile_snapshot
    doc = canary(extra_rules=[
        make_rule("EgressRule", "any", {"destination": {"service": "*"}}),
        make_rule("EgressRule", "exact", {"destination": {"service": "a.example.com"},
                                          "ports": [{"port": 443, "protocol": "https"}]}),
        make_rule("EgressRule", "net", {"destination": {"service": "10.0.0.0/8"},
                                        "ports": [{"port": 5432, "protocol": "tcp"}]})])
    snap = compile_snapshot(doc)
    assert allowing_rule(snap.egress, "a.example.com", 443).name == "default/exact"
    assert allowing_rule(snap.egress, "b.example.com", 80).name == "default/any"
    assert allowing_rule(snap.egress, "10.1.2.3", 5432).name == "default/net"
