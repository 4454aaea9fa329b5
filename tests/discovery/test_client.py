"""DiscoveryClient against a real control plane process (and a misbehaving test server)."""

import asyncio
import json
import random

import aiohttp
import pytest
from aiohttp import web

from meshtool.testing.processes import ControlPlaneProcess
from meshtool.discovery.client import DiscoveryClient, backoff_delay
from meshtool.discovery.protocol import Identity


def ident(name="c1", **kw):
    return Identity(proxy_id=f"{name}.default", service="svc", labels={"version": "v1"}, **kw)


def proxy(table, pid):
    return next((p for p in table["proxies"] if p["proxyId"] == pid), None)


@pytest.fixture
def cp(tmp_path):
    with ControlPlaneProcess(tmp_path / "store.db", log=tmp_path / "cp.log") as proc:
        yield proc


def test_snapshot_is_applied_and_acked(cp):
    applied = []

    async def main():
        client = DiscoveryClient(cp.address, ident(inbound_address="127.0.0.1:7001"),
                                 applied.append)
        client.start()
        assert await client.wait_for(lambda c: c.version is not None, 10)
        table = await asyncio.to_thread(
            cp.wait_for, lambda t: (proxy(t, "c1.default") or {}).get("status") == "SYNCED")
        await client.stop()
        return client, table

    client, table = asyncio.run(main())
    assert len(applied) == 1 and applied[0] is client.snapshot
    assert client.snapshot["version"] == client.version == table["version"]
    # local mode: the client's own workload is an endpoint of its service
    assert client.snapshot["services"] == [
        {"name": "svc", "namespace": "default", "ports": [],
         "endpoints": [{"address": "127.0.0.1", "port": 7001, "labels": {"version": "v1"}}]}]


def test_value_error_is_a_nack_with_its_text_and_nothing_is_kept(cp):
    def reject(snapshot):
        raise ValueError("rules[0] RouteRule/default/x: no subset v3")

    async def main():
        client = DiscoveryClient(cp.address, ident("c2"), reject)
        client.start()
        table = await asyncio.to_thread(
            cp.wait_for, lambda t: (proxy(t, "c2.default") or {}).get("status") == "ERROR")
        await client.stop()
        return client, table

    client, table = asyncio.run(main())
    entry = proxy(table, "c2.default")
    assert entry["nacked"]["error"] == "rules[0] RouteRule/default/x: no subset v3"
    assert client.snapshot is None and client.last_reply.type == "nack"


def test_keeps_last_snapshot_while_control_plane_is_gone_and_resyncs(cp, tmp_path):
    async def main():
        client = DiscoveryClient(cp.address, ident("c3"), lambda s: None, backoff_cap=0.5)
        client.start()
        assert await client.wait_for(lambda c: c.version is not None, 10)
        before = client.version, client.snapshot
        cp.kill()
        assert await client.wait_for(lambda c: not c.connected, 5)
        await asyncio.sleep(0.5)  # several failed reconnects
        assert (client.version, client.snapshot) == before  # still serving the last snapshot
        assert client.connects == 1
        cp.start()
        table = await asyncio.to_thread(  # warm: its sidecar of the previous run is back
            cp.wait_for, lambda t: t["warming"] == 0
            and (proxy(t, "c3.default") or {}).get("status") == "SYNCED")
        await client.stop()
        return client, before, table

    client, before, table = asyncio.run(main())
    assert client.connects == 2
    # the same store and registry give the same content, hence the same version
    assert table["version"] == before[0] == client.version


def test_backoff_grows_to_its_cap_with_jitter():
    rng = random.Random(1)
    delays = [backoff_delay(n, 0.1, 5.0, rng) for n in range(12)]
    for n, d in enumerate(delays):
        ceiling = min(5.0, 0.1 * 2 ** n)
        assert ceiling / 2 <= d <= ceiling
    assert max(delays) <= 5.0 and delays[-1] >= 2.5
    assert len({round(backoff_delay(3, 0.1, 5.0, rng), 6) for _ in range(20)}) > 1  # jitter


