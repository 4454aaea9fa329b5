"""The workload registry: connected sidecars are endpoints; a grace period before removal."""

import asyncio

from meshtool.controlplane.registry import WorkloadRegistry
from meshtool.discovery.protocol import Identity


def ident(pid, svc="benigno", version="v1", inbound="127.0.0.1:7000", ports=(5000,)):
    return Identity(pid, svc, "default", {"version": version}, inbound, ports)


def test_services_group_endpoints_sorted():
    reg = WorkloadRegistry(lambda: None)
    reg.register(ident("b2", version="v2", inbound="127.0.0.1:7002"))
    reg.register(ident("b1", inbound="127.0.0.1:7001"))
    reg.register(ident("m1", svc="magnanimo", inbound=None, ports=(4000,)))
    assert reg.services() == [
        {"name": "benigno", "namespace": "default", "ports": [5000], "endpoints": [
            {"address": "127.0.0.1", "port": 7001, "labels": {"version": "v1"}},
            {"address": "127.0.0.1", "port": 7002, "labels": {"version": "v2"}}]},
        {"name": "magnanimo", "namespace": "default", "ports": [4000], "endpoints": []}]


def test_disconnect_removes_after_grace_and_reconnect_cancels():
    changes = []

    async def main():
        reg = WorkloadRegistry(lambda: changes.append(len(reg)), grace=0.1)
        token = reg.register(ident("b1"))
        assert changes == [1]
        reg.unregister("b1", token)
        await asyncio.sleep(0.03)
        assert len(reg) == 1 and changes == [1]  # still there during the grace period
        token2 = reg.register(ident("b1"))  # came back: same identity, no change
        await asyncio.sleep(0.15)
        assert len(reg) == 1 and changes == [1]
        reg.unregister("b1", token)  # a stale token from the old connection: ignored
        await asyncio.sleep(0.15)
        assert len(reg) == 1
        reg.unregister("b1", token2)
        await asyncio.sleep(0.15)
        assert len(reg) == 0 and changes == [1, 0]

    asyncio.run(main())


def test_changed_identity_is_a_change():
    changes = []
    reg = WorkloadRegistry(lambda: changes.append(1))
    reg.register(ident("b1"))
    reg.register(ident("b1", version="v2"))
    assert len(changes) == 2 and reg.generation == 2
