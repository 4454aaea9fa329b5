"""The service graph: what the sidecars' metrics say about who calls whom, over a time window.

The control plane scrapes each connected sidecar's /stats/prometheus (meshtool.controlplane.
scrape) and hands the text here. Nodes are services at a version; an edge carries the request
rate, the error rate (5xx and failed exchanges) and the p50/p99 latency of the requests in the
window, from the difference between the newest scrape of each proxy and the oldest one inside
the window (or zero at the proxy's connection, for a proxy seen once). Edges come from the
callers' sidecars (outbound series), so they reach destinations outside the mesh; requests from
outside the mesh are seen by the callee only and start at the node "unknown".
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

UNKNOWN = "unknown"  # the sidecar's label for an end it cannot name (meshtool.sidecar.peer)
REQUESTS = "meshtool_requests_total"
DURATION = "meshtool_request_duration_seconds_bucket"


@dataclass
class Counts:
    """Cumulative counters of one edge (or node) as one proxy reported them."""

    requests: float = 0.0
    errors: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count

    def minus(self, old: "Counts | None") -> "Counts":
        if old is None:
            return self
        return Counts(self.requests - old.requests, self.errors - old.errors,
                      {le: c - old.buckets.get(le, 0.0) for le, c in self.buckets.items()})

    def add(self, other: "Counts") -> None:
        self.requests += other.requests
        self.errors += other.errors
        for le, c in other.buckets.items():
            self.buckets[le] = self.buckets.get(le, 0.0) + c


@dataclass
class Scrape:
    at: float
    edges: dict[tuple[str, str, str, str], Counts]  # (src svc, src ver, dst svc, dst ver)
    nodes: dict[tuple[str, str], Counts]  # what a proxy served (inbound), by (service, version)


def parse(text: str, at: float) -> Scrape:
    """One proxy's exposition -> its counters by edge and by served node. ValueError if the
    text is not the Prometheus format."""
    from prometheus_client.parser import text_string_to_metric_families

    edges: dict[tuple, Counts] = {}
    nodes: dict[tuple, Counts] = {}
    for family in text_string_to_metric_families(text):
        if family.name not in ("meshtool_requests", "meshtool_request_duration_seconds"):
            continue
        for s in family.samples:
            if s.name not in (REQUESTS, DURATION):
                continue
            lb = s.labels
            dst = (lb.get("destination_service", UNKNOWN), lb.get("destination_version", UNKNOWN))
            targets = []
            if lb.get("direction") == "inbound":
                nodes.setdefault(dst, Counts())
                targets.append(nodes[dst])
                src = (lb.get("source_service", UNKNOWN), lb.get("source_version", UNKNOWN))
                if src[0] == UNKNOWN:  # a caller outside the mesh: no sidecar reports this edge
                    targets.append(edges.setdefault((UNKNOWN, "") + dst, Counts()))
            else:
                src = (lb.get("source_service", UNKNOWN), lb.get("source_version", UNKNOWN))
                targets.append(edges.setdefault(src + dst, Counts()))
            for c in targets:
                if s.name == REQUESTS:
                    c.requests += s.value
                    code = lb.get("response_code", "0")
                    if code == "0" or code.startswith("5"):
                        c.errors += s.value
                else:
                    le = math.inf if lb.get("le") == "+Inf" else float(lb.get("le", "inf"))
                    c.buckets[le] = c.buckets.get(le, 0.0) + s.value
    return Scrape(at, edges, nodes)


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus's histogram_quantile: linear within the bucket that holds the q-th request."""
    items = sorted(buckets.items())
    if not items or items[-1][1] <= 0:
        return None
    rank = q * items[-1][1]
    lower_le, lower_count = 0.0, 0.0
    for le, count in items:
        if count >= rank:
            if math.isinf(le):
                return lower_le  # beyond the last finite bucket: its bound is all we know
            if count == lower_count:
                return le
            return lower_le + (le - lower_le) * (rank - lower_count) / (count - lower_count)
        lower_le, lower_count = le, count
    return items[-1][0]


