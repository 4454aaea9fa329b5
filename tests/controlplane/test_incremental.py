"""Incremental push, encode once, bounded sends: a real control plane on a real socket, real
WebSocket clients (DiscoveryClients, or raw aiohttp streams to look at the frames)."""

import asyncio
import json

import aiohttp

from meshtool.controlplane.server import ControlPlane
from meshtool.discovery.client import DiscoveryClient
from meshtool.discovery.protocol import Identity, stream_url
from meshtool.discovery.wire import decode_message
from meshtool.model.resource import Resource


def rule(name, version="v1", dest="svc0"):
    return Resource("RouteRule", name, "default",
                    {"destination": {"name": dest}, "route": [{"labels": {"version": version}}]})


class Endpoints:
    """A workload source (the interface Kubernetes mode fills from EndpointSlices) holding a
    fixed list: a large mesh without thousands of processes."""

    ready = True

    def __init__(self, services):
        self._services = services
        self._changed = None

    def start(self, loop, on_change):
        self._changed = on_change

    def stop(self):
        pass

    def services(self):
        return self._services

    def set(self, services):
        self._services = services
        self._changed()


def mesh(services=3, endpoints=10):
    return [{"name": f"svc{s}", "namespace": "default", "ports": [8080],
             "endpoints": [{"address": f"10.{s}.{i // 250}.{i % 250}", "port": 8080,
                            "labels": {"version": f"v{i % 2 + 1}"}} for i in range(endpoints)]}
            for s in range(services)]


async def raw_stream(session, address, name, accept=("delta", "zlib"), version=None):
    ws = await session.ws_connect(stream_url(address), max_msg_size=0)
    hello = Identity(f"{name}.default", "client").hello()
    hello["accept"] = list(accept)
    if version:
        hello["version"] = version
    await ws.send_str(json.dumps(hello))
    return ws


async def receive(ws, timeout=5.0):
    msg = await ws.receive(timeout=timeout)
    assert msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY), msg
    return msg, decode_message(msg.data)


async def ack(ws, m):
    await ws.send_str(json.dumps({"type": "ack", "version": m["version"], "nonce": m["nonce"]}))


def test_a_rule_write_sends_that_rule_and_an_endpoint_change_that_service():
    async def main():
        source = Endpoints(mesh())
        cp = ControlPlane(None, debounce=0.001, endpoint_debounce=0.001, workloads=source)
        addr = await cp.start("127.0.0.1", 0)
        cp.set_rules(1, [rule("a"), rule("b", dest="svc1")])
        async with aiohttp.ClientSession() as session:
            ws = await raw_stream(session, addr, "raw")
            _, first = await receive(ws)
            assert first["type"] == "delta" and first["base"] is None  # the full state
            assert sorted(first["update"]["services"]["set"]) == [
                "default/svc0", "default/svc1", "default/svc2"]
            await ack(ws, first)

            cp.set_rules(2, [rule("a", "v2"), rule("b", dest="svc1")])
            msg, second = await receive(ws)
            assert second["base"] == first["version"] and second["version"].startswith("2.")
            assert list(second["update"]["rules"]["set"]) == ["RouteRule/default/a"]
            assert second["update"]["services"] == {"set": {}, "remove": []}
            assert len(msg.data) < 1024  # a rule change costs about a rule, not the mesh
            await ack(ws, second)

            services = mesh()
            services[2]["endpoints"] = services[2]["endpoints"][:3]
            source.set(services)
            _, third = await receive(ws)
            assert list(third["update"]["services"]["set"]) == ["default/svc2"]
            assert third["update"]["rules"] == {"set": {}, "remove": []}
            await ack(ws, third)

            cp.set_rules(3, [rule("b", dest="svc1")])
            _, fourth = await receive(ws)
            assert fourth["update"]["rules"] == {"set": {}, "remove": ["RouteRule/default/a"]}
            await ws.close()
        await cp.stop()

    asyncio.run(main())


def test_each_update_is_encoded_once_for_every_proxy():
    async def main():
        cp = ControlPlane(None, debounce=0.001, workloads=Endpoints(mesh()))
        addr = await cp.start("127.0.0.1", 0)
        cp.set_rules(1, [rule("a")])
        clients = [DiscoveryClient(addr, Identity(f"p{i}.default", "svc0"), lambda d: None)
                   for i in range(20)]
        for c in clients:
            c.start()
        for c in clients:
            assert await c.wait_for(lambda c: c.version is not None, 10)
        before = cp.updates.encoded
        cp.set_rules(2, [rule("a", "v2")])
        for c in clients:
            assert await c.wait_for(lambda c: c.version.startswith("2."), 10)
        encoded = cp.updates.encoded - before
        deltas = sum(c.deltas for c in clients)
        for c in clients:
            await c.stop()
        await cp.stop()
        return encoded, deltas

    encoded, deltas = asyncio.run(main())
    assert encoded == 1  # one delta, shared by the twenty
    assert deltas == 40  # each: the full state, then the delta