async def _bad_server(send):
    """A server on a real socket that sends `send` messages and records replies."""
    replies, hellos = [], []

    async def stream(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        hellos.append(json.loads((await ws.receive()).data))
        for text in send:
            await ws.send_str(text)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                replies.append(json.loads(msg.data))
        return ws

    app = web.Application()
    app.router.add_get("/v1/stream", stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"127.0.0.1:{port}", replies, hellos


def test_malformed_message_closes_the_stream_and_the_client_reconnects():
    async def main():
        runner, addr, replies, hellos = await _bad_server(["not json"])
        client = DiscoveryClient(addr, ident("c4"), lambda s: None, backoff_initial=0.01)
        client.start()
        assert await client.wait_for(lambda c: c.connects >= 2, 5)
        await client.stop()
        await runner.cleanup()
        return client, replies, hellos

    client, replies, hellos = asyncio.run(main())
    assert replies == [] and hellos[0]["proxyId"] == "c4.default"
    assert client.snapshot is None


def test_a_bug_in_apply_is_a_nack_not_a_crash():
    snap = json.dumps({"type": "snapshot", "version": "1.a", "nonce": "n1",
                       "snapshot": {"version": "1.a", "services": [], "rules": []}})

    def buggy(snapshot):
        return snapshot["missing"]

    async def main():
        runner, addr, replies, _ = await _bad_server([snap])
        client = DiscoveryClient(addr, ident("c5"), buggy)
        client.start()
        assert await client.wait_for(lambda c: c.last_reply is not None, 5)
        await client.stop()
        await runner.cleanup()
        return replies

    replies = asyncio.run(main())
    assert replies[0]["type"] == "nack" and replies[0]["nonce"] == "n1"
    assert replies[0]["error"].startswith("internal error: KeyError")


def test_async_apply_is_awaited_before_the_ack():
    snap = json.dumps({"type": "snapshot", "version": "2.b", "nonce": "n2",
                       "snapshot": {"version": "2.b", "services": [], "rules": []}})
    done = []

    async def slow_apply(snapshot):
        await asyncio.sleep(0.05)
        done.append(snapshot["version"])

    async def main():
        runner, addr, replies, _ = await _bad_server([snap])
        client = DiscoveryClient(addr, ident("c6"), slow_apply)
        client.start()
        assert await client.wait_for(lambda c: c.last_reply is not None, 5)
        await asyncio.sleep(0.05)
        await client.stop()
        await runner.cleanup()
        return replies

    replies = asyncio.run(main())
    assert done == ["2.b"] and replies == [{"type": "ack", "version": "2.b", "nonce": "n2"}]


def _snap(version, nonce, services, complete=True):
    doc = {"version": version, "services": services, "rules": []}
    if not complete:
        doc["complete"] = False
    return json.dumps({"type": "snapshot", "version": version, "nonce": nonce, "snapshot": doc})


def _svc(name, *ports):
    return {"name": name, "namespace": "default", "ports": [5000],
            "endpoints": [{"address": "127.0.0.1", "port": p, "labels": {}} for p in ports]}


def test_an_incomplete_snapshot_never_takes_endpoints_away():
    """A warming control plane's snapshot (`complete: false`) lacking a service's endpoints: the
    proxy keeps those it had; the next complete snapshot is taken as it is."""
    applied = []
    sends = [_snap("1.a", "n1", [_svc("a", 7001), _svc("b", 7002), _svc("c", 7003)]),
             _snap("1.b", "n2", [_svc("a", 7009), _svc("b")], complete=False),
             _snap("1.c", "n3", [_svc("a", 7009), _svc("b")])]

    async def main():
        runner, addr, replies, _ = await _bad_server(sends)
        client = DiscoveryClient(addr, ident("c7"), applied.append)
        client.start()
        assert await client.wait_for(lambda c: c.version == "1.c", 5)
        await client.stop()
        await runner.cleanup()

    asyncio.run(main())
    eps = [{s["name"]: [e["port"] for e in s["endpoints"]] for s in doc["services"]}
           for doc in applied]
    assert eps == [{"a": [7001], "b": [7002], "c": [7003]},
                   {"a": [7009], "b": [7002], "c": [7003]},  # kept b's and c's
                   {"a": [7009], "b": []}]


def test_several_addresses_the_client_moves_to_the_next_when_one_is_gone(tmp_path):
    """Two control-plane replicas on one store: the client follows the first; killed, the
    client is served by the second within a second."""
    store = tmp_path / "store.db"
    with ControlPlaneProcess(store, log=tmp_path / "cp1.log") as cp1, \
            ControlPlaneProcess(store, log=tmp_path / "cp2.log") as cp2:
        async def main():
            client = DiscoveryClient(f"{cp1.address}, {cp2.address}", ident("c8"),
                                     lambda s: None)
            client.start()
            assert await client.wait_for(lambda c: c.version is not None, 10)
            assert client.address == cp1.address
            await asyncio.to_thread(cp1.kill)
            loop = asyncio.get_running_loop()
            killed = loop.time()
            table = await asyncio.to_thread(
                cp2.wait_for, lambda t: (proxy(t, "c8.default") or {}).get("status") == "SYNCED")
            moved = loop.time() - killed
            await client.stop()
            return client, table, moved

        client, table, moved = asyncio.run(main())
    assert client.address == cp2.address and client.connects == 2
    assert moved < 1.5, f"resynced on the other replica {moved:.2f}s after the kill"