class ServiceGraph:
    """Scrapes of every proxy over `window` seconds, and the graph they add up to."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self.history: dict[str, deque[Scrape]] = {}
        self.connected: dict[str, float] = {}  # proxy -> when its counters were zero

    def record(self, proxy: str, scrape: Scrape, connected_since: float | None = None) -> None:
        ring = self.history.setdefault(proxy, deque())
        ring.append(scrape)
        if connected_since is not None:
            self.connected.setdefault(proxy, connected_since)
        while len(ring) > 2 and ring[1].at <= scrape.at - self.window:
            ring.popleft()  # keep one scrape at or before the window's start

    def forget(self, proxy: str) -> None:
        self.history.pop(proxy, None)
        self.connected.pop(proxy, None)

    def snapshot(self, now: float | None = None) -> dict:
        now = now or time.time()
        edges: dict[tuple, tuple[Counts, float]] = {}
        nodes: dict[tuple, tuple[Counts, float]] = {}
        meshed: set[tuple[str, str]] = set()
        for proxy, ring in self.history.items():
            if not ring:
                continue
            new = ring[-1]
            old = next((s for s in reversed(ring) if s.at <= new.at - self.window), None)
            if old is None:
                old = ring[0] if len(ring) > 1 else None
            base_at = old.at if old is not None else self.connected.get(proxy, new.at)
            seconds = max(new.at - base_at, 1e-3)
            for table, out in ((new.edges, edges), (new.nodes, nodes)):
                before = (old.edges if table is new.edges else old.nodes) if old else {}
                for key, counts in table.items():
                    delta = counts.minus(before.get(key))
                    acc, rps = out.get(key, (Counts(), 0.0))
                    acc.add(delta)
                    # each proxy's rate over its own interval; the proxies of a service add up
                    out[key] = (acc, rps + delta.requests / seconds)
            meshed.update(new.nodes)
        node_ids = {}

        def node(service: str, version: str) -> str:
            nid = f"{service}:{version}" if version and version != UNKNOWN else service
            node_ids.setdefault(nid, {"id": nid, "service": service, "version": version,
                                      "inMesh": (service, version) in meshed})
            return nid

        out_edges = []
        for (ss, sv, ds, dv), (c, rps) in sorted(edges.items()):
            if c.requests <= 0:
                continue
            out_edges.append({"source": node(ss, sv), "destination": node(ds, dv),
                              **_signals(c, rps)})
        for (svc, ver) in sorted(meshed):
            node(svc, ver)
        out_nodes = []
        for nid, n in sorted(node_ids.items()):
            c, rps = nodes.get((n["service"], n["version"]), (Counts(), 0.0))
            out_nodes.append({**n, **_signals(c, rps)})
        return {"window": self.window, "at": now, "nodes": out_nodes, "edges": out_edges}


def _signals(c: Counts, rps: float) -> dict:
    return {"requests": round(c.requests), "rps": round(rps, 3),
            "errorRate": round(c.errors / c.requests, 4) if c.requests > 0 else 0.0,
            "p50": _ms(quantile(0.5, c.buckets)), "p99": _ms(quantile(0.99, c.buckets))}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def to_dot(graph: dict) -> str:
    """Graphviz DOT, as the seed's /dotviz: one node per service version, labelled edges."""
    lines = ["digraph mesh {", "  rankdir=LR;", '  node [shape=box, style=rounded];']
    for n in graph["nodes"]:
        style = "" if n["inMesh"] else ", style=dashed"
        lines.append(f'  "{n["id"]}" [label="{n["id"]}"{style}];')
    for e in graph["edges"]:
        label = f'{e["rps"]:.2f} rps, {e["errorRate"] * 100:.1f}% err'
        if e["p99"] is not None:
            label += f', p99 {e["p99"]:.1f} ms'
        lines.append(f'  "{e["source"]}" -> "{e["destination"]}" [label="{label}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