def test_large_payloads_are_compressed_for_those_who_accept_it_only():
    async def main():
        cp = ControlPlane(None, debounce=0.001, workloads=Endpoints(mesh(4, 500)))
        addr = await cp.start("127.0.0.1", 0)
        cp.set_rules(1, [rule("a")])
        async with aiohttp.ClientSession() as session:
            zipped = await raw_stream(session, addr, "z")
            plain = await raw_stream(session, addr, "p", accept=("delta",))
            old = await raw_stream(session, addr, "o", accept=())
            zmsg, zdoc = await receive(zipped)
            pmsg, pdoc = await receive(plain)
            omsg, odoc = await receive(old)
            for ws in (zipped, plain, old):
                await ws.close()
        await cp.stop()
        return zmsg, zdoc, pmsg, pdoc, omsg, odoc

    zmsg, zdoc, pmsg, pdoc, omsg, odoc = asyncio.run(main())
    assert zmsg.type == aiohttp.WSMsgType.BINARY and pmsg.type == aiohttp.WSMsgType.TEXT
    assert len(zmsg.data) * 5 < len(pmsg.data)
    assert zdoc["update"] == pdoc["update"]
    assert omsg.type == aiohttp.WSMsgType.TEXT and odoc["type"] == "snapshot"
    assert len(odoc["snapshot"]["services"]) == 4 and odoc["version"] == zdoc["version"]


def test_a_stuck_proxy_delays_no_one_and_bytes_in_flight_stay_bounded():
    """A proxy that never reads nor answers: the others sync, and what is unanswered stays
    within the window."""

    async def main():
        source = Endpoints(mesh(4, 1000))
        cp = ControlPlane(None, debounce=0.001, endpoint_debounce=0.001, workloads=source,
                          window=256 * 1024, stall=30.0)
        addr = await cp.start("127.0.0.1", 0)
        cp.set_rules(1, [])
        async with aiohttp.ClientSession() as session:
            stuck = [await raw_stream(session, addr, f"stuck{i}", accept=("delta",))
                     for i in range(3)]  # never read
            clients = [DiscoveryClient(addr, Identity(f"p{i}.default", "svc0"), lambda d: None)
                       for i in range(24)]
            for c in clients:
                c.start()
            peaks = []
            for n in range(3):
                services = mesh(4, 1000)
                services[0]["endpoints"] = services[0]["endpoints"][n:]
                source.set(services)
                await asyncio.sleep(0.01)
                cp._refresh()
                want = cp.view.version
                for c in clients:
                    assert await c.wait_for(lambda c: c.version == want, 20), cp.sync_table()
                    peaks.append(cp.window.used)
            for _ in range(500):  # the last ACKs are on their way
                if cp.window.used <= 3 * 16 * 1024:
                    break
                await asyncio.sleep(0.01)
            stuck_share = cp.window.used
            for c in clients:
                await c.stop()
            for ws in stuck:
                await ws.close()
        await cp.stop()
        return cp.window, stuck_share

    window, stuck_share = asyncio.run(main())
    # each full state is ~150 KB uncompressed, counting for 16 KiB: 16 at a time at most
    assert window.peak <= 256 * 1024 and window.waited > 0
    assert stuck_share == 3 * 16 * 1024  # the stuck proxies' frames, until they stall


def test_a_reconnecting_proxy_gets_a_delta_from_the_version_it_holds():
    async def main():
        cp = ControlPlane(None, debounce=0.001, workloads=Endpoints(mesh()))
        addr = await cp.start("127.0.0.1", 0)
        cp.set_rules(1, [rule("a")])
        c = DiscoveryClient(addr, Identity("p.default", "svc0"), lambda d: None,
                            backoff_initial=0.01)
        c.start()
        assert await c.wait_for(lambda c: c.version is not None, 5)
        await c._ws.close()  # the stream breaks; the proxy keeps its state
        await c.wait_for(lambda c: not c.connected, 5)
        cp.set_rules(2, [rule("a"), rule("b")])
        assert await c.wait_for(lambda c: c.version.startswith("2."), 5)
        await c.stop()
        bytes_sent = cp.bytes_sent
        await cp.stop()
        return c, bytes_sent

    c, _ = asyncio.run(main())
    assert c.connects == 2 and c.deltas == 2 and c.resyncs == 0
    assert [r["metadata"]["name"] for r in c.snapshot["rules"]] == ["a", "b"]


def test_a_delta_on_an_unknown_base_asks_for_the_full_state():
    async def main():
        cp = ControlPlane(None, debounce=0.001, workloads=Endpoints(mesh()))
        addr = await cp.start("127.0.0.1", 0)
        cp.set_rules(1, [rule("a")])
        async with aiohttp.ClientSession() as session:
            ws = await raw_stream(session, addr, "r", version="not-a-version")
            _, first = await receive(ws)  # the version is unknown: the full state
            assert first["base"] is None
            await ack(ws, first)
            cp.set_rules(2, [rule("b")])
            _, second = await receive(ws)
            assert second["base"] == first["version"]
            await ws.send_str(json.dumps({"type": "resync"}))  # lost it: everything again
            _, third = await receive(ws)
            assert third["base"] is None and third["version"] == second["version"]
            await ack(ws, third)
            await ws.close()
        await cp.stop()

    asyncio.run(main())
