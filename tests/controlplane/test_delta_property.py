"""Incremental push, as a property: whatever the sequence of rule changes, disconnects,
restarts and NACKs, every proxy only ever holds a state the control plane had (one of its
versions, whole), and once the changes stop every proxy converges to the state a proxy would
get from scratch (the old whole-snapshot builder, meshtool.controlplane.snapshot, as oracle).

A real control plane on a real socket, real DiscoveryClients speaking deltas over WebSockets,
all in one event loop so that hypothesis can drive many sequences.
"""

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshtool.controlplane.server import ControlPlane
from meshtool.controlplane.snapshot import build_snapshot
from meshtool.discovery.client import DiscoveryClient
from meshtool.discovery.protocol import Identity
from meshtool.model.resource import Resource

PROXIES = 4
RULES = ["split", "pin", "mirror", "bad", "picky"]  # "bad": every proxy NACKs; "picky": proxy 1


def make_rule(name: str, weight: int) -> Resource:
    route = [{"labels": {"version": "v1"}, "weight": 100 - weight},
             {"labels": {"version": "v2"}, "weight": weight}]
    return Resource("RouteRule", name, "default",
                    {"destination": {"name": f"svc{weight % 2}"},
                     "route": [r for r in route if r["weight"]]})


def identity(i: int) -> Identity:
    return Identity(f"p{i}.default", f"svc{i % 2}", labels={"version": f"v{i % 2 + 1}"},
                    inbound_address=f"127.0.0.1:{31000 + i}", ports=(8080,))


class RecordingControlPlane(ControlPlane):
    """Remembers every state (view) it ever had, by version: the proxies' states must be
    among them."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.seen: dict[str, dict] = {}

    def _refresh(self) -> None:
        super()._refresh()
        if self.view is not None:
            self.seen.setdefault(self.view.version, self.view.document())


rule_sets = st.dictionaries(st.sampled_from(RULES), st.integers(0, 100), max_size=4)
operations = st.lists(st.one_of(
    st.tuples(st.just("rules"), rule_sets),
    st.tuples(st.just("drop"), st.integers(0, PROXIES - 1)),  # the stream breaks; it reconnects
    st.tuples(st.just("restart"), st.integers(0, PROXIES - 1)),  # a new process: holds nothing
    st.tuples(st.just("old"), st.integers(0, PROXIES - 1)),  # restarts as an old sidecar
    st.tuples(st.just("run"), st.integers(0, 3)),  # let the loop run a few turns
), min_size=1, max_size=14)


def normal(doc: dict) -> dict:
    """A document without its version, rules in a fixed order (the oracle sorts them by its own
    key)."""
    rules = sorted(doc["rules"], key=lambda r: (r["kind"], r["metadata"]["namespace"],
                                                r["metadata"]["name"]))
    return {"services": doc["services"], "rules": rules, "complete": doc.get("complete", True)}


async def scenario(ops) -> None:
    cp = RecordingControlPlane(None, debounce=0.001, endpoint_debounce=0.001, grace=0)
    address = await cp.start("127.0.0.1", 0)
    applied: list[tuple[int, str, dict]] = []

    def apply_for(i: int):
        def apply(doc: dict) -> None:
            names = {r["metadata"]["name"] for r in doc["rules"]}
            if "bad" in names or (i == 1 and "picky" in names):
                raise ValueError("rejected by the test proxy")
            applied.append((i, doc["version"], doc))
        return apply

    def client(i: int, old: bool = False) -> DiscoveryClient:
        c = DiscoveryClient(address, identity(i), apply_for(i), backoff_initial=0.01,
                            backoff_cap=0.05, accept=() if old else ("delta", "zlib"))
        c.start()
        return c

    clients = [client(i) for i in range(PROXIES)]
    revision = 1
    try:
        cp.set_rules(revision, [])
        for op, arg in ops:
            if op == "rules":
                revision += 1
                cp.set_rules(revision, [make_rule(n, w) for n, w in arg.items()])
            elif op == "drop":
                ws = clients[arg]._ws
                if ws is not None:
                    await ws.close()
            elif op in ("restart", "old"):
                await clients[arg].stop()
                clients[arg] = client(arg, old=op == "old")
            for _ in range(arg if op == "run" else 1):
                await asyncio.sleep(0)
        # The end: rules every proxy accepts, then wait for everyone to hold them.
        revision += 1
        cp.set_rules(revision, [make_rule("split", 30), make_rule("pin", 1)])

        def synced() -> bool:
            t = cp.sync_summary()
            return t["proxies"] == PROXIES and t["statuses"] == {"SYNCED": PROXIES}

        for _ in range(1000):
            if synced() and all(c.version == cp.view_for(cp.sessions[c.identity.proxy_id]).version
                                for c in clients):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(f"not converged: {cp.sync_table()}")

        # Every state a proxy ever applied was one of the control plane's, whole.
        for i, version, doc in applied:
            assert version in cp.seen, (i, version)
            assert doc == cp.seen[version], (i, version)
        # ... and now each holds what it would get from scratch.
        oracle = json.loads(build_snapshot(revision, cp.rules.values(),
                                           cp.registry.services()).json)
        for c in clients:
            assert normal(c.snapshot) == normal(oracle), c.identity.proxy_id
    finally:
        for c in clients:
            await c.stop()
        await cp.stop()


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_every_proxy_converges_to_the_state_from_scratch(ops):
    asyncio.run(asyncio.wait_for(scenario(ops), 60))
