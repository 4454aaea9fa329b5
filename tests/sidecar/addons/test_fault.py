import asyncio
from collections import Counter

from meshtool.sidecar.addons.fault import Fault
from meshtool.sidecar.addons.routing import Routing
from meshtool.sidecar.state import SidecarState


def test_abort_and_delay_hit_exact_rates(canary, make_rule, chain, outbound_flow):
    doc = canary(100, 0, extra_rules=[make_rule("RouteRule", "faulty", {
        "destination": {"name": "benigno"}, "precedence": 1,
        "httpFault": {"abort": {"percent": 25, "httpStatus": 418},
                      "delay": {"percent": 10, "fixedDelay": "1ms"}}})])
    st = SidecarState()
    st.apply_snapshot(doc)
    addons = [Routing(st), Fault()]

    async def many():
        out = Counter()
        for _ in range(200):
            f = await chain(addons).run(outbound_flow())
            out[f.metadata.get("meshtool.fault")] += 1
            if f.response is not None:
                assert f.response.status_code == 418
                assert "abort" in f.response.headers["x-meshtool-fault"]
        return out

    counts = asyncio.run(many())
    aborts = counts["abort"] + counts["delay+abort"]
    delays = counts["delay"] + counts["delay+abort"]
    assert (aborts, delays) == (50, 20)
