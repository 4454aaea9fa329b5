"""Registrations shared through the file beside the store: control-plane replicas push the whole
mesh, and a restarted control plane pushes the endpoints of its previous run while warming.

Real control-plane processes on real ports, real DiscoveryClients, one real SQLite store.
"""

import asyncio
import json
import subprocess
import sys
import urllib.request

from meshtool.testing.processes import ControlPlaneProcess
from meshtool.controlplane.registrations import registrations_path
from meshtool.discovery.client import DiscoveryClient
from meshtool.discovery.protocol import Identity
from meshtool.model.resource import Resource
from meshtool.store import open_store


def ident(name, port):
    return Identity(proxy_id=f"{name}.default", service=name, labels={"version": "v1"},
                    inbound_address=f"127.0.0.1:{port}", ports=(5000,))


def endpoints(snapshot):
    return {s["name"]: [e["port"] for e in s["endpoints"]] for s in snapshot["services"]}


def intended(cp):
    url = f"http://{cp.address}/debug/config_dump"
    return json.load(urllib.request.urlopen(url, timeout=5))["snapshot"]


def synced(pid, revision=None):
    def check(t):
        p = next((p for p in t["proxies"] if p["proxyId"] == pid), None)
        return p is not None and p["status"] == "SYNCED" and \
            (revision is None or t["version"].startswith(f"{revision}."))
    return check


def test_replicas_on_one_store_push_every_sidecar_and_every_rule(tmp_path):
    store = tmp_path / "store.db"
    with ControlPlaneProcess(store, log=tmp_path / "cp1.log", args=("--id", "cp-a")) as cp1, \
            ControlPlaneProcess(store, log=tmp_path / "cp2.log", args=("--id", "cp-b")) as cp2:
        async def main():
            a = DiscoveryClient(cp1.address, ident("a", 7001), lambda s: None)
            b = DiscoveryClient(cp2.address, ident("b", 7002), lambda s: None)
            a.start(), b.start()
            both = {"a": [7001], "b": [7002]}
            assert await a.wait_for(lambda c: c.snapshot and endpoints(c.snapshot) == both, 10)
            assert await b.wait_for(lambda c: c.snapshot and endpoints(c.snapshot) == both, 10)
            with open_store(str(store)) as s:
                rev = s.create([Resource("RouteRule", "r1", "default", {
                    "destination": {"name": "b"}, "route": [{"labels": {"version": "v1"}}]})])[0]
            await asyncio.to_thread(cp1.wait_for, synced("a.default", rev.revision))
            await asyncio.to_thread(cp2.wait_for, synced("b.default", rev.revision))
            assert a.version == b.version  # the same content, so the same version everywhere
            # proxy-status given one replica finds the other through the shared file
            status = await asyncio.to_thread(subprocess.run, [
                sys.executable, "-m", "meshtool", "proxy-status", "--control-plane", cp1.address],
                capture_output=True, text=True, timeout=30)
            await a.stop(), await b.stop()
            return status

        status = asyncio.run(main())
        assert status.returncode == 0, status.stderr
        lines = status.stdout.splitlines()
        assert "CONTROL PLANE" in lines[0] and len(lines) == 3
        assert lines[1].split()[:6] == ["a.default", "sidecar", "a", "v1", "-", "cp-a"]  # no cluster
        assert lines[2].split()[:6] == ["b.default", "sidecar", "b", "v1", "-", "cp-b"]
        assert all("SYNCED" in line for line in lines[1:])
        table = cp1.sync_table()
        assert sorted(r["address"] for r in table["replicas"]) == sorted([cp1.address, cp2.address])
    assert registrations_path(store).exists()


def test_a_restarted_control_plane_pushes_the_previous_runs_endpoints_while_warming(tmp_path):
    store = tmp_path / "store.db"
    cp = ControlPlaneProcess(store, log=tmp_path / "cp.log", args=("--warmup", "60s")).start()
    again = ControlPlaneProcess(store, cp.port, log=tmp_path / "cp2.log", args=("--warmup", "60s"))
    try:
        async def main():
            a = DiscoveryClient(cp.address, ident("a", 7001), lambda s: None)
            b = DiscoveryClient(cp.address, ident("b", 7002), lambda s: None)
            a.start(), b.start()
            both = {"a": [7001], "b": [7002]}
            assert await a.wait_for(lambda c: c.snapshot and endpoints(c.snapshot) == both, 10)
            await asyncio.to_thread(cp.wait_for, synced("b.default"))
            await asyncio.to_thread(cp.kill)
            await b.stop()  # b is slow to come back
            await asyncio.to_thread(again.start)
            table = await asyncio.to_thread(again.wait_for, synced("a.default"))
            assert table["warming"] == 1
            warm_snapshot = intended(again)
            b = DiscoveryClient(cp.address, ident("b", 7002), lambda s: None)
            b.start()
            table = await asyncio.to_thread(
                again.wait_for, lambda t: t["warming"] == 0 and synced("a.default")(t))
            await a.stop(), await b.stop()
            return warm_snapshot, intended(again)

        warm, done = asyncio.run(main())
    finally:
        cp.stop()
        again.stop()
    # while warming, b's endpoint (of the previous run) is pushed, marked incomplete
    assert endpoints(warm) == {"a": [7001], "b": [7002]} and warm["complete"] is False
    assert endpoints(done) == {"a": [7001], "b": [7002]} and "complete" not in done
    assert "warming: waiting up to 60s for 2 sidecars to reconnect" in (tmp_path / "cp2.log").read_text()


def test_warming_is_bounded_a_sidecar_that_never_returns_is_dropped(tmp_path):
    store = tmp_path / "store.db"
    cp = ControlPlaneProcess(store, log=tmp_path / "cp.log").start()
    again = ControlPlaneProcess(store, cp.port, log=tmp_path / "cp2.log",
                                args=("--warmup", "1s", "--grace", "0s"))
    try:
        async def main():
            a = DiscoveryClient(cp.address, ident("a", 7001), lambda s: None)
            b = DiscoveryClient(cp.address, ident("b", 7002), lambda s: None)
            a.start(), b.start()
            assert await a.wait_for(lambda c: c.snapshot and len(c.snapshot["services"]) == 2, 10)
            await asyncio.to_thread(cp.kill)
            await b.stop()  # b never comes back
            await asyncio.to_thread(again.start)
            assert await a.wait_for(
                lambda c: c.snapshot and endpoints(c.snapshot) == {"a": [7001]}, 10)
            table = again.sync_table()
            await a.stop()
            return a.snapshot, table

        snapshot, table = asyncio.run(main())
    finally:
        cp.stop()
        again.stop()
    assert "complete" not in snapshot and table["warming"] == 0
