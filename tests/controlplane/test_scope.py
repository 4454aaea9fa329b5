"""Per-proxy scope: a real control plane, real DiscoveryClients over WebSockets; the services
come from a workload source (the interface Kubernetes mode fills from EndpointSlices)."""

import asyncio
import json
import urllib.request

from meshtool.controlplane.server import ControlPlane
from meshtool.discovery.client import DiscoveryClient
from meshtool.discovery.protocol import Identity
from meshtool.model.resource import Resource

from tests.controlplane.test_incremental import Endpoints


def services():
    return [{"name": name, "namespace": ns, "ports": [80],
             "endpoints": [{"address": f"10.0.{i}.1", "port": 80, "labels": {}}]}
            for i, (ns, name) in enumerate([("a", "web"), ("a", "api"), ("b", "db"),
                                            ("b", "cache"), ("c", "mail")])]


def names(client):
    return sorted(f"{s['namespace']}/{s['name']}" for s in client.snapshot["services"])


def rules(client):
    return sorted(r["metadata"]["name"] for r in client.snapshot["rules"])


def route(ns, name, dest_ns, dest):
    return Resource("RouteRule", name, ns, {"destination": {"name": dest, "namespace": dest_ns},
                                            "route": [{"labels": {}}]})


def sidecar(ns, name, hosts, selector=None):
    spec = {"egress": [{"hosts": hosts}]}
    if selector:
        spec["workloadSelector"] = {"labels": selector}
    return Resource.from_manifest({"apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
                                   "metadata": {"name": name, "namespace": ns}, "spec": spec})


def virtual_service(ns, name, host, export_to):
    return Resource.from_manifest({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"hosts": [host], "exportTo": export_to,
                 "http": [{"route": [{"destination": {"host": host}}]}]}})


def test_a_proxy_receives_its_namespace_what_rules_name_and_what_a_sidecar_exports():
    async def main():
        cp = ControlPlane(None, debounce=0.001, workloads=Endpoints(services()))
        addr = await cp.start("127.0.0.1", 0)
        cp.set_rules(1, [])
        a = DiscoveryClient(addr, Identity("p.a", "web", namespace="a"), lambda d: None)
        b = DiscoveryClient(addr, Identity("q.b", "db", namespace="b"), lambda d: None)
        for c in (a, b):
            c.start()

        async def settle(revision):
            """Both proxies hold what the control plane intends for them at `revision`."""
            for _ in range(500):
                t = cp.sync_summary()
                if (t["version"] or "").startswith(f"{revision}.") and t["statuses"] == {
                        "SYNCED": 2} and all(c.version == cp.view_for(cp.sessions[pid]).version
                                             for c, pid in ((a, "p.a"), (b, "q.b"))):
                    return
                await asyncio.sleep(0.01)
            raise AssertionError(cp.sync_table())

        await settle(1)
        out = {"default": (names(a), names(b))}
        # a rule of namespace a naming b/db brings b/db to a's proxies (and the rule)
        cp.set_rules(2, [route("a", "to-db", "b", "db")])
        await settle(2)
        out["rule"] = (names(a), rules(a), names(b), rules(b))
        # a VirtualService in c exported to "." only: a does not see it nor c/mail
        cp.set_rules(3, [route("a", "to-db", "b", "db"),
                         virtual_service("c", "mail", "mail.c.svc.cluster.local", ["."])])
        await settle(3)
        out["exportTo"] = (names(a), rules(a))
        # a Sidecar in a exporting c/* to a's proxies
        cp.set_rules(4, [sidecar("a", "default", ["./*", "c/*"])])
        await settle(4)
        out["sidecar"] = (names(a), names(b))
        url = f"http://{addr}/debug/config_dump?proxy=p.a"
        dump = await asyncio.get_running_loop().run_in_executor(
            None, lambda: json.load(urllib.request.urlopen(url, timeout=5)))
        out["dump"] = dump["scope"], sorted(f"{s['namespace']}/{s['name']}"
                                            for s in dump["snapshot"]["services"])
        for c in (a, b):
            await c.stop()
        await cp.stop()
        return out

    out = asyncio.run(main())
    assert out["default"] == (["a/api", "a/web"], ["b/cache", "b/db"])
    assert out["rule"] == (["a/api", "a/web", "b/db"], ["to-db"], ["b/cache", "b/db"], ["to-db"])
    assert out["exportTo"] == (["a/api", "a/web", "b/db"], ["to-db"])
    assert out["sidecar"] == (["a/api", "a/web", "c/mail"], ["b/cache", "b/db"])
    assert out["dump"] == ({"namespace": "a", "hosts": ["./*", "c/*"], "sidecar": "a/default"},
                           ["a/api", "a/web", "c/mail"])
