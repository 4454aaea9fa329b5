import asyncio

from mitmproxy import http

from meshtool.sidecar.addons.circuitbreaker import CircuitBreaker
from meshtool.sidecar.addons.routing import Routing
from meshtool.sidecar.state import SidecarState


async def _request(cb, flow):
    """CircuitBreaker.request returns a coroutine only when the request has to queue."""
    waiting = cb.request(flow)
    if waiting is not None:
        await waiting


def _state(canary, make_rule, cb):
    doc = canary(100, 0, extra_rules=[make_rule("DestinationPolicy", "cb", {
        "destination": {"name": "benigno"}, "circuitBreaker": {"simpleCb": cb}})])
    st = SidecarState()
    st.apply_snapshot(doc)
    return st


def test_overflow_beyond_max_connections_and_pending(canary, make_rule, outbound_flow):
    st = _state(canary, make_rule, {"maxConnections": 1, "httpMaxPendingRequests": 1})
    routing, cb = Routing(st), CircuitBreaker()

    async def scenario():
        flows = [outbound_flow() for _ in range(3)]
        for f in flows:
            routing.request(f)
        assert cb.request(flows[0]) is None  # takes the only slot
        waiting = asyncio.ensure_future(cb.request(flows[1]))  # queues
        await asyncio.sleep(0)
        assert cb.request(flows[2]) is None  # pending queue full
        assert flows[2].response.status_code == 503
        assert flows[2].response.headers["x-meshtool-overflow"] == "httpMaxPendingRequests"
        assert not waiting.done()
        flows[0].response = http.Response.make(200)
        cb.response(flows[0])  # hands its slot on
        await asyncio.wait_for(waiting, 1)
        assert flows[1].response is None
        flows[1].response = http.Response.make(200)
        cb.response(flows[1])
        assert cb.limits["default/cb"].active == 0

    asyncio.run(scenario())


def test_consecutive_errors_eject_then_sleep_window_closes(canary, make_rule, outbound_flow,
                                                          monkeypatch):
    st = _state(canary, make_rule, {"httpConsecutiveErrors": 2, "sleepWindow": "10s"})
    routing, cb = Routing(st), CircuitBreaker()
    now = [1000.0]
    monkeypatch.setattr("meshtool.sidecar.addons.circuitbreaker.time.monotonic", lambda: now[0])

    async def one(status):
        f = outbound_flow()
        routing.request(f)
        await _request(cb, f)
        if f.response is None:
            key = f.metadata["meshtool.endpoints"][0].key
            f.metadata["meshtool.attempt_log"] = [(key, status)]
            f.response = http.Response.make(status)
        cb.response(f)
        return f

    async def scenario():
        assert (await one(500)).response.status_code == 500
        f = await one(500)
        assert f.metadata["meshtool.ejected"] == ["127.0.0.1:5001"]
        f = await one(200)
        assert f.response.status_code == 503
        assert f.response.headers["x-meshtool-overflow"] == "ejected"
        now[0] += 11
        assert (await one(200)).response.status_code == 200

    asyncio.run(scenario())


def test_a_vanished_request_gives_its_slot_back(canary, make_rule, outbound_flow):
    import gc
    st = _state(canary, make_rule, {"maxConnections": 1})
    routing, cb = Routing(st), CircuitBreaker()

    async def scenario():
        f = outbound_flow()
        routing.request(f)
        await _request(cb, f)
        limit = cb.limits["default/cb"]
        assert limit.active == 1
        del f  # no response or error hook ever comes
        gc.collect()
        assert limit.active == 0

    asyncio.run(scenario())
