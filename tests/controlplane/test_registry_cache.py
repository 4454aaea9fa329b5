"""registry.services() is computed once per endpoint change, and always equals a fresh one."""

from meshtool.controlplane.registry import WorkloadRegistry
from meshtool.discovery.protocol import Identity


def ident(pid, svc="benigno", version="v1", inbound="127.0.0.1:7000"):
    return Identity(pid, svc, "default", {"version": version}, inbound, (5000,))


def _fresh(reg: WorkloadRegistry) -> list[dict]:
    reg._services = None
    return reg.services()


def test_services_are_reused_until_the_endpoints_change():
    reg = WorkloadRegistry(lambda: None, grace=0)
    token = reg.register(ident("b1", inbound="127.0.0.1:7001"))
    first = reg.services()
    assert reg.services() is first  # a rule change pushes the same list again
    token = reg.register(ident("b1", inbound="127.0.0.1:7001"))  # the same one reconnecting
    assert reg.services() is first
    reg.register(ident("b2", version="v2", inbound="127.0.0.1:7002"))
    second = reg.services()
    assert second is not first and [e["port"] for e in second[0]["endpoints"]] == [7001, 7002]
    assert second == _fresh(reg)
    reg.register(ident("b2", version="v3", inbound="127.0.0.1:7002"))  # new labels
    assert reg.services()[0]["endpoints"][1]["labels"] == {"version": "v3"}
    reg.unregister("b1", token)  # grace 0: removed at once
    assert [e["port"] for e in reg.services()[0]["endpoints"]] == [7002]
    assert reg.services() == _fresh(reg)
