"""The control plane as a real process with simulated proxies on real sockets."""

import asyncio
import json
import os
import signal
import urllib.request

import aiohttp
import pytest

from meshtool.testing.processes import ControlPlaneProcess, SimulatedFleet, free_port
from meshtool.controlplane.server import ControlPlane
from meshtool.discovery.client import DiscoveryClient
from meshtool.discovery.protocol import Identity
from meshtool.model.resource import Resource
from meshtool.store import open_store


def rule(name, version="v1", dest="sim-svc0"):
    return Resource("RouteRule", name, "default",
                    {"destination": {"name": dest}, "route": [{"labels": {"version": version}}]})


def fleet_of(table, prefix):
    return [p for p in table["proxies"] if p["proxyId"].startswith(prefix + "-")]


def all_synced(prefix, count, revision=None):
    def check(t):
        ps = fleet_of(t, prefix)
        return (len(ps) == count and all(p["status"] == "SYNCED" for p in ps)
                and (revision is None or t["version"].startswith(f"{revision}.")))
    return check


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "store.db"


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One control plane for the tests that leave it running (each uses its own proxies)."""
    tmp = tmp_path_factory.mktemp("cp")
    with ControlPlaneProcess(tmp / "store.db", log=tmp / "cp.log") as proc:
        yield proc, tmp / "store.db"


@pytest.fixture
def cp(shared):
    return shared[0]


@pytest.fixture
def shared_store(shared):
    return shared[1]


@pytest.fixture
def own_cp(store_path, tmp_path):
    with ControlPlaneProcess(store_path, log=tmp_path / "cp.log") as proc:
        yield proc


def intended(cp, proxy):
    url = f"http://{cp.address}/debug/config_dump?proxy={proxy}"
    return json.load(urllib.request.urlopen(url, timeout=5))


def test_create_replace_delete_reach_every_proxy(cp, shared_store, tmp_path):
    with SimulatedFleet(cp.address, 5, prefix="a", log=tmp_path / "fleet.log"), \
            open_store(str(shared_store)) as store:
        cp.wait_for(all_synced("a", 5))
        created = store.create([rule("r1")])[0]
        t = cp.wait_for(all_synced("a", 5, created.revision))
        assert [r["metadata"]["name"] for r in intended(cp, "a-0.default")["snapshot"]["rules"]] \
            == ["r1"]
        replaced = store.replace([rule("r1", "v2")])[0]
        t = cp.wait_for(all_synced("a", 5, replaced.revision))
        spec = intended(cp, "a-3.default")["snapshot"]["rules"][0]["spec"]
        assert spec["route"] == [{"labels": {"version": "v2"}}]
        deleted = store.delete([("RouteRule", "default", "r1")])[0]
        t = cp.wait_for(all_synced("a", 5, deleted.revision))
        assert intended(cp, "a-1.default")["snapshot"]["rules"] == []
        assert {p["acked"]["version"] for p in fleet_of(t, "a")} == {t["version"]}


def test_not_sent_then_synced(store_path, tmp_path):
    # A long coalescing window holds the first push, so NOT SENT is observable.
    with ControlPlaneProcess(store_path, args=("--debounce", "2s", "--endpoint-debounce", "2s"),
                             log=tmp_path / "cp.log") as cp:
        seen: dict[str, list[str]] = {}

        def record(t):
            for p in fleet_of(t, "b"):
                statuses = seen.setdefault(p["proxyId"], [])
                if not statuses or statuses[-1] != p["status"]:
                    statuses.append(p["status"])
            return all_synced("b", 1)(t)

        with SimulatedFleet(cp.address, 1, prefix="b").start(wait=False):
            cp.wait_for(record, 30)
        # a poll may land between the send and its ACK and see STALE for a moment; nothing else
        assert list(seen) == ["b-0.default"]
        assert seen["b-0.default"] in (["NOT SENT", "SYNCED"], ["NOT SENT", "STALE", "SYNCED"])


def test_stale_while_a_proxy_is_paused_then_synced(cp, shared_store):
    with SimulatedFleet(cp.address, 2, prefix="c") as fleet, open_store(str(shared_store)) as store:
        cp.wait_for(all_synced("c", 2))
        fleet.pause()
        try:
            rev = store.create([rule("r-stale")])[0].revision
            # sent to both, acknowledged by neither
            t = cp.wait_for(lambda t: t["version"].startswith(f"{rev}.") and all(
                (p.get("sent") or {}).get("version") == t["version"] for p in fleet_of(t, "c")))
            assert {p["status"] for p in fleet_of(t, "c")} == {"STALE"}
        finally:
            fleet.resume()
        cp.wait_for(all_synced("c", 2, rev))


def test_nack_shows_error_with_the_reason_until_fixed(cp, shared_store):
    with SimulatedFleet(cp.address, 2, prefix="d", nack_rule="bad"), \
            open_store(str(shared_store)) as store:
        cp.wait_for(all_synced("d", 2))
        store.create([rule("bad")])
        t = cp.wait_for(lambda t: {p["status"] for p in fleet_of(t, "d")} == {"ERROR"})
        for p in fleet_of(t, "d"):
            assert "RouteRule/bad: rejected by the simulated proxy" in p["nacked"]["error"]
            assert p["acked"]["version"] != t["version"]  # still on the old snapshot
        rev = store.delete([("RouteRule", "default", "bad")])[0].revision
        cp.wait_for(all_synced("d", 2, rev))


def test_restart_resynchronises_every_proxy(own_cp, store_path, tmp_path):
    cp = own_cp
    with SimulatedFleet(cp.address, 4, prefix="e"), open_store(str(store_path)) as store:
        rev = store.create([rule("r-restart")])[0].revision
        before = cp.wait_for(all_synced("e", 4, rev))
        cp.kill()
        rev2 = store.create([rule("r-while-down")])[0].revision  # written while it is down
        cp.start()
        after = cp.wait_for(all_synced("e", 4, rev2), 15)
        assert after["controlPlane"] != before["controlPlane"]  # a new process
        assert all(p["acked"]["version"] == after["version"] for p in fleet_of(after, "e"))


def test_endpoints_follow_sidecars_with_a_grace_period(store_path, tmp_path):
    with ControlPlaneProcess(store_path, args=("--grace", "300ms"),
                             log=tmp_path / "cp.log") as cp, \
            SimulatedFleet(cp.address, 2, prefix="f", services=1, inbound_base=21000):
        with SimulatedFleet(cp.address, 2, prefix="g", services=1, inbound_base=22000) as g:
            t = cp.wait_for(all_synced("f", 2))
            ports = lambda: sorted(ep["port"] for s in intended(cp, "f-0.default")["snapshot"]
                                   ["services"] for ep in s["endpoints"])
            cp.wait_for(lambda t: ports() == [21000, 21001, 22000, 22001])
            g.kill()
        # right after the disconnect the endpoints are still there (grace), then they go
        assert ports() == [21000, 21001, 22000, 22001]
        cp.wait_for(lambda t: ports() == [21000, 21001] and all_synced("f", 2)(t), 10)


def test_a_burst_of_changes_is_one_push():
    """In-process: a hundred rule changes in one go become one snapshot per proxy."""

    async def main():
        cp = ControlPlane(None, debounce=0.02)
        addr = await cp.start("127.0.0.1", free_port())
        seen = []
        client = DiscoveryClient(addr, Identity("p.default", "svc"),
                                 lambda s: seen.append(s["version"]))
        client.start()
        assert await client.wait_for(lambda c: c.version is not None, 5)
        for i in range(100):
            cp.set_rules(i + 1, [rule(f"r{j}") for j in range(i + 1)])
        assert await client.wait_for(lambda c: c.version.startswith("100."), 5)
        await asyncio.sleep(0.1)
        await client.stop()
        await cp.stop()
        return seen, cp.pushes

    seen, pushes = asyncio.run(main())
    assert len(seen) == 2 and seen[1].startswith("100.")
    assert pushes == 2


def test_writes_made_while_the_control_plane_is_busy_are_one_push(cp, shared_store):
    # The 20 writes land while the control plane cannot run (SIGSTOP: as if busy), so they are
    # one burst however slow the machine is: it must catch up in one push, not replay twenty.
    with SimulatedFleet(cp.address, 2, prefix="h"), open_store(str(shared_store)) as store:
        t0 = cp.wait_for(all_synced("h", 2))
        os.kill(cp.proc.pid, signal.SIGSTOP)
        try:
            for i in range(20):
                rev = store.create([rule(f"burst-{i}")])[0].revision
        finally:
            os.kill(cp.proc.pid, signal.SIGCONT)
        t1 = cp.wait_for(all_synced("h", 2, rev))
        pushes = [p["pushes"] - q["pushes"] for p, q in zip(fleet_of(t1, "h"), fleet_of(t0, "h"))]
        assert max(pushes) <= 2, pushes


def test_bad_hello_is_refused(cp):
    import aiohttp

    async def main():
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(f"ws://{cp.address}/v1/stream") as ws:
                await ws.send_str(json.dumps({"type": "hello", "service": "x"}))
                msg = await ws.receive(timeout=5)
                return msg, ws.close_code

    msg, code = asyncio.run(main())
    assert code == 1003 and "proxyId" in (msg.extra or "")
    assert cp.sync_table()["proxies"] == []


def test_unknown_proxy_config_dump_is_404(cp):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as err:
        intended(cp, "nobody")
    assert err.value.code == 404


def test_summary_counts_statuses(cp):
    with SimulatedFleet(cp.address, 3, prefix="s"):
        t = cp.wait_for(lambda t: t["statuses"].get("SYNCED", 0) >= 3, summary=True)
    assert set(t) >= {"controlPlane", "version", "proxies", "statuses", "lastAck"}
    assert t["lastAck"] and sum(t["statuses"].values()) == t["proxies"]


def test_a_second_stream_with_the_same_proxy_id_replaces_the_first():
    hello = json.dumps(Identity("dup.default", "svc").hello())

    async def main():
        cp = ControlPlane(None)
        addr = await cp.start("127.0.0.1", free_port())
        async with aiohttp.ClientSession() as s:
            first = await s.ws_connect(f"ws://{addr}/v1/stream")
            await first.send_str(hello)
            assert json.loads((await first.receive(timeout=5)).data)["type"] == "snapshot"
            second = await s.ws_connect(f"ws://{addr}/v1/stream")
            await second.send_str(hello)
            assert json.loads((await second.receive(timeout=5)).data)["type"] == "snapshot"
            closed = await first.receive(timeout=5)
            table = cp.sync_table()
            await second.close()
        await cp.stop()
        return closed, table

    closed, table = asyncio.run(main())
    assert closed.type == aiohttp.WSMsgType.CLOSE
    assert closed.data == 1000 and "replaced" in (closed.extra or "")
    assert [p["proxyId"] for p in table["proxies"]] == ["dup.default"]


def test_garbage_after_hello_closes_that_stream_only(cp):
    async def main():
        async with aiohttp.ClientSession() as s:
            good = await s.ws_connect(f"ws://{cp.address}/v1/stream")
            await good.send_str(json.dumps(Identity("good.default", "svc").hello()))
            await good.receive(timeout=5)
            results = []
            for garbage in ("not json", "[]", '{"type": "ack"}', '{"type": "nack", "version": '
                            '"1", "nonce": "n"}', '{"type": "hello", "proxyId": "x"}'):
                bad = await s.ws_connect(f"ws://{cp.address}/v1/stream")
                await bad.send_str(json.dumps(Identity("bad.default", "svc").hello()))
                await bad.receive(timeout=5)  # its snapshot
                await bad.send_str(garbage)
                msg = await bad.receive(timeout=5)
                results.append((msg.type, msg.data))
            table = await asyncio.to_thread(cp.sync_table)
            await good.close()
            return results, table

    results, table = asyncio.run(main())
    assert results == [(aiohttp.WSMsgType.CLOSE, 1003)] * 5
    ids = [p["proxyId"] for p in table["proxies"]]
    assert "good.default" in ids and "bad.default" not in ids


def test_a_damaged_or_invalid_row_is_left_out_and_reported_once_the_rest_served(
        store_path, tmp_path):
    """A store with a row edited by hand into something that is not JSON, and one whose weights
    sum to 70: both are skipped (listed in the sync table, logged once), the rest is served."""
    import sqlite3

    with open_store(str(store_path)) as store:
        store.create([rule("good"), rule("damaged"), Resource("RouteRule", "sum", "default", {
            "destination": {"name": "sim-svc0"},
            "route": [{"labels": {"version": "v1"}, "weight": 50},
                      {"labels": {"version": "v2"}, "weight": 20}]})])
    with sqlite3.connect(store_path) as db:
        db.execute("UPDATE objects SET body = '{\"spec\": [1, 2' WHERE name = 'damaged'")
    with ControlPlaneProcess(store_path, log=tmp_path / "cp.log") as cp, \
            SimulatedFleet(cp.address, 1, prefix="g"), open_store(str(store_path)) as store:
        t = cp.wait_for(lambda t: all_synced("g", 1)(t) and len(t["invalid"]) == 2)
        by_name = {i["name"]: i["problems"] for i in t["invalid"]}
        assert by_name["sum"] == ["spec.route[1].weight: weights sum to 70, must be 100"]
        assert by_name["damaged"][0].startswith("the stored row is damaged (")
        assert [r["metadata"]["name"] for r in intended(cp, "g-0.default")["snapshot"]["rules"]] \
            == ["good"]
        # Later changes are served; the two are not reported again.
        rev = store.create([rule("later")])[0].revision
        t = cp.wait_for(all_synced("g", 1, rev))
        assert len(t["invalid"]) == 2
        assert sorted(r["metadata"]["name"] for r in intended(cp, "g-0.default")
                      ["snapshot"]["rules"]) == ["good", "later"]
    log = (tmp_path / "cp.log").read_text()
    assert log.count("route-rule/default/sum is invalid") == 1, log
    assert log.count("route-rule/default/damaged is invalid") == 1, log


def test_virtual_service_waits_for_its_destination_rule_and_says_why(cp, shared_store, tmp_path):
    """VS and DR stored separately (VS first): the route is left out, reported in the debug
    endpoint, goes live when the DR arrives and is left out again when the DR is deleted."""
    vs = Resource.from_manifest({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "sim-svc1"},
        "spec": {"hosts": ["sim-svc1"],
                 "http": [{"route": [{"destination": {"host": "sim-svc1", "subset": "v2"}}]}]}})
    dr = Resource.from_manifest({
        "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
        "metadata": {"name": "sim-svc1"},
        "spec": {"host": "sim-svc1", "subsets": [{"name": "v2", "labels": {"version": "v2"}}]}})

    def routes(dump):
        return [r for r in dump["snapshot"]["rules"] if r["metadata"]["name"] == "sim-svc1"]

    with SimulatedFleet(cp.address, 1, prefix="vs", log=tmp_path / "fleet.log"), \
            open_store(str(shared_store)) as store:
        rev = store.create([vs])[0].revision
        cp.wait_for(all_synced("vs", 1, rev))
        dump = intended(cp, "vs-0.default")
        assert routes(dump) == []
        [left] = [u for u in dump["leftOut"]["unresolved"] if u["name"] == "sim-svc1"]
        assert "needs the DestinationRule" in left["reasons"][0]
        rev = store.create([dr])[0].revision
        cp.wait_for(all_synced("vs", 1, rev))
        [route] = routes(intended(cp, "vs-0.default"))
        assert route["spec"]["route"] == [{"labels": {"version": "v2"}}]
        rev = store.delete([dr.key])[0].revision
        cp.wait_for(all_synced("vs", 1, rev))
        dump = intended(cp, "vs-0.default")
        assert routes(dump) == [] and any(u["name"] == "sim-svc1"
                                          for u in dump["leftOut"]["unresolved"])
        store.delete([vs.key])
