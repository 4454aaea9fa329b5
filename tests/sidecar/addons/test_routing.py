import asyncio
from collections import Counter

from meshtool.sidecar.addons.routing import Routing
from meshtool.sidecar.snapshot import Identity
from meshtool.sidecar.state import SidecarState


def _state(doc):
    st = SidecarState(Identity(service="magnanimo", labels={"version": "v1"}))
    st.apply_snapshot(doc)
    return st


def test_split_is_exact_per_request(canary, chain, outbound_flow):
    routing = Routing(_state(canary(90, 10)))
    versions = Counter()
    for _ in range(100):
        f = asyncio.run(chain([routing]).run(outbound_flow()))
        versions[f.metadata["meshtool.subset"].version] += 1
        assert f.metadata["meshtool.endpoints"][0].labels["version"] == \
            f.metadata["meshtool.subset"].version
    assert versions == {"v1": 90, "v2": 10}


def test_resolves_every_service_spelling_and_marks_others_external(canary, chain, outbound_flow):
    routing = Routing(_state(canary()))
    for url in ("http://benigno:5000/", "http://benigno.default.svc.cluster.local/x",
                "http://127.0.0.1:5002/"):
        f = asyncio.run(chain([routing]).run(outbound_flow(url)))
        assert f.metadata["meshtool.service"].name == "benigno", url
    f = asyncio.run(chain([routing]).run(outbound_flow("http://msgd.example.com:8080/send")))
    assert f.metadata["meshtool.external"] == ("msgd.example.com", 8080)


def test_header_match_beats_lower_precedence(canary, make_rule, chain, outbound_flow):
    doc = canary(100, 0, extra_rules=[make_rule("RouteRule", "jason", {
        "destination": {"name": "benigno"}, "precedence": 2,
        "match": {"request": {"headers": {"cookie": {"regex": ".*user=jason.*"},
                                          "uri": {"prefix": "/hw"}}}},
        "route": [{"labels": {"version": "v2"}}], "appendHeaders": {"x-canary": "yes"}})])
    routing = Routing(_state(doc))
    f = asyncio.run(chain([routing]).run(outbound_flow(headers={"cookie": "a=1; user=jason"})))
    assert f.metadata["meshtool.subset"].version == "v2"
    assert f.request.headers["x-canary"] == "yes"
    f = asyncio.run(chain([routing]).run(outbound_flow(headers={"cookie": "user=bob"})))
    assert f.metadata["meshtool.subset"].version == "v1"
    f = asyncio.run(chain([routing]).run(outbound_flow("http://benigno:5000/other",
                                                       headers={"cookie": "user=jason"})))
    assert f.metadata["meshtool.subset"].version == "v1"


def test_redirect_and_rewrite(canary, make_rule, chain, outbound_flow):
    doc = canary(extra_rules=[
        make_rule("RouteRule", "moved", {
            "destination": {"name": "benigno"}, "precedence": 3,
            "match": {"request": {"headers": {"uri": {"exact": "/old"}}}},
            "redirect": {"uri": "/new", "authority": "benigno.default:5000"}}),
        make_rule("RouteRule", "api", {
            "destination": {"name": "benigno"}, "precedence": 2,
            "match": {"request": {"headers": {"uri": {"prefix": "/api/"}}}},
            "rewrite": {"uri": "/v2/", "authority": "benigno-api"}})])
    routing = Routing(_state(doc))
    f = asyncio.run(chain([routing]).run(outbound_flow("http://benigno:5000/old")))
    assert f.response.status_code == 301
    assert f.response.headers["location"] == "http://benigno.default:5000/new"
    f = asyncio.run(chain([routing]).run(outbound_flow("http://benigno:5000/api/users?x=1")))
    assert f.request.path == "/v2/users?x=1"
    assert f.request.host_header == "benigno-api"


def test_no_snapshot_and_empty_subset_answer_503(canary, make_rule, chain, outbound_flow):
    st = SidecarState()
    f = asyncio.run(chain([Routing(st)]).run(outbound_flow()))
    assert f.response.status_code == 503
    doc = canary(extra_rules=[make_rule("RouteRule", "v3", {
        "destination": {"name": "benigno"}, "precedence": 9, "route": [{"labels": {"version": "v3"}}]})])
    f = asyncio.run(chain([Routing(_state(doc))]).run(outbound_flow()))
    assert f.response.status_code == 503
    assert f.response.headers["x-meshtool-error"] == "no endpoints"


def test_inbound_flows_are_not_routed(canary, chain, outbound_flow):
    routing = Routing(_state(canary()), inbound_port=8080)  # tflow's listener is regular@8080
    f = asyncio.run(chain([routing]).run(outbound_flow()))
    assert f.metadata["meshtool.direction"] == "inbound"
    assert "meshtool.subset" not in f.metadata
