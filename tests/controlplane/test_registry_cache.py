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


def _reference(local: dict, others: dict) -> list[dict]:
    """services() written the plain way: every workload grouped again."""
    by_key: dict = {}
    for pid, ident_ in [*local.items(), *((p, i) for p, i in others.items() if p not in local)]:
        svc = by_key.setdefault((ident_.namespace, ident_.service),
                                {"name": ident_.service, "namespace": ident_.namespace,
                                 "ports": set(), "endpoints": []})
        svc["ports"].update(ident_.ports)
        if ident_.inbound_address:
            host, port = ident_.inbound_address.rsplit(":", 1)
            svc["endpoints"].append((host, int(port), pid, {"address": host, "port": int(port),
                                                            "labels": dict(ident_.labels)}))
    return [{**by_key[k], "ports": sorted(by_key[k]["ports"]),
             "endpoints": [e[3] for e in sorted(by_key[k]["endpoints"], key=lambda e: e[:3])]}
            for k in sorted(by_key)]


def test_services_rebuilt_per_service_equal_a_full_rebuild_through_random_changes():
    import random

    from meshtool.controlplane.registrations import Registration, View

    for seed in range(20):
        rng = random.Random(seed)
        reg = WorkloadRegistry(lambda: None, grace=0)
        local, tokens, others = {}, {}, {}

        def random_ident(pid):
            return Identity(pid, rng.choice(["a", "b", "c"]), rng.choice(["default", "x"]),
                            {"version": rng.choice(["v1", "v2"])},
                            rng.choice([None, f"127.0.0.1:{rng.randint(7000, 7003)}"]),
                            (rng.choice([5000, 5001]),))

        for _ in range(60):
            pid = f"p{rng.randint(0, 7)}"
            op = rng.random()
            if op < 0.45:
                local[pid] = random_ident(pid)
                tokens[pid] = reg.register(local[pid])
            elif op < 0.7 and pid in local:
                reg.unregister(pid, tokens.pop(pid))
                del local[pid]
            else:
                others = {p: random_ident(p) for p in rng.sample([f"p{i}" for i in range(8)], 3)}
                reg.apply_view(View({p: Registration(i, 1, "other") for p, i in others.items()},
                                    0, []))
            if rng.random() < 0.5:  # reads between some changes, not all
                assert reg.services() == _reference(local, others), seed
        assert reg.services() == _reference(local, others), seed
