import asyncio
import importlib.util
import pathlib

from meshtool.sidecar.addons.forward import Forward
from meshtool.sidecar.addons.mirror import Mirror
from meshtool.sidecar.addons.routing import Routing
from meshtool.sidecar.state import SidecarState

_spec = importlib.util.spec_from_file_location(
    "upstream_helpers", pathlib.Path(__file__).parent.parent / "test_upstream.py")
helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(helpers)

OK = helpers.OK
ERR = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nbusy"


def _addons(doc):
    st = SidecarState()
    st.apply_snapshot(doc)
    return [Routing(st), Forward(st)], st


def _doc(canary, make_rule, port, retry=None, timeout=None, mirror_port=None):
    spec = {"destination": {"name": "benigno"}, "precedence": 1,
            "route": [{"labels": {"version": "v1"}}]}
    if retry:
        spec["httpReqRetries"] = {"simpleRetry": retry}
    if timeout:
        spec["httpReqTimeout"] = {"simpleTimeout": {"timeout": timeout}}
    if mirror_port:
        spec["mirror"] = {"name": "benigno", "labels": {"version": "v2"}}
    return canary(v1_port=port, v2_port=mirror_port or 1,
                  extra_rules=[make_rule("RouteRule", "r", spec)])


def test_retries_recover_from_5xx_and_report_attempts(canary, make_rule, chain, outbound_flow):
    async def scenario():
        server, port, count = await helpers.serve([ERR, ERR, OK])
        addons, st = _addons(_doc(canary, make_rule, port, {"attempts": 3, "perTryTimeout": "1s"}))
        f = await chain(addons).run(outbound_flow())
        assert f.response.status_code == 200 and f.response.content == b"ok"
        assert f.response.headers["x-meshtool-attempts"] == "3"
        assert [s for _, s in f.metadata["meshtool.attempt_log"]] == [503, 503, 200]
        assert st.active == {f"127.0.0.1:{port}": 0}
        server.close()

    asyncio.run(scenario())


def test_without_retries_the_5xx_is_returned(canary, make_rule, chain, outbound_flow):
    async def scenario():
        server, port, _ = await helpers.serve([ERR, OK])
        addons, _ = _addons(_doc(canary, make_rule, port))
        f = await chain(addons).run(outbound_flow())
        assert f.response.status_code == 503 and f.response.headers["x-meshtool-attempts"] == "1"
        server.close()

    asyncio.run(scenario())


def test_timeout_answers_504_and_per_try_timeout_retries(canary, make_rule, chain, outbound_flow):
    async def scenario():
        server, port, _ = await helpers.serve([0.3, OK])
        addons, _ = _addons(_doc(canary, make_rule, port, timeout="100ms"))
        f = await chain(addons).run(outbound_flow())
        assert f.response.status_code == 504
        server.close()
        server, port, _ = await helpers.serve([0.3, OK])
        addons, _ = _addons(_doc(canary, make_rule, port, {"attempts": 1, "perTryTimeout": "50ms"}))
        f = await chain(addons).run(outbound_flow())
        assert f.response.status_code == 200 and f.response.headers["x-meshtool-attempts"] == "2"
        server.close()

    asyncio.run(scenario())


def test_connect_failure_answers_503(canary, make_rule, chain, outbound_flow):
    async def scenario():
        addons, _ = _addons(_doc(canary, make_rule, 1))
        f = await chain(addons).run(outbound_flow())
        assert f.response.status_code == 503
        assert "upstream connect error" in f.response.headers["x-meshtool-error"]

    asyncio.run(scenario())


def test_mirror_sends_a_shadow_copy(canary, make_rule, chain, outbound_flow):
    async def scenario():
        seen = []
        server, port, _ = await helpers.serve([OK])
        shadow, sport, _ = await helpers.serve([OK], seen)
        st = SidecarState()
        st.apply_snapshot(_doc(canary, make_rule, port, mirror_port=sport))
        mirror = Mirror()
        f = await chain([Routing(st), mirror, Forward(st)]).run(outbound_flow())
        assert f.response.status_code == 200
        await asyncio.sleep(0.1)
        assert mirror.sent == 1 and b"host: benigno-shadow" in seen[0]
        server.close()
        shadow.close()

    asyncio.run(scenario())
