import asyncio

from meshtool.sidecar.addons.egress import Egress
from meshtool.sidecar.addons.metrics import Metrics
from meshtool.sidecar.addons.routing import Routing
from meshtool.sidecar.snapshot import Identity
from meshtool.sidecar.state import SidecarState


def test_counts_by_source_destination_version_and_code(canary, chain, outbound_flow):
    from mitmproxy import http
    st = SidecarState(Identity(service="magnanimo", labels={"version": "v1"}))
    st.apply_snapshot(canary(50, 50, version="7"))
    metrics = Metrics(st)
    addons = [Routing(st), Egress(st)]
    for _ in range(4):
        f = asyncio.run(chain(addons).run(outbound_flow()))
        f.response = http.Response.make(200)
        f.metadata["meshtool.attempts"] = 2
        metrics.response(f)
    f = asyncio.run(chain(addons).run(outbound_flow("http://msgd.example.com/send")))
    metrics.response(f)
    text = metrics.render()
    for version in ("v1", "v2"):
        assert ('meshtool_requests_total{direction="outbound",source="magnanimo",destination_service='
                f'"benigno",destination_version="{version}",response_code="200"}} 2') in text
    assert 'response_code="403"} 1' in text
    assert 'meshtool_retries_total{destination_service="benigno"} 4' in text
    assert 'meshtool_egress_denied_total{host="msgd.example.com"} 1' in text
    assert 'meshtool_request_duration_seconds_count{direction="outbound",destination_service=' \
           '"benigno"} 4' in text
    assert 'meshtool_snapshot_info{version="7"} 1' in text
